#include "tests/support/pg_server.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace ccrec::test {
namespace {

const std::string kPgBinDir = "/usr/lib/postgresql/15/bin";
const std::string kPgUser = "postgres";  // OS user when we are root, and DB superuser
constexpr int kPgCtlTimeoutSeconds = 30;
constexpr std::size_t kLogTailBytes = 2000;
constexpr int kPortAttempts = 3;  // a freed port 0 can be taken by someone else
constexpr mode_t kPrivateDirMode = 0700;

// Settings that make a test cluster fast and keep it to loopback. fsync is
// off: the OS cache outlives a killed server, and nothing must survive a
// machine crash. synchronous_commit stays on, deliberately: with it off a
// commit returns before its WAL leaves the server's memory, so
// stop_immediate() would silently lose the last commits and a test of
// recovery after an outage would see data vanish that a real server keeps.
// With fsync off it costs one write() per commit.
std::string test_settings(int port, const std::string& socket_dir) {
  std::ostringstream out;
  out << "\n# ccrec test server\n"
      << "listen_addresses = '127.0.0.1'\n"
      << "port = " << port << "\n"
      << "unix_socket_directories = '" << socket_dir << "'\n"
      << "fsync = off\n"
      << "full_page_writes = off\n"
      << "logging_collector = off\n";
  return out.str();
}

bool running_as_root() {
  return geteuid() == 0;
}

std::string tail_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > kLogTailBytes)
    text = "..." + text.substr(text.size() - kLogTailBytes);
  return text;
}

// Binds 127.0.0.1:0, reads the port the kernel chose, releases it.
int free_loopback_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error("pg_server: socket() failed");

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok)
    throw std::runtime_error("pg_server: cannot find a free port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

// Runs argv (no shell) with stdout and stderr appended to `log`, in `cwd`
// (the postgres user may not be allowed into the test's working directory).
// Returns the exit status, or -1 when the child did not exit normally.
int run_command(const std::vector<std::string>& argv, const std::string& log,
                const std::string& cwd) {
  // Everything the child needs is built before fork: after fork only
  // async-signal-safe calls are allowed in a threaded process.
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0)
    throw std::runtime_error("pg_server: fork failed");
  if (pid == 0) {
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int in = open("/dev/null", O_RDONLY);
    if (out < 0 || in < 0 || chdir(cwd.c_str()) != 0)
      _exit(127);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    execv(args[0], args.data());
    _exit(127);
  }

  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string make_private_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base ? base : "/tmp") + "/ccrec-pg-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr)
    throw std::runtime_error("pg_server: mkdtemp failed for " + pattern);
  return buf.data();
}

// Gives `path` to the postgres user when we are root (initdb and postgres
// refuse to run as root and must own their directories).
void hand_over(const std::string& path) {
  if (!running_as_root())
    return;
  passwd* pw = getpwnam(kPgUser.c_str());
  if (pw == nullptr)
    throw std::runtime_error("pg_server: running as root but there is no '" + kPgUser +
                             "' user to run PostgreSQL as");
  if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0)
    throw std::runtime_error("pg_server: cannot chown " + path + " to " + kPgUser);
}

void make_owned_dir(const std::string& path) {
  if (mkdir(path.c_str(), kPrivateDirMode) != 0)
    throw std::runtime_error("pg_server: cannot create " + path);
  hand_over(path);
}

bool valid_database_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])))
    return false;
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  }
  return true;
}

// Children of `parent`, found through /proc/PID/stat (field 4 is the ppid;
// the command name before it is in parentheses and may contain spaces).
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr)
    return found;
  while (dirent* entry = readdir(proc)) {
    if (!std::isdigit(static_cast<unsigned char>(entry->d_name[0])))
      continue;
    std::ifstream stat(std::string("/proc/") + entry->d_name + "/stat");
    std::string line;
    if (!std::getline(stat, line))
      continue;
    auto close_paren = line.rfind(')');
    if (close_paren == std::string::npos)
      continue;
    std::istringstream rest(line.substr(close_paren + 1));
    char state = 0;
    long ppid = 0;
    if (rest >> state >> ppid && ppid == parent)
      found.push_back(static_cast<pid_t>(std::atol(entry->d_name)));
  }
  closedir(proc);
  return found;
}

// Everything the guardian process needs, built before fork: after fork in
// a threaded process only async-signal-safe calls are allowed.
struct guardian_plan {
  std::string pid_file;
  std::vector<std::string> stop;
  std::vector<std::string> remove;
};

