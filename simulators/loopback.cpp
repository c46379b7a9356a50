#include "simulators/loopback.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace ccrec::pbxsim {
namespace {

constexpr unsigned long max_port = 65535;
constexpr std::uint8_t ipv4_loopback_net = 127;

// `shown` names the address as logs do: "127.0.0.1:40002", "[::1]:40002".
error not_loopback(const std::string& shown) {
  return make_error("refused_destination", "engine asked for media at " + shown +
                                               ", which is not loopback; pbxsim only sends to "
                                               "this machine");
}

udp_destination destination_of(const void* sa, socklen_t size, int family, std::string shown) {
  udp_destination d;
  std::memcpy(&d.addr, sa, size);
  d.addr_len = size;
  d.family = family;
  d.text = std::move(shown);
  return d;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool is_port(const std::string& s) {
  if (s.empty() || s.size() > 5)
    return false;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
  }
  const unsigned long port = std::stoul(s);
  return port > 0 && port <= max_port;
}

}  // namespace

result<void> check_cti_endpoint(const std::string& endpoint) {
  for (const char* local : {"ipc://", "inproc://"}) {
    if (starts_with(endpoint, local) && endpoint.size() > std::strlen(local))
      return {};
  }
  for (const char* host : {"tcp://127.0.0.1:", "tcp://localhost:", "tcp://[::1]:"}) {
    if (!starts_with(endpoint, host))
      continue;
    if (is_port(endpoint.substr(std::strlen(host))))
      return {};
    return make_error("refused_endpoint", "CTI endpoint '" + endpoint + "' has no valid port");
  }
  return make_error("refused_endpoint",
                    "CTI endpoint '" + endpoint +
                        "' refused: pbxsim only talks to this machine (tcp://127.0.0.1:PORT, "
                        "tcp://localhost:PORT, tcp://[::1]:PORT, ipc://, inproc://)");
}

result<udp_destination> loopback_destination(const std::string& host, std::uint16_t port) {
  if (port == 0)
    return make_error("bad_port", "media port 0 for host '" + host + "'");
  const std::string ip = (host.empty() || host == "localhost") ? "127.0.0.1" : host;

  in_addr v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    const auto shown = ip + ":" + std::to_string(port);
    if (reinterpret_cast<const std::uint8_t*>(&v4.s_addr)[0] != ipv4_loopback_net)
      return not_loopback(shown);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr = v4;
    return destination_of(&sa, sizeof sa, AF_INET, shown);
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    const auto shown = "[" + ip + "]:" + std::to_string(port);
    if (!IN6_IS_ADDR_LOOPBACK(&v6))
      return not_loopback(shown);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    sa.sin6_addr = v6;
    return destination_of(&sa, sizeof sa, AF_INET6, shown);
  }
  return make_error("refused_destination", "engine asked for media at host '" + host +
                                               "', which is not a literal loopback address");
}

}  // namespace ccrec::pbxsim
