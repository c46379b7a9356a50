// integrity_support: what the data-directory integrity tests share — the
// ccrec program run to completion or in the background with exactly the
// environment given, and a data directory left by a real engine run.
//
// Test-thread only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/program.hpp"
#include "tests/support/temp_dir.hpp"

namespace ccrec::test {

inline constexpr char integrity_secret_env[] =
    "CCREC_KEK_SECRET=ccrec actors test secret, not for production";

using run_result = program_run;

// Runs ccrec with `args` and exactly `env`, stdin from /dev/null; waits.
run_result run_ccrec(const temp_dir& dir, const std::vector<std::string>& args,
                     const std::vector<std::string>& env = {integrity_secret_env});

// `ccrec` running in the background, stdout and stderr into `log_path`.
class ccrec_process {
 public:
  ccrec_process(const std::vector<std::string>& args, const std::string& log_path,
                const std::vector<std::string>& env = {integrity_secret_env});
  ~ccrec_process();  // SIGKILLs and reaps a child still running
  ccrec_process(const ccrec_process&) = delete;
  ccrec_process& operator=(const ccrec_process&) = delete;

  pid_t pid() const { return pid_; }
  // SIGTERM, then the exit code (nullopt when not ended within `limit`).
  std::optional<int> stop(std::chrono::milliseconds limit = std::chrono::seconds{30});
  std::optional<int> wait_exit(std::chrono::milliseconds limit);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

bool wait_until_file(const std::string& path, std::chrono::milliseconds limit);
std::size_t count_of(const std::string& haystack, const std::string& needle);

// A serve config for `data_dir`: test KDF, CTI on a free loopback port,
// a media port range of this process's own.
std::string serve_config(const temp_dir& dir, const std::string& data_dir);

// Runs a real engine on `data_dir` (SQLite) through one answered and ended
// call, so that recordings/ holds a sealed file; returns its path.
std::string leave_a_recording(const std::string& data_dir);

// The SQLite files of a data directory: ccrec.db, -wal, -shm.
void remove_database_files(const std::string& data_dir);

}  // namespace ccrec::test
