#include "simulators/pcap_reader.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>

#include "media/rtp.hpp"

namespace ccrec::pbxsim {
namespace {

// ---- file format constants ------------------------------------------------

constexpr std::size_t file_header_bytes = 24;
constexpr std::size_t record_header_bytes = 16;
constexpr std::uint32_t magic_micro = 0xa1b2c3d4;
constexpr std::uint32_t magic_nano = 0xa1b23c4d;
constexpr std::uint32_t magic_pcapng = 0x0a0d0d0a;
constexpr std::int64_t ns_per_s = 1000000000;
constexpr std::int64_t ns_per_us = 1000;

constexpr std::uint32_t link_ethernet = 1;
constexpr std::uint32_t link_raw = 101;
constexpr std::uint32_t link_linux_sll = 113;
constexpr std::uint32_t link_linux_sll2 = 276;

constexpr std::size_t ethernet_header_bytes = 14;
constexpr std::size_t vlan_tag_bytes = 4;
constexpr std::size_t max_vlan_tags = 2;  // 802.1ad outer + 802.1Q inner
constexpr std::size_t sll_header_bytes = 16;
constexpr std::size_t sll_protocol_offset = 14;
constexpr std::size_t sll2_header_bytes = 20;
constexpr std::size_t sll2_protocol_offset = 0;

constexpr std::uint16_t ethertype_ipv4 = 0x0800;
constexpr std::uint16_t ethertype_ipv6 = 0x86dd;
constexpr std::uint16_t ethertype_vlan = 0x8100;
constexpr std::uint16_t ethertype_qinq = 0x88a8;

constexpr std::size_t ipv4_min_header_bytes = 20;
constexpr std::uint16_t ipv4_more_fragments = 0x2000;
constexpr std::uint16_t ipv4_fragment_offset_mask = 0x1fff;
constexpr std::size_t ipv6_header_bytes = 40;
constexpr std::uint8_t ip_proto_udp = 17;
constexpr std::uint8_t ipv6_hop_by_hop = 0;
constexpr std::uint8_t ipv6_routing = 43;
constexpr std::uint8_t ipv6_fragment = 44;
constexpr std::uint8_t ipv6_destination = 60;
constexpr std::size_t ipv6_ext_unit_bytes = 8;
constexpr std::size_t udp_header_bytes = 8;

// ---- byte helpers ---------------------------------------------------------

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

std::uint32_t le32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
         std::uint32_t(p[3]) << 24;
}

std::uint32_t swap32(std::uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// ---- file header ------------------------------------------------------------

struct file_format {
  bool big_endian = false;
  bool nanos = false;
  std::uint32_t link_type = 0;
};

result<file_format> parse_file_header(const std::uint8_t* h, std::size_t got,
                                      const std::string& path) {
  if (got == 0)
    return make_error("not_pcap", path + ": empty file, not a pcap capture");
  if (got < 4)
    return make_error("not_pcap", path + ": too short to be a pcap capture");

  const std::uint32_t raw = le32(h);
  file_format f;
  if (raw == magic_micro || raw == magic_nano) {
    f.nanos = raw == magic_nano;
  } else if (swap32(raw) == magic_micro || swap32(raw) == magic_nano) {
    f.big_endian = true;
    f.nanos = swap32(raw) == magic_nano;
  } else if (raw == magic_pcapng) {
    return make_error("not_pcap", path +
                                      ": is pcapng, not classic pcap (convert it with "
                                      "'editcap -F pcap')");
  } else {
    return make_error("not_pcap", path + ": not a pcap capture (magic " + hex32(swap32(raw)) + ")");
  }

  if (got < file_header_bytes) {
    return make_error("truncated_header", path + ": truncated pcap file header (" +
                                              std::to_string(got) + " of " +
                                              std::to_string(file_header_bytes) + " bytes)");
  }
  const std::uint32_t link = le32(h + 20);
  f.link_type = f.big_endian ? swap32(link) : link;
  const bool known = f.link_type == link_ethernet || f.link_type == link_raw ||
                     f.link_type == link_linux_sll || f.link_type == link_linux_sll2;
  if (!known) {
    return make_error("unsupported_link_type",
                      path + ": unsupported link type " + std::to_string(f.link_type) +
                          " (supported: 1 Ethernet, 101 raw IP, 113 Linux SLL, 276 SLL2)");
  }
  return f;
}

// ---- packet decoding --------------------------------------------------------

enum class decoded { udp, non_udp, fragment, truncated };

struct udp_datagram {
  std::string src;  // "IP:PORT" ("[v6]:PORT" for IPv6)
  std::string dst;
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

std::string format_address(int family, const std::uint8_t* addr, std::uint16_t port) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family, addr, buf, sizeof buf);
  const std::string ip = buf;
  return (family == AF_INET6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

decoded decode_udp(int family, const std::uint8_t* src_ip, const std::uint8_t* dst_ip,
                   const std::uint8_t* p, std::size_t n, udp_datagram& out) {
  if (n < udp_header_bytes)
    return decoded::truncated;
  const std::size_t udp_len = be16(p + 4);
  if (udp_len < udp_header_bytes)
    return decoded::non_udp;  // malformed length field
  if (udp_len > n)
    return decoded::truncated;

  out.src = format_address(family, src_ip, be16(p));
  out.dst = format_address(family, dst_ip, be16(p + 2));
  out.data = p + udp_header_bytes;
  out.size = udp_len - udp_header_bytes;
  return decoded::udp;
}

decoded decode_ipv4(const std::uint8_t* p, std::size_t n, udp_datagram& out) {
  if (n < ipv4_min_header_bytes)
    return decoded::truncated;
  if ((p[0] >> 4) != 4)
    return decoded::non_udp;
  const std::size_t ihl = std::size_t(p[0] & 0x0f) * 4;
  const std::size_t total = be16(p + 2);
  if (ihl < ipv4_min_header_bytes || total < ihl)
    return decoded::non_udp;
  if (total > n)
    return decoded::truncated;

  const std::uint16_t frag = be16(p + 6);
  if ((frag & ipv4_more_fragments) || (frag & ipv4_fragment_offset_mask)) {
    return decoded::fragment;
  }
  if (p[9] != ip_proto_udp)
    return decoded::non_udp;
  // Bound by the IP total length: Ethernet pads short frames.
  return decode_udp(AF_INET, p + 12, p + 16, p + ihl, total - ihl, out);
}

decoded decode_ipv6(const std::uint8_t* p, std::size_t n, udp_datagram& out) {
  if (n < ipv6_header_bytes)
    return decoded::truncated;
  if ((p[0] >> 4) != 6)
    return decoded::non_udp;
  const std::size_t end = ipv6_header_bytes + be16(p + 4);
  if (end > n)
    return decoded::truncated;

  std::uint8_t next = p[6];
  std::size_t off = ipv6_header_bytes;
  while (next == ipv6_hop_by_hop || next == ipv6_routing || next == ipv6_destination) {
    if (off + 2 > end)
      return decoded::truncated;
    const std::size_t ext_len = (std::size_t(p[off + 1]) + 1) * ipv6_ext_unit_bytes;
    next = p[off];
    off += ext_len;
  }
  if (next == ipv6_fragment)
    return decoded::fragment;
  if (next != ip_proto_udp)
    return decoded::non_udp;
  if (off > end)
    return decoded::truncated;
  return decode_udp(AF_INET6, p + 8, p + 24, p + off, end - off, out);
}

decoded decode_network(std::uint16_t ethertype, const std::uint8_t* p, std::size_t n,
                       udp_datagram& out) {
  if (ethertype == ethertype_ipv4)
    return decode_ipv4(p, n, out);
  if (ethertype == ethertype_ipv6)
    return decode_ipv6(p, n, out);
  return decoded::non_udp;
}

decoded decode_ethernet(const std::uint8_t* p, std::size_t n, udp_datagram& out) {
  if (n < ethernet_header_bytes)
    return decoded::truncated;
  std::size_t off = ethernet_header_bytes;
  std::uint16_t type = be16(p + 12);
  for (std::size_t tags = 0; tags < max_vlan_tags; ++tags) {
    if (type != ethertype_vlan && type != ethertype_qinq)
      break;
    if (off + vlan_tag_bytes > n)
      return decoded::truncated;
    type = be16(p + off + 2);
    off += vlan_tag_bytes;
  }
  return decode_network(type, p + off, n - off, out);
}

decoded decode_raw_ip(const std::uint8_t* p, std::size_t n, udp_datagram& out) {
  if (n < 1)
    return decoded::truncated;
  const int version = p[0] >> 4;
  if (version == 4)
    return decode_ipv4(p, n, out);
  if (version == 6)
    return decode_ipv6(p, n, out);
  return decoded::non_udp;
}

decoded decode_link(std::uint32_t link_type, const std::uint8_t* p, std::size_t n,
                    udp_datagram& out) {
  switch (link_type) {
    case link_ethernet:
      return decode_ethernet(p, n, out);
    case link_raw:
      return decode_raw_ip(p, n, out);
    case link_linux_sll:
      if (n < sll_header_bytes)
        return decoded::truncated;
      return decode_network(be16(p + sll_protocol_offset), p + sll_header_bytes,
                            n - sll_header_bytes, out);
    case link_linux_sll2:
      if (n < sll2_header_bytes)
        return decoded::truncated;
      return decode_network(be16(p + sll2_protocol_offset), p + sll2_header_bytes,
                            n - sll2_header_bytes, out);
    default:
      return decoded::non_udp;
  }
}

// ---- flows and calls ----------------------------------------------------------

struct flow {
  std::string src;
  std::string dst;
  std::vector<media_packet> packets;
};

// Turns a flow into an RTP leg, or nothing when most of it is not G.711 RTP.
std::optional<media_leg> to_rtp_leg(flow& f, pcap_stats& stats) {
  std::size_t pcmu = 0;
  std::size_t pcma = 0;
  std::vector<media_packet> rtp;
  for (auto& p : f.packets) {
    media::rtp_packet parsed;
    if (media::parse_rtp(p.bytes.data(), p.bytes.size(), parsed) != media::rtp_error::none) {
      continue;
    }
    pcmu += parsed.payload_type == media::pt_pcmu;
    pcma += parsed.payload_type == media::pt_pcma;
    rtp.push_back(std::move(p));
  }

  const std::size_t g711 = pcmu + pcma;
  if (g711 * 2 <= f.packets.size()) {
    stats.non_rtp_datagrams += f.packets.size();
    return std::nullopt;
  }
  stats.non_rtp_datagrams += f.packets.size() - rtp.size();

  media_leg leg;
  leg.src_address = f.src;
  leg.dst_address = f.dst;
  leg.payload_type = pcma > pcmu ? media::pt_pcma : media::pt_pcmu;
  leg.packets = std::move(rtp);
  return leg;
}

std::vector<media_call> pair_into_calls(std::vector<media_leg> legs, const std::string& path) {
  std::stable_sort(legs.begin(), legs.end(), [](const media_leg& a, const media_leg& b) {
    return a.packets.front().time_ns < b.packets.front().time_ns;
  });

  std::vector<bool> used(legs.size(), false);
  std::vector<media_call> calls;
  for (std::size_t i = 0; i < legs.size(); ++i) {
    if (used[i])
      continue;
    used[i] = true;
    media_call call;
    call.source = path;
    call.legs.push_back(std::move(legs[i]));
    call.legs.back().name = leg_name_caller;
    for (std::size_t j = i + 1; j < legs.size(); ++j) {
      if (used[j])
        continue;
      if (legs[j].src_address != call.legs[0].dst_address)
        continue;
      if (legs[j].dst_address != call.legs[0].src_address)
        continue;
      used[j] = true;
      call.legs.push_back(std::move(legs[j]));
      call.legs.back().name = leg_name_agent;
      break;
    }
    calls.push_back(std::move(call));
  }
  return calls;
}

}  // namespace

result<pcap_capture> read_pcap(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error("io_error", path + ": cannot open for reading");

  std::array<std::uint8_t, file_header_bytes> header{};
  in.read(reinterpret_cast<char*>(header.data()), header.size());
  auto format = parse_file_header(header.data(), static_cast<std::size_t>(in.gcount()), path);
  if (!format)
    return format.error();

  pcap_capture capture;
  capture.path = path;
  capture.link_type = format->link_type;
  capture.nanosecond_timestamps = format->nanos;
  capture.big_endian = format->big_endian;
  const bool big_endian = format->big_endian;
  const auto field = [big_endian](const std::uint8_t* p) {
    return big_endian ? swap32(le32(p)) : le32(p);
  };

  std::map<std::pair<std::string, std::string>, std::size_t> flow_index;
  std::vector<flow> flows;
  std::vector<std::uint8_t> body;
  std::uint64_t offset = file_header_bytes;
  for (;;) {
    std::array<std::uint8_t, record_header_bytes> rh{};
    in.read(reinterpret_cast<char*>(rh.data()), rh.size());
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got == 0)
      break;
    if (got < record_header_bytes) {
      ++capture.stats.truncated;  // the capture was cut mid record header
      break;
    }

    const std::uint32_t incl_len = field(rh.data() + 8);
    const std::uint32_t orig_len = field(rh.data() + 12);
    if (incl_len > pcap_max_record_bytes) {
      return make_error("corrupt_record", path + ": record at byte " + std::to_string(offset) +
                                              " claims " + std::to_string(incl_len) +
                                              " bytes (at most " +
                                              std::to_string(pcap_max_record_bytes) + ")");
    }
    body.resize(incl_len);
    in.read(reinterpret_cast<char*>(body.data()), incl_len);
    if (static_cast<std::size_t>(in.gcount()) < incl_len) {
      ++capture.stats.truncated;  // the capture was cut mid packet
      break;
    }
    offset += record_header_bytes + incl_len;
    ++capture.stats.records;

    udp_datagram dgram;
    const decoded what = decode_link(format->link_type, body.data(), body.size(), dgram);
    if (what == decoded::non_udp) {
      ++capture.stats.non_udp;
      continue;
    }
    if (what == decoded::fragment) {
      ++capture.stats.fragments;
      continue;
    }
    // A datagram whose headers are complete but whose record is shorter than
    // the packet lost bytes to the snap length: its payload is not the RTP.
    if (what == decoded::truncated || incl_len < orig_len) {
      ++capture.stats.truncated;
      continue;
    }
    ++capture.stats.udp_datagrams;

    const std::int64_t sec = field(rh.data());
    const std::int64_t frac = field(rh.data() + 4);
    media_packet packet;
    packet.time_ns = sec * ns_per_s + (format->nanos ? frac : frac * ns_per_us);
    packet.bytes.assign(dgram.data, dgram.data + dgram.size);

    auto [it, inserted] = flow_index.emplace(std::make_pair(dgram.src, dgram.dst), flows.size());
    if (inserted)
      flows.push_back(flow{dgram.src, dgram.dst, {}});
    flows[it->second].packets.push_back(std::move(packet));
  }
  if (in.bad())
    return make_error("io_error", path + ": read failed");

  capture.stats.flows = flows.size();
  std::vector<media_leg> legs;
  for (auto& f : flows) {
    auto leg = to_rtp_leg(f, capture.stats);
    if (leg)
      legs.push_back(std::move(*leg));
  }
  capture.stats.rtp_flows = legs.size();
  capture.calls = pair_into_calls(std::move(legs), path);
  return capture;
}

}  // namespace ccrec::pbxsim
