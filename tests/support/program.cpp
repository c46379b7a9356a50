#include "tests/support/program.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ccrec::test {

namespace {

constexpr mode_t capture_mode = 0600;
constexpr int exec_failed = 127;

std::vector<char*> c_strings(const std::vector<std::string>& items) {
  std::vector<char*> out;
  out.reserve(items.size() + 1);
  for (const auto& s : items)
    out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

pid_t spawn_program(const program_args& p, const std::string& out_path,
                    const std::string& err_path) {
  // Everything is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> argv_text{p.binary};
  argv_text.insert(argv_text.end(), p.args.begin(), p.args.end());
  auto argv = c_strings(argv_text);
  auto envp = c_strings(p.env);

  pid_t pid = ::fork();
  if (pid < 0)
    throw std::runtime_error("spawn_program: fork failed");
  if (pid > 0)
    return pid;

  int in = ::open("/dev/null", O_RDONLY);
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, capture_mode);
  int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, capture_mode);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  if (p.keep_fd >= 0)
    ::fcntl(p.keep_fd, F_SETFD, 0);
  ::execve(argv[0], argv.data(), envp.data());
  ::_exit(exec_failed);
}

program_run run_program(const program_args& p, const std::string& out_path,
                        const std::string& err_path) {
  // Truncate here: the child appends, so that one file can take both.
  std::ofstream{out_path, std::ios::trunc};
  std::ofstream{err_path, std::ios::trunc};

  pid_t pid = spawn_program(p, out_path, err_path);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return program_run{exit_code_of(status), slurp(out_path), slurp(err_path)};
}

int exit_code_of(int wait_status) {
  if (WIFEXITED(wait_status))
    return WEXITSTATUS(wait_status);
  return WIFSIGNALED(wait_status) ? 128 + WTERMSIG(wait_status) : -1;
}

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace ccrec::test
