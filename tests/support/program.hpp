// program: runs one of the built programs (ccrec, ccrec-pbxsim) from a test
// as an operator would: a child process with exactly the environment given,
// stdin from /dev/null, and what it prints captured in files.
//
// Test-thread only: run_program blocks until the child exits.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace ccrec::test {

struct program_run {
  int code = -1;  // the exit status, or 128 + the signal that ended it
  std::string out;
  std::string err;
};

struct program_args {
  std::string binary;             // a path; argv[0]
  std::vector<std::string> args;  // after argv[0]
  std::vector<std::string> env;   // "NAME=value", the whole environment
  int keep_fd = -1;               // stays open in the child (--kek-secret-fd)
};

// Runs `p` to completion; stdout and stderr go through `out_path` and
// `err_path` (truncated first), which are read back into the result.
program_run run_program(const program_args& p, const std::string& out_path,
                        const std::string& err_path);

// Starts `p` in the background: stdin from /dev/null, stdout and stderr
// appended to the two paths (they may be the same). Returns the child's pid
// (the caller reaps it). The test process runs threads (actor systems), so
// the child does nothing between fork and exec that could take a lock.
pid_t spawn_program(const program_args& p, const std::string& out_path,
                    const std::string& err_path);

// The exit status as a shell reports it: the code, or 128 + signal.
int exit_code_of(int wait_status);

// A whole file's bytes as a string ("" when it cannot be read).
std::string slurp(const std::string& path);

}  // namespace ccrec::test