std::vector<char*> argv_of(std::vector<std::string>& args) {
  std::vector<char*> out;
  for (auto& a : args)
    out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

// Async-signal-safe: fork, exec, wait.
void spawn_and_wait(char* const* argv) {
  pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], argv);
    _exit(127);
  }
  if (pid > 0) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

// Async-signal-safe: the first line of postmaster.pid, or 0.
pid_t read_pid_file(const char* path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return 0;
  char buf[32] = {};
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  pid_t pid = 0;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i)
    pid = pid * 10 + (buf[i] - '0');
  return pid;
}

// The guardian: waits until every write end of `pipe_fd` is closed, which
// happens when the test process exits however it exits (abort, SIGKILL, a
// failed CAF expect), then stops the server and removes its directory. A
// crashed test must not leave a postmaster behind on a shared machine.
[[noreturn]] void run_guardian(int pipe_fd, std::vector<char*>& stop, std::vector<char*>& remove,
                               const char* pid_file) {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT})
    sigaction(sig, &ignore, nullptr);

  // Hold nothing of the test's: its sockets must close when it does.
  dup2(pipe_fd, 3);
  close_range(4, ~0U, 0);
  int null_fd = open("/dev/null", O_RDWR);
  dup2(null_fd, 0);
  dup2(null_fd, 1);
  dup2(null_fd, 2);
  if (null_fd > 3)
    close(null_fd);

  char byte = 0;
  while (true) {
    ssize_t n = read(3, &byte, 1);
    if (n == 0 || (n < 0 && errno != EINTR))
      break;
  }

  // A frozen postmaster cannot act on its stop signal; once running again
  // it kills its still-frozen backends itself.
  pid_t postmaster = read_pid_file(pid_file);
  if (postmaster > 0)
    kill(postmaster, SIGCONT);
  spawn_and_wait(stop.data());
  spawn_and_wait(remove.data());
  _exit(0);
}

}  // namespace

pg_server::pg_server() {
  if (access((kPgBinDir + "/initdb").c_str(), X_OK) != 0 ||
      access((kPgBinDir + "/pg_ctl").c_str(), X_OK) != 0)
    throw std::runtime_error("pg_server: PostgreSQL 15 binaries not found in " + kPgBinDir +
                             " (install the postgresql-15 package)");
  dir_ = make_private_dir();
  data_ = dir_ + "/data";
}

