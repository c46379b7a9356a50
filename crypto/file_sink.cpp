// open_file_sink: the production byte_sink, a file created exclusively.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "crypto/ccenx.hpp"

namespace ccrec::crypto {

namespace {

constexpr mode_t file_mode = 0600;  // recordings are for the engine's user only

error io_error(const std::string& what, const std::string& path, int err) {
  return make_error("io", what + " " + path + ": " + std::strerror(err));
}

class file_sink final : public byte_sink {
 public:
  file_sink(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~file_sink() override { ::close(fd_); }
  file_sink(const file_sink&) = delete;
  file_sink& operator=(const file_sink&) = delete;

  result<void> write(const std::uint8_t* data, std::size_t size) override {
    while (size > 0) {
      const ssize_t n = ::write(fd_, data, size);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return io_error("cannot write to", path_, errno);
      // write() returning 0 for a non-empty request means no progress is
      // possible; treat it like a full disk rather than spin.
      if (n == 0)
        return io_error("cannot write to", path_, ENOSPC);
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return {};
  }

  result<void> sync() override {
    while (::fdatasync(fd_) != 0) {
      if (errno != EINTR)
        return io_error("cannot sync", path_, errno);
    }
    return {};
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace

result<std::unique_ptr<byte_sink>> open_file_sink(const std::string& path) {
  int fd = -1;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, file_mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return io_error("cannot create", path, errno);

  return std::unique_ptr<byte_sink>(std::make_unique<file_sink>(fd, path));
}

}  // namespace ccrec::crypto
