// pcap_builder: writes small classic pcap files byte by byte, so the reader
// is tested against every variant it claims (byte orders, nanosecond
// magic, link types, IPv6, fragments, snap-length cuts) and not only against
// what the shared captures happen to contain. Test-only, single thread.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "media/rtp.hpp"

namespace ccrec::test {

using bytes = std::vector<std::uint8_t>;

inline void put_be16(bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

inline void put_be32(bytes& b, std::uint32_t v) {
  put_be16(b, static_cast<std::uint16_t>(v >> 16));
  put_be16(b, static_cast<std::uint16_t>(v));
}

inline bytes rtp_packet(std::uint8_t pt, std::uint16_t seq, std::uint32_t ts, std::uint32_t ssrc,
                        std::size_t payload_size, std::uint8_t fill) {
  bytes b(12 + payload_size, fill);
  media::write_rtp_header(b.data(), pt, false, seq, ts, ssrc);
  return b;
}

inline bytes udp(std::uint16_t sport, std::uint16_t dport, const bytes& payload) {
  bytes b;
  put_be16(b, sport);
  put_be16(b, dport);
  put_be16(b, static_cast<std::uint16_t>(8 + payload.size()));
  put_be16(b, 0);  // checksum: optional over IPv4, not checked by the reader
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// An IPv4 header around `l4`; `frag` is the flags/fragment-offset field.
inline bytes ipv4(const std::uint8_t (&src)[4], const std::uint8_t (&dst)[4], const bytes& l4,
                  std::uint8_t proto = 17, std::uint16_t frag = 0x4000) {
  bytes b;
  b.push_back(0x45);
  b.push_back(0);
  put_be16(b, static_cast<std::uint16_t>(20 + l4.size()));
  put_be16(b, 0);
  put_be16(b, frag);
  b.push_back(64);
  b.push_back(proto);
  put_be16(b, 0);
  b.insert(b.end(), src, src + 4);
  b.insert(b.end(), dst, dst + 4);
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

// An IPv6 header with the given next header; `ext` goes between it and `l4`.
inline bytes ipv6(const std::uint8_t (&src)[16], const std::uint8_t (&dst)[16], const bytes& l4,
                  std::uint8_t next = 17, const bytes& ext = {}) {
  bytes b;
  put_be32(b, 0x60000000);
  put_be16(b, static_cast<std::uint16_t>(ext.size() + l4.size()));
  b.push_back(next);
  b.push_back(64);
  b.insert(b.end(), src, src + 16);
  b.insert(b.end(), dst, dst + 16);
  b.insert(b.end(), ext.begin(), ext.end());
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

inline bytes ethernet(std::uint16_t ethertype, const bytes& l3,
                      const std::vector<std::uint16_t>& vlan_tpids = {}) {
  bytes b(12, 0x02);
  for (auto tpid : vlan_tpids) {
    put_be16(b, tpid);
    put_be16(b, 100);  // VLAN id
  }
  put_be16(b, ethertype);
  b.insert(b.end(), l3.begin(), l3.end());
  return b;
}

inline bytes linux_sll(std::uint16_t protocol, const bytes& l3) {
  bytes b;
  put_be16(b, 0);  // packet type: to us
  put_be16(b, 1);  // ARPHRD_ETHER
  put_be16(b, 6);
  for (int i = 0; i < 8; ++i)
    b.push_back(0x02);
  put_be16(b, protocol);
  b.insert(b.end(), l3.begin(), l3.end());
  return b;
}

inline bytes linux_sll2(std::uint16_t protocol, const bytes& l3) {
  bytes b;
  put_be16(b, protocol);
  put_be16(b, 0);
  put_be32(b, 2);  // interface index
  put_be16(b, 1);
  b.push_back(0);
  b.push_back(6);
  for (int i = 0; i < 8; ++i)
    b.push_back(0x02);
  b.insert(b.end(), l3.begin(), l3.end());
  return b;
}

class pcap_builder {
 public:
  pcap_builder(std::uint32_t link_type, bool big_endian = false, bool nanos = false)
      : big_endian_(big_endian), nanos_(nanos) {
    u32(nanos ? 0xa1b23c4d : 0xa1b2c3d4);
    u16(2);
    u16(4);
    u32(0);
    u32(0);
    u32(65535);
    u32(link_type);
  }

  // `orig_len` 0 means the frame was captured whole.
  void record(std::int64_t time_ns, const bytes& frame, std::uint32_t orig_len = 0) {
    u32(static_cast<std::uint32_t>(time_ns / 1000000000));
    const std::int64_t frac = time_ns % 1000000000;
    u32(static_cast<std::uint32_t>(nanos_ ? frac : frac / 1000));
    u32(static_cast<std::uint32_t>(frame.size()));
    u32(orig_len ? orig_len : static_cast<std::uint32_t>(frame.size()));
    out_.insert(out_.end(), frame.begin(), frame.end());
  }

  void raw(const bytes& b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) {
      const int shift = big_endian_ ? 24 - 8 * i : 8 * i;
      out_.push_back(static_cast<std::uint8_t>(v >> shift));
    }
  }
  void u16(std::uint16_t v) {
    for (int i = 0; i < 2; ++i) {
      const int shift = big_endian_ ? 8 - 8 * i : 8 * i;
      out_.push_back(static_cast<std::uint8_t>(v >> shift));
    }
  }

  const bytes& data() const { return out_; }
  void save(const std::string& path) const {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(out_.data()), static_cast<std::streamsize>(out_.size()));
  }

 private:
  bool big_endian_;
  bool nanos_;
  bytes out_;
};

inline void save_bytes(const std::string& path, const bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

inline bytes load_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace ccrec::test