pg_server::~pg_server() {
  try {
    stop_immediate();
  } catch (const std::exception&) {
    // Nothing sensible to do in a destructor; the directory goes anyway.
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (guardian_pipe_ >= 0)
    close(guardian_pipe_);  // the guardian finds nothing left and exits
  if (guardian_pid_ > 0)
    waitpid(guardian_pid_, nullptr, 0);
}

void pg_server::start_guardian() {
  std::vector<std::string> stop = {kPgBinDir + "/pg_ctl",
                                   "-D",
                                   data_,
                                   "-m",
                                   "immediate",
                                   "-w",
                                   "-t",
                                   std::to_string(kPgCtlTimeoutSeconds),
                                   "stop"};
  if (running_as_root())
    stop.insert(stop.begin(), {"/usr/sbin/runuser", "-u", kPgUser, "--"});
  std::vector<std::string> remove = {"/bin/rm", "-rf", dir_};
  std::string pid_file = data_ + "/postmaster.pid";
  auto stop_argv = argv_of(stop);
  auto remove_argv = argv_of(remove);

  // Close-on-exec: the servers pg_ctl starts must not hold the write end,
  // or the guardian would wait for them instead of for us.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error("pg_server: pipe2 failed");
  pid_t pid = fork();
  if (pid < 0)
    throw std::runtime_error("pg_server: fork failed");
  if (pid == 0) {
    close(fds[1]);
    run_guardian(fds[0], stop_argv, remove_argv, pid_file.c_str());
  }
  close(fds[0]);
  guardian_pipe_ = fds[1];
  guardian_pid_ = pid;
}

void pg_server::run_as_owner(const std::vector<std::string>& argv, const std::string& what) {
  std::vector<std::string> full;
  if (running_as_root())
    full = {"/usr/sbin/runuser", "-u", kPgUser, "--"};
  full.insert(full.end(), argv.begin(), argv.end());

  const std::string log = dir_ + "/commands.log";
  int status = run_command(full, log, dir_);
  if (status != 0)
    throw std::runtime_error("pg_server: " + what + " failed (exit " + std::to_string(status) +
                             "):\n" + tail_of(log) + "\nserver log:\n" +
                             tail_of(dir_ + "/server.log"));
}

void pg_server::init_cluster() {
  hand_over(dir_);
  make_owned_dir(dir_ + "/sock");
  run_as_owner({kPgBinDir + "/initdb", "-D", data_, "-U", kPgUser, "-A", "trust", "-E", "UTF8",
                "--locale=C", "--no-sync", "--no-instructions"},
               "initdb");
  initialised_ = true;
}

void pg_server::start_postmaster() {
  run_as_owner({kPgBinDir + "/pg_ctl", "-D", data_, "-l", dir_ + "/server.log", "-w", "-t",
                std::to_string(kPgCtlTimeoutSeconds), "start"},
               "starting PostgreSQL on 127.0.0.1:" + std::to_string(port_));
  running_ = true;
}

void pg_server::start() {
  if (running_)
    return;
  if (!initialised_) {
    init_cluster();
    start_guardian();
  }

  // Appending is enough: the last setting in postgresql.conf wins.
  for (int attempt = 1;; ++attempt) {
    port_ = free_loopback_port();
    std::ofstream(data_ + "/postgresql.conf", std::ios::app)
        << test_settings(port_, dir_ + "/sock");
    try {
      start_postmaster();
      return;
    } catch (const std::runtime_error&) {
      bool port_taken = tail_of(dir_ + "/server.log").find("already in use") != std::string::npos;
      if (!port_taken || attempt == kPortAttempts)
        throw;
    }
  }
}

void pg_server::stop_immediate() {
  if (!running_)
    return;
  if (!frozen_.empty())
    thaw();
  run_as_owner({kPgBinDir + "/pg_ctl", "-D", data_, "-m", "immediate", "-w", "-t",
                std::to_string(kPgCtlTimeoutSeconds), "stop"},
               "stopping PostgreSQL");
  running_ = false;
}

void pg_server::restart() {
  if (running_)
    return;
  if (!initialised_)
    throw std::runtime_error("pg_server: restart() before start()");
  start_postmaster();
}

pid_t pg_server::postmaster_pid() const {
  std::ifstream in(data_ + "/postmaster.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 0)
    throw std::runtime_error("pg_server: cannot read " + data_ + "/postmaster.pid");
  return static_cast<pid_t>(pid);
}

void pg_server::freeze() {
  if (!running_ || !frozen_.empty())
    return;

  // The postmaster first, so that it forks no new backend while we look.
  pid_t postmaster = postmaster_pid();
  if (kill(postmaster, SIGSTOP) != 0)
    throw std::runtime_error("pg_server: cannot SIGSTOP the postmaster");
  frozen_.push_back(postmaster);
  for (pid_t child : children_of(postmaster)) {
    if (kill(child, SIGSTOP) == 0)
      frozen_.push_back(child);
  }
}

void pg_server::thaw() {
  // Backends before the postmaster, the reverse of freeze().
  for (auto it = frozen_.rbegin(); it != frozen_.rend(); ++it)
    kill(*it, SIGCONT);
  frozen_.clear();
}

std::string pg_server::create_database(const std::string& name) {
  if (!valid_database_name(name))
    throw std::runtime_error("pg_server: invalid database name '" + name +
                             "' (lower-case letters, digits, underscore)");
  if (!running_)
    throw std::runtime_error("pg_server: create_database(" + name + ") while stopped");
  run_as_owner({kPgBinDir + "/createdb", "-h", "127.0.0.1", "-p", std::to_string(port_), "-U",
                kPgUser, name},
               "createdb " + name);
  return uri(name);
}

std::string pg_server::uri(const std::string& name) const {
  return "postgresql://" + kPgUser + "@127.0.0.1:" + std::to_string(port_) + "/" + name;
}

pg_server& shared_pg_server() {
  static std::mutex mutex;
  static pg_server* server = nullptr;
  static std::string failure;
  std::lock_guard<std::mutex> lock(mutex);

  if (!failure.empty())
    throw std::runtime_error(failure);
  try {
    if (server == nullptr) {
      static pg_server instance;
      server = &instance;
      server->start();
    }
    // A test that stopped or froze the server and failed half-way must not
    // take every later test down with it.
    server->thaw();
    server->restart();
  } catch (const std::exception& e) {
    failure = e.what();
    throw;
  }
  return *server;
}

}  // namespace ccrec::test
