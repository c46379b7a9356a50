#include "media/rtp.hpp"

namespace ccrec::media {
namespace {

constexpr std::size_t fixed_header_bytes = 12;
constexpr std::size_t csrc_bytes = 4;
constexpr std::size_t extension_header_bytes = 4;
constexpr std::size_t extension_word_bytes = 4;
constexpr std::size_t rtcp_min_bytes = 4;
constexpr std::uint8_t rtp_version = 2;
constexpr std::uint8_t rtcp_first_type = 200;  // SR
constexpr std::uint8_t rtcp_last_type = 204;   // APP

std::uint8_t version_of(const std::uint8_t* data) {
  return data[0] >> 6;
}

std::uint16_t read_u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

std::uint32_t read_u32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void write_u16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

void write_u32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// RTCP shares the port pair in rtcp-mux setups and the version field, but its
// second byte (packet type 200..204) would read as marker + PT 72..76.
bool looks_like_rtcp(const std::uint8_t* data, std::size_t size) {
  if (size < rtcp_min_bytes || version_of(data) != rtp_version)
    return false;
  return data[1] >= rtcp_first_type && data[1] <= rtcp_last_type;
}

}  // namespace

const char* to_string(rtp_error e) {
  switch (e) {
    case rtp_error::none:
      return "none";
    case rtp_error::too_short:
      return "too_short";
    case rtp_error::bad_version:
      return "bad_version";
    case rtp_error::bad_padding:
      return "bad_padding";
    case rtp_error::rtcp:
      return "rtcp";
    case rtp_error::empty_payload:
      return "empty_payload";
  }
  return "unknown";
}

rtp_error parse_rtp(const std::uint8_t* data, std::size_t size, rtp_packet& out) {
  out = rtp_packet{};
  if (data == nullptr)
    return rtp_error::too_short;
  if (looks_like_rtcp(data, size))
    return rtp_error::rtcp;
  if (size < fixed_header_bytes)
    return rtp_error::too_short;
  if (version_of(data) != rtp_version)
    return rtp_error::bad_version;

  const bool has_padding = (data[0] & 0x20) != 0;
  const bool has_extension = (data[0] & 0x10) != 0;
  const std::size_t csrc_count = data[0] & 0x0F;
  out.marker = (data[1] & 0x80) != 0;
  out.payload_type = data[1] & 0x7F;
  out.seq = read_u16(data + 2);
  out.timestamp = read_u32(data + 4);
  out.ssrc = read_u32(data + 8);

  // Every length below comes from the wire: each is checked against `size`
  // before the bytes it describes are touched.
  std::size_t header = fixed_header_bytes + csrc_count * csrc_bytes;
  if (header > size)
    return rtp_error::too_short;
  if (has_extension) {
    if (header + extension_header_bytes > size)
      return rtp_error::too_short;
    const std::size_t words = read_u16(data + header + 2);
    header += extension_header_bytes + words * extension_word_bytes;
    if (header > size)
      return rtp_error::too_short;
  }

  std::size_t payload_size = size - header;
  if (has_padding) {
    if (payload_size == 0)
      return rtp_error::bad_padding;
    const std::size_t pad = data[size - 1];
    if (pad == 0 || pad > payload_size)
      return rtp_error::bad_padding;
    payload_size -= pad;
  }
  if (payload_size == 0)
    return rtp_error::empty_payload;

  out.payload = data + header;
  out.payload_size = payload_size;
  return rtp_error::none;
}

std::size_t write_rtp_header(std::uint8_t* out, std::uint8_t payload_type, bool marker,
                             std::uint16_t seq, std::uint32_t timestamp, std::uint32_t ssrc) {
  out[0] = rtp_version << 6;
  out[1] = static_cast<std::uint8_t>((marker ? 0x80 : 0x00) | (payload_type & 0x7F));
  write_u16(out + 2, seq);
  write_u32(out + 4, timestamp);
  write_u32(out + 8, ssrc);
  return fixed_header_bytes;
}

}  // namespace ccrec::media
