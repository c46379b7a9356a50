// The ccrec subcommands. Each registers its options on the CLI and returns
// the function that runs it (exit code).
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace ccrec::app {

using command_fn = std::function<int()>;

command_fn add_serve(CLI::App& app);
command_fn add_verify(CLI::App& app);
command_fn add_play(CLI::App& app);
command_fn add_recordings(CLI::App& app);
command_fn add_keys(CLI::App& app);
command_fn add_transcode(CLI::App& app);
command_fn add_report(CLI::App& app);
command_fn add_encrypt_existing(CLI::App& app);
command_fn add_status(CLI::App& app);

}  // namespace ccrec::app
