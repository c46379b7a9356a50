// cli: the ccrec-pbxsim command line, as a function so tests can run it.
//
//   ccrec-pbxsim replay --cti ENDPOINT [--speed X] [--stagger MS] [--manifest FILE] PCAP...
//   ccrec-pbxsim synth  --cti ENDPOINT --calls N --duration SECONDS [--concurrency C]
//                       [--codec pcmu|pcma] [--seed S] [--manifest FILE]
//   ccrec-pbxsim load   --cti ENDPOINT --calls N --duration SECONDS [--hold S] [--ramp S]
//                       [--rate R] [--engine-pid PID] [--data-dir DIR | --db URI]
//                       [--result FILE.json] [--plot FILE.svg]   (see load_cli.hpp)
//
// Prints one line per call to `out` as it ends; logs go to stderr.
// Returns the process exit code: 0 every event acked ok, 1 an event was
// refused or timed out (or media could not be sent), 2 bad usage or an
// unreadable capture. Not re-entrant: it sets the process's default logger.
#pragma once

#include <iosfwd>

namespace ccrec::pbxsim {

inline constexpr int exit_ok = 0;
inline constexpr int exit_engine_failed = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_check_failed = 3;  // `check` found a difference or plaintext

int pbxsim_main(int argc, const char* const* argv, std::ostream& out);

}  // namespace ccrec::pbxsim
