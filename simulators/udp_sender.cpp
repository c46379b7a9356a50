#include "simulators/udp_sender.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace ccrec::pbxsim {

result<udp_sender> udp_sender::open(const udp_destination& dest) {
  const int fd = ::socket(dest.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return make_error("socket_failed",
                      "cannot open a UDP socket for " + dest.text + ": " + std::strerror(errno));
  }
  return udp_sender(fd, dest);
}

udp_sender::udp_sender(udp_sender&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), dest_(other.dest_) {}

udp_sender& udp_sender::operator=(udp_sender&& other) noexcept {
  if (this == &other)
    return *this;
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = std::exchange(other.fd_, -1);
  dest_ = other.dest_;
  return *this;
}

udp_sender::~udp_sender() {
  if (fd_ >= 0)
    ::close(fd_);
}

result<void> udp_sender::send(const std::uint8_t* data, std::size_t size) {
  const ssize_t n =
      ::sendto(fd_, data, size, 0, reinterpret_cast<const sockaddr*>(&dest_.addr), dest_.addr_len);
  if (n < 0) {
    return make_error("send_failed", "sendto " + dest_.text + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace ccrec::pbxsim
