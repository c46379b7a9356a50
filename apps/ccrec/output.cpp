#include "apps/ccrec/output.hpp"

#include <algorithm>
#include <ctime>
#include <iostream>

namespace ccrec::app {

namespace {

constexpr std::int64_t ms_per_second = 1000;
constexpr std::size_t utc_time_bytes = 32;

}  // namespace

std::string utc_time(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / ms_per_second);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[utc_time_bytes];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int print_failure(const std::string& command, const error& err, int exit_code) {
  std::cerr << "ccrec " << command << ": " << err.message << "\n";
  return exit_code;
}

void print_json(const nlohmann::json& j) {
  std::cout << j.dump(2) << "\n";
}

namespace {

constexpr std::size_t column_gap = 2;

void print_row(const table_row& row, const std::vector<std::size_t>& widths) {
  std::string line;
  for (std::size_t c = 0; c < row.size(); ++c) {
    line += row[c];
    if (c + 1 < row.size())
      line.append(widths[c] + column_gap - row[c].size(), ' ');
  }
  std::cout << line << "\n";
}

}  // namespace

void print_table(const table_row& headers, const std::vector<table_row>& rows) {
  std::vector<std::size_t> widths(headers.size(), 0);
  auto widen = [&widths](const table_row& row) {
    for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c)
      widths[c] = std::max(widths[c], row[c].size());
  };
  widen(headers);
  for (const auto& row : rows)
    widen(row);

  print_row(headers, widths);
  for (const auto& row : rows)
    print_row(row, widths);
}

}  // namespace ccrec::app
