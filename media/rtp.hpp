// RTP (RFC 3550) packet parsing, without copying.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ccrec::media {

// Static payload types ccrec records.
inline constexpr std::uint8_t pt_pcmu = 0;  // G.711 u-law
inline constexpr std::uint8_t pt_pcma = 8;  // G.711 A-law
inline constexpr std::uint32_t g711_rate = 8000;

// A parsed packet; `payload` points into the caller's buffer.
struct rtp_packet {
  std::uint8_t payload_type = 0;
  bool marker = false;
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t ssrc = 0;
  const std::uint8_t* payload = nullptr;
  std::size_t payload_size = 0;
};

enum class rtp_error {
  none,
  too_short,      // fewer than 12 bytes, or header longer than the packet
  bad_version,    // version field is not 2
  bad_padding,    // padding count zero or larger than the payload
  rtcp,           // an RTCP packet (payload type 72..76 with marker)
  empty_payload,  // header only
};

const char* to_string(rtp_error e);

// Parses `size` bytes at `data` into `out`. Skips CSRCs and a header
// extension; strips padding.
rtp_error parse_rtp(const std::uint8_t* data, std::size_t size, rtp_packet& out);

// Writes a minimal RTP header (12 bytes, no CSRC) into `out` and returns 12.
std::size_t write_rtp_header(std::uint8_t* out, std::uint8_t payload_type, bool marker,
                             std::uint16_t seq, std::uint32_t timestamp, std::uint32_t ssrc);

}  // namespace ccrec::media
