#include "actors/data_dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace ccrec {

namespace {

// Room for a pid and a newline.
constexpr std::size_t kPidTextBytes = 32;
constexpr mode_t kLockFileMode = 0600;

// The pid another engine wrote, as text; "unknown" when the file is empty
// (that engine is between taking the lock and writing its pid).
std::string holder_pid(int fd) {
  char buf[kPidTextBytes] = {};
  auto n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string text = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text.empty() ? "unknown" : text;
}

error lock_error(const std::string& what, const std::string& path) {
  return make_error("data_dir_lock", "cannot " + what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

data_dir_lock::~data_dir_lock() {
  release();
}

data_dir_lock::data_dir_lock(data_dir_lock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

data_dir_lock& data_dir_lock::operator=(data_dir_lock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

result<data_dir_lock> data_dir_lock::acquire(const std::string& data_dir) {
  const auto path = data_dir + "/" + data_dir_lock_name;
  // O_CLOEXEC: a program the engine starts must not inherit the lock.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, kLockFileMode);
  if (fd < 0)
    return lock_error("open", path);
  data_dir_lock lock{fd};

  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK)
      return lock_error("lock", path);
    return make_error(
        "data_dir_in_use",
        "data directory " + data_dir + " is in use by another engine (pid " + holder_pid(fd) + ")");
  }

  const auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0)
    return lock_error("truncate", path);
  if (::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    return lock_error("write the pid into", path);
  return lock;
}

void data_dir_lock::release() {
  if (fd_ < 0)
    return;
  // The file stays: removing it would let a third engine lock a new file
  // while a second still waits on the old one's descriptor.
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace ccrec
