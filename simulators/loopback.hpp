// loopback: the simulator's guard against aiming at other machines.
//
// Addresses inside captures are data; the only places the simulator sends
// to are the engine's CTI endpoint and the media ports the engine hands out,
// and both must be on this machine. These checks refuse anything else with
// an error that says what was refused and why. Pure functions: any thread.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace ccrec::pbxsim {

inline constexpr const char* default_cti_endpoint = "tcp://127.0.0.1:5570";

// Accepts tcp://127.0.0.1:PORT, tcp://localhost:PORT, tcp://[::1]:PORT,
// ipc://PATH and inproc://NAME. Error code "refused_endpoint" otherwise.
result<void> check_cti_endpoint(const std::string& endpoint);

// A socket address ready for sendto().
struct udp_destination {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  int family = AF_INET;
  std::string text;  // "127.0.0.1:40002" or "[::1]:40002", for logs
};

// Resolves where the engine asked for media. An empty host or "localhost"
// means 127.0.0.1; literal addresses must be IPv4 127.0.0.0/8 or IPv6 ::1.
// Error codes: "refused_destination" (not loopback, or not a literal
// address), "bad_port" (port 0).
result<udp_destination> loopback_destination(const std::string& host, std::uint16_t port);

}  // namespace ccrec::pbxsim
