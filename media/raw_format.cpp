#include "media/raw_format.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace ccrec::media {
namespace {

constexpr std::size_t raw_magic_bytes = sizeof raw_magic;
constexpr std::uint8_t last_record_type = static_cast<std::uint8_t>(record_type::marker);

// Header field positions, see docs/raw-format.md.
constexpr std::size_t at_type = 0;
constexpr std::size_t at_leg = 1;
constexpr std::size_t at_payload_type = 2;
constexpr std::size_t at_flags = 3;
constexpr std::size_t at_size = 4;
constexpr std::size_t at_offset = 8;

void put_le(std::uint8_t* p, std::uint64_t v, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i)
    p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint64_t get_le(const std::uint8_t* p, std::size_t bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes; ++i)
    v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}

}  // namespace

void append_raw_magic(std::vector<std::uint8_t>& out) {
  out.insert(out.end(), raw_magic, raw_magic + raw_magic_bytes);
}

void append_raw_record(std::vector<std::uint8_t>& out, record_type type, std::uint8_t leg,
                       std::uint8_t payload_type, std::uint8_t flags, std::uint64_t offset,
                       const std::uint8_t* payload, std::size_t size) {
  std::uint8_t header[raw_record_header_bytes];
  header[at_type] = static_cast<std::uint8_t>(type);
  header[at_leg] = leg;
  header[at_payload_type] = payload_type;
  header[at_flags] = flags;
  put_le(header + at_size, size, 4);
  put_le(header + at_offset, offset, 8);
  out.insert(out.end(), header, header + raw_record_header_bytes);
  if (size > 0)
    out.insert(out.end(), payload, payload + size);
}

raw_decoder::raw_decoder(record_sink sink) : sink_(std::move(sink)) {}

result<void> raw_decoder::feed(const std::uint8_t* data, std::size_t size) {
  if (failed_)
    return error_;
  if (size > 0)
    buf_.insert(buf_.end(), data, data + size);

  if (!magic_ok_) {
    auto r = check_magic();
    if (!r.ok() || !magic_ok_)
      return r;
  }
  auto r = decode_records();

  // Drop what is decoded in one move per feed, not per record.
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
  pos_ = 0;
  return r;
}

result<void> raw_decoder::finish() {
  if (failed_)
    return error_;
  if (!magic_ok_) {
    return fail("raw_truncated", "raw stream ends after " +
                                     std::to_string(consumed_ + buf_.size()) +
                                     " bytes, inside the 8-byte magic");
  }
  if (!buf_.empty()) {
    return fail("raw_truncated", "raw stream ends inside the record at byte offset " +
                                     std::to_string(consumed_) + " (" +
                                     std::to_string(buf_.size()) + " bytes of it present)");
  }
  return {};
}

result<void> raw_decoder::fail(std::string code, std::string message) {
  failed_ = true;
  error_ = make_error(std::move(code), std::move(message));
  return error_;
}

// Checks as many magic bytes as have arrived, so garbage is refused at once.
result<void> raw_decoder::check_magic() {
  const std::size_t have = std::min(buf_.size(), raw_magic_bytes);
  for (std::size_t i = 0; i < have; ++i) {
    if (buf_[i] == static_cast<std::uint8_t>(raw_magic[i]))
      continue;
    return fail("raw_bad_magic", "raw stream does not start with the CCRAW magic: byte offset " +
                                     std::to_string(i) + " is " + std::to_string(buf_[i]));
  }
  if (have < raw_magic_bytes)
    return {};
  magic_ok_ = true;
  pos_ = raw_magic_bytes;
  consumed_ = raw_magic_bytes;
  return {};
}

result<void> raw_decoder::decode_records() {
  while (buf_.size() - pos_ >= raw_record_header_bytes) {
    const std::uint8_t* h = buf_.data() + pos_;
    const std::uint8_t type = h[at_type];
    const auto size = static_cast<std::uint32_t>(get_le(h + at_size, 4));
    if (type > last_record_type) {
      return fail("raw_bad_record", "unknown record type " + std::to_string(type) +
                                        " at byte offset " + std::to_string(consumed_));
    }
    if (size > raw_max_record) {
      return fail("raw_bad_record", "record size " + std::to_string(size) + " over the limit of " +
                                        std::to_string(raw_max_record) + " at byte offset " +
                                        std::to_string(consumed_));
    }
    if (buf_.size() - pos_ < raw_record_header_bytes + size)
      return {};

    current_.type = static_cast<record_type>(type);
    current_.leg = h[at_leg];
    current_.payload_type = h[at_payload_type];
    current_.flags = h[at_flags];
    current_.offset = get_le(h + at_offset, 8);
    current_.payload.assign(h + raw_record_header_bytes, h + raw_record_header_bytes + size);

    pos_ += raw_record_header_bytes + size;
    consumed_ += raw_record_header_bytes + size;
    ++records_;
    if (sink_)
      sink_(current_);
  }
  return {};
}

}  // namespace ccrec::media
