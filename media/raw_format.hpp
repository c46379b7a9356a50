// The raw recording format: the plaintext record stream inside a CCENX file.
//
// Specified in docs/raw-format.md. A stream starts with the 8-byte magic
// "CCRAW\x01\0\0" and a metadata record (JSON: call id, leg names, start
// time), then records in arrival order, each a 16-byte little-endian header
// and a payload:
//
//   u8 type | u8 leg | u8 payload_type | u8 flags | u32 size | u64 offset
//
// Audio records carry G.711 frames placed at `offset` samples (8 kHz) from
// the recording start; screen records carry one frame at `offset`
// milliseconds; markers are placed in samples. Records need not be sorted
// by offset: playback places them. Encoding and decoding are pure
// computation; one decoder per stream, used from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace ccrec::media {

inline constexpr char raw_magic[8] = {'C', 'C', 'R', 'A', 'W', 1, 0, 0};
inline constexpr std::size_t raw_record_header_bytes = 16;
inline constexpr std::uint32_t raw_max_record = 1 << 20;

enum class record_type : std::uint8_t {
  metadata = 0,  // JSON document, leg = 0, offset = 0
  audio = 1,     // G.711 payload, offset in samples
  screen = 2,    // one screen frame, offset in milliseconds
  marker = 3,    // pause/resume/hold event, payload = UTF-8 word
};

struct raw_record {
  record_type type = record_type::audio;
  std::uint8_t leg = 0;  // 0 = caller/first leg, 1 = agent/second leg
  std::uint8_t payload_type = 0;
  std::uint8_t flags = 0;
  std::uint64_t offset = 0;
  std::vector<std::uint8_t> payload;
};

// Appends the stream magic to `out`.
void append_raw_magic(std::vector<std::uint8_t>& out);
// Appends one encoded record to `out` (no allocation beyond growth).
void append_raw_record(std::vector<std::uint8_t>& out, record_type type, std::uint8_t leg,
                       std::uint8_t payload_type, std::uint8_t flags, std::uint64_t offset,
                       const std::uint8_t* payload, std::size_t size);

// Incremental decoder: feed bytes as they are decrypted, get records.
class raw_decoder {
 public:
  using record_sink = std::function<void(const raw_record&)>;
  explicit raw_decoder(record_sink sink);

  // Fails with "raw_bad_magic" or "raw_bad_record" (naming the byte offset)
  // on malformed input; after a failure the decoder stays failed.
  result<void> feed(const std::uint8_t* data, std::size_t size);
  // Fails with "raw_truncated" if a record is incomplete at the end.
  result<void> finish();

  std::uint64_t records() const { return records_; }

 private:
  result<void> fail(std::string code, std::string message);
  result<void> check_magic();
  result<void> decode_records();

  record_sink sink_;
  std::vector<std::uint8_t> buf_;
  bool magic_ok_ = false;
  bool failed_ = false;
  std::uint64_t consumed_ = 0;
  std::uint64_t records_ = 0;
  std::size_t pos_ = 0;  // bytes of buf_ already decoded
  raw_record current_;   // reused so steady-state decoding does not allocate
  ccrec::error error_;   // the failure, repeated by every later call
};

}  // namespace ccrec::media
