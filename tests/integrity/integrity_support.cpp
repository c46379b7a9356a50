#include "tests/integrity/integrity_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/actors/engine_harness.hpp"

namespace ccrec::test {

namespace {

constexpr std::chrono::milliseconds poll_step{50};
// Media ports for child engines: above the in-process tests' ranges, a
// slice per test process.
constexpr int child_port_base = 50000;
constexpr int child_port_slices = 500;
constexpr int child_ports = 10;

program_args ccrec_args(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  return program_args{CCREC_BIN, args, env};
}

}  // namespace

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

bool wait_until_file(const std::string& path, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!slurp(path).empty())
      return true;
    std::this_thread::sleep_for(poll_step);
  }
  return false;
}

run_result run_ccrec(const temp_dir& dir, const std::vector<std::string>& args,
                     const std::vector<std::string>& env) {
  return run_program(ccrec_args(args, env), dir.file("run-stdout.txt"), dir.file("run-stderr.txt"));
}

ccrec_process::ccrec_process(const std::vector<std::string>& args, const std::string& log_path,
                             const std::vector<std::string>& env) {
  pid_ = spawn_program(ccrec_args(args, env), log_path, log_path);
}

ccrec_process::~ccrec_process() {
  if (reaped_ || pid_ <= 0)
    return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::optional<int> ccrec_process::wait_exit(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      return exit_code_of(status);
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(poll_step);
  }
}

std::optional<int> ccrec_process::stop(std::chrono::milliseconds limit) {
  if (!reaped_)
    ::kill(pid_, SIGTERM);
  return wait_exit(limit);
}

std::string serve_config(const temp_dir& dir, const std::string& data_dir) {
  const int low = child_port_base + (::getpid() % child_port_slices) * child_ports;
  const auto path = dir.file("serve.toml");
  std::ofstream out{path, std::ios::trunc};
  out << "[engine]\n"
      << "data_dir = \"" << data_dir << "\"\n"
      << "cti = \"tcp://127.0.0.1:*\"\n"
      << "kdf_profile = \"test\"\n"
      << "media_ports = \"" << low << "-" << low + child_ports - 1 << "\"\n"
      << "transcode = false\n";
  return path;
}

std::string leave_a_recording(const std::string& data_dir) {
  temp_dir unused;
  auto cfg = test_config(unused);
  cfg.data_dir = data_dir;
  cfg.transcode = false;
  {
    running_engine e{cfg};
    REQUIRE(send_event(e.self, e.cm, call_offered(1, "lost-call")).ok);
    auto answered = send_event(e.self, e.cm, call_answered(2, "lost-call", "agent-7"));
    REQUIRE(answered.ok);
    REQUIRE(answered.record);
    REQUIRE(send_event(e.self, e.cm, call_event(3, "call_ended", "lost-call")).ok);
    e.eng->stop();
  }
  for (const auto& f : std::filesystem::recursive_directory_iterator(data_dir + "/recordings")) {
    if (f.path().extension() == ".ccenx")
      return f.path().string();
  }
  FAIL("the engine left no sealed recording in " << data_dir);
  return "";
}

void remove_database_files(const std::string& data_dir) {
  for (const auto* suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(data_dir + "/ccrec.db" + suffix);
  REQUIRE_FALSE(std::filesystem::exists(data_dir + "/ccrec.db"));
}

}  // namespace ccrec::test
