// udp_sender: one UDP socket aimed at one loopback destination.
//
// The call player opens one per call leg (and one for screen frames), so
// each leg's packets leave from a port of their own, as they do from a
// PBX. Construction takes a destination already checked by
// loopback_destination(). One thread uses a sender at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "common/result.hpp"
#include "simulators/loopback.hpp"

namespace ccrec::pbxsim {

class udp_sender {
 public:
  // Opens a socket for `dest`. Error code "socket_failed".
  static result<udp_sender> open(const udp_destination& dest);

  udp_sender(udp_sender&& other) noexcept;
  udp_sender& operator=(udp_sender&& other) noexcept;
  udp_sender(const udp_sender&) = delete;
  udp_sender& operator=(const udp_sender&) = delete;
  ~udp_sender();

  // Sends one datagram. Error code "send_failed" with errno's text.
  result<void> send(const std::uint8_t* data, std::size_t size);

  const udp_destination& destination() const { return dest_; }

 private:
  udp_sender(int fd, udp_destination dest) : fd_(fd), dest_(std::move(dest)) {}
  int fd_ = -1;
  udp_destination dest_;
};

}  // namespace ccrec::pbxsim
