#include "apps/ccrec/output.hpp"

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

}  // namespace ccrec::app
