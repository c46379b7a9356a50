// load_cli: the `load` subcommand of ccrec-pbxsim (options, run, output).
//
// add_load_command() declares the subcommand and its options on the CLI11
// app; run_load_command() runs it after parsing and returns the process exit
// code: 0 when every call was recorded and no packet was lost (or, without
// a database to read, none was seen dropped), 1 otherwise, 2 bad usage.
// The summary goes to `out`, live progress and logs to stderr.
#pragma once

#include <iosfwd>
#include <string>

#include <CLI/CLI.hpp>

#include "simulators/load.hpp"

namespace ccrec::pbxsim {

struct load_cli_args {
  load_options options;
  std::string codec = "pcmu";
  std::string result_file;
  std::string plot_file;
  std::string log_level = "warn";
};

CLI::App* add_load_command(CLI::App& app, load_cli_args& args);

int run_load_command(load_cli_args& args, std::ostream& out);

}  // namespace ccrec::pbxsim
