// hex: lower-case hexadecimal text for bytes, and the value of one hex
// digit, for the layers that write or read hex (wrapped keys in the
// database, percent-encoded URIs, digests in reports).
//
// Pure functions: any thread may call them. Header-only, as all of common/
// is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ccrec {

// 0..15 for '0'-'9', 'a'-'f' and 'A'-'F'; -1 for any other character.
constexpr int hex_digit_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// Two lower-case hex digits per byte.
inline std::string to_hex(const std::uint8_t* data, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0x0f];
  }
  return out;
}

}  // namespace ccrec
