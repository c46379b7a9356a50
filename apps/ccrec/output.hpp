// output: how the ccrec subcommands print for people and scripts: times,
// failures and --json listings, worded the same in every command.
//
// Main thread only: they write to standard output and standard error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace ccrec::app {

// `ms` since the epoch as a UTC time, e.g. "2026-12-04T09:30:00Z".
std::string utc_time(std::int64_t ms);

// Prints "ccrec <command>: <message>" on standard error and returns
// `exit_code`, so a command can end with `return print_failure(...)`.
int print_failure(const std::string& command, const error& err, int exit_code);

// A JSON array with one element per row, each from `to_json(row)`.
template <class Rows, class ToJson>
nlohmann::json json_array(const Rows& rows, ToJson&& to_json) {
  auto out = nlohmann::json::array();
  for (const auto& row : rows)
    out.push_back(to_json(row));
  return out;
}

// Prints `j` indented by two, as every --json option does.
void print_json(const nlohmann::json& j);

// Prints a table for people: each column as wide as its widest cell (ids
// and paths vary in length, so no fixed width fits), two spaces between
// columns, the last column unpadded.
using table_row = std::vector<std::string>;
void print_table(const table_row& headers, const std::vector<table_row>& rows);

}  // namespace ccrec::app
