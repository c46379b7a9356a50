// log_text: makes text that came from outside (the CTI wire, a PBX, a
// command line) safe to put into a log line or an error message.
//
// A PBX event field may hold a newline, a terminal escape or a megabyte of
// text; written verbatim it could forge a second log line or repaint the
// terminal. log_safe() escapes every control character (\n, \r, \t, \\ and
// \xNN), the C1 controls and Unicode line separators and bidi overrides
// (\u{NNNN}), bytes that are not UTF-8 (\xNN), and keeps at most
// log_text_max_chars characters followed by "…".
//
// Pure functions: any thread may call them. Header-only, as all of common/
// is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ccrec {

// Enough to tell two call ids or event types apart in a log, short enough
// that a hostile 256-byte field cannot flood a line.
inline constexpr std::size_t log_text_max_chars = 64;

namespace log_text_detail {

inline void append_byte_escape(std::string& out, std::uint8_t byte) {
  static constexpr char digits[] = "0123456789abcdef";
  out += "\\x";
  out += digits[byte >> 4];
  out += digits[byte & 0xf];
}

inline void append_ascii(std::string& out, char c) {
  switch (c) {
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    case '\\':
      out += "\\\\";
      return;
    default:
      break;
  }
  auto byte = static_cast<std::uint8_t>(c);
  if (byte < 0x20 || byte == 0x7f)
    return append_byte_escape(out, byte);
  out += c;
}

// Code points that move or hide text on a terminal or in a viewer.
constexpr bool is_invisible_control(std::uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

// The length of the well-formed UTF-8 sequence at `s[at]` (2..4) and its
// code point, or 0 when the bytes there are not one.
inline std::size_t utf8_sequence(std::string_view s, std::size_t at, std::uint32_t& cp) {
  auto lead = static_cast<std::uint8_t>(s[at]);
  std::size_t len = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 ? 2 : 0;
  if (lead >= 0xf5 || len == 0 || at + len > s.size())
    return 0;

  cp = lead & (0x7f >> len);
  for (std::size_t i = 1; i < len; ++i) {
    auto next = static_cast<std::uint8_t>(s[at + i]);
    if ((next & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (next & 0x3f);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  static constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_for_len[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
    return 0;
  return len;
}

inline void append_code_point_escape(std::string& out, std::uint32_t cp) {
  static constexpr char digits[] = "0123456789abcdef";
  out += "\\u{";
  for (int shift = 12; shift >= 0; shift -= 4)
    out += digits[(cp >> shift) & 0xf];
  out += "}";
}

}  // namespace log_text_detail

// `text` escaped as described above, at most `max_chars` characters of it
// (a character is one code point, or one byte that is not UTF-8), then "…"
// when some were left off.
inline std::string log_safe(std::string_view text, std::size_t max_chars = log_text_max_chars) {
  using namespace log_text_detail;
  std::string out;
  std::size_t at = 0;
  for (std::size_t chars = 0; at < text.size() && chars < max_chars; ++chars) {
    auto byte = static_cast<std::uint8_t>(text[at]);
    if (byte < 0x80) {
      append_ascii(out, text[at++]);
      continue;
    }

    std::uint32_t cp = 0;
    auto len = utf8_sequence(text, at, cp);
    if (len == 0) {
      append_byte_escape(out, byte);
      ++at;
      continue;
    }
    if (is_invisible_control(cp))
      append_code_point_escape(out, cp);
    else
      out.append(text.substr(at, len));
    at += len;
  }
  if (at < text.size())
    out += "\u2026";
  return out;
}

}  // namespace ccrec
