// CCENX: ccrec's streaming authenticated file encryption (AES-256-GCM).
//
// The byte layout, what is authenticated, and how truncation and crash
// interruption are told apart are specified in docs/ccenx-format.md. In
// short: a header (magic "CCENX", version, master key id, wrapped per-file
// data key, key commitment, header MAC) followed by chunks, each sealed with
// a counter nonce and associated data that binds the header, the chunk
// index, its length and whether it is the final chunk.
//
// A writer is used by one thread at a time. Readers are independent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "common/result.hpp"
#include "crypto/secret.hpp"

namespace ccrec::crypto {

// The five bytes every encrypted ccrec file starts with.
inline constexpr char ccenx_magic[5] = {'C', 'C', 'E', 'N', 'X'};
inline constexpr std::uint8_t ccenx_version = 1;
// Default plaintext bytes per chunk; a writer seals earlier on flush().
inline constexpr std::uint32_t ccenx_default_chunk = 64 * 1024;
inline constexpr std::uint32_t ccenx_max_chunk = 1024 * 1024;
// On-disk header size, and the bytes each chunk adds to its plaintext
// (4-byte length, 1 flags byte, 16-byte GCM tag).
inline constexpr std::size_t ccenx_header_size = 159;
inline constexpr std::size_t ccenx_chunk_overhead = 21;

// Where a writer's bytes go. Files in production, a fault-injecting sink in
// tests (a disk that fills, an fsync that fails).
class byte_sink {
 public:
  virtual ~byte_sink() = default;
  virtual result<void> write(const std::uint8_t* data, std::size_t size) = 0;
  virtual result<void> sync() = 0;  // fdatasync or equivalent
};

// Creates `path` exclusively (fails if it exists) with mode 0600.
result<std::unique_ptr<byte_sink>> open_file_sink(const std::string& path);

// The fields of a CCENX header that are readable without a key.
struct ccenx_header {
  std::uint8_t version = 0;
  std::uint64_t key_id = 0;       // master key that wraps the data key
  std::uint32_t chunk_size = 0;   // maximum plaintext bytes per chunk
  std::uint8_t content_type = 0;  // see ccenx_content below
  std::string file_id_hex;        // random per-file id, 32 hex chars
  std::size_t header_bytes = 0;   // on-disk size of the header
};

// What the plaintext inside is; informational, authenticated.
enum class ccenx_content : std::uint8_t {
  unspecified = 0,
  raw_call_audio = 1,  // media/raw_format.hpp record stream
  screen = 2,          // media/raw_format.hpp record stream, screen frames
  metadata = 3,        // JSON or XML document
  compressed_audio = 4,
};

class ccenx_writer {
 public:
  // Writes the header: draws a fresh data key, wraps it under `master_key`
  // (identified by `key_id`), and derives the chunk and commitment keys.
  // Fails with "bad_key" (master key not 32 bytes), "bad_chunk_size" (0 or
  // above ccenx_max_chunk), "out_of_memory", "aes_unavailable", or the
  // sink's error when the header cannot be written.
  static result<std::unique_ptr<ccenx_writer>> create(
      std::unique_ptr<byte_sink> sink, std::uint64_t key_id, const secret_bytes& master_key,
      ccenx_content content, std::uint32_t chunk_size = ccenx_default_chunk);
  ~ccenx_writer();

  // Buffers plaintext; seals and writes every full chunk.
  result<void> append(const std::uint8_t* data, std::size_t size);
  // Seals whatever is buffered as a (non-final) chunk and writes it, so that
  // a crash after this returns loses nothing appended before. With
  // `sync`, also syncs the sink. Sealing is a no-op when nothing is
  // buffered; a requested sync still happens (earlier chunks may be unsynced).
  result<void> flush(bool sync = false);
  // Seals the final chunk (possibly empty), writes and syncs. After this,
  // the writer refuses further use ("writer_finished").
  //
  // After any sink error the writer refuses further use ("writer_failed"):
  // what reached the file is unknown, and sealing again could reuse a nonce.
  // Destroying a writer without finish() leaves an interrupted file.
  result<void> finish();

  std::uint64_t plaintext_bytes() const;  // appended so far
  std::uint64_t file_bytes() const;       // written to the sink so far
  std::uint64_t chunks_written() const;

 private:
  struct impl;
  friend class ccenx_writer_access;  // builds writers; also serves ccenx_testing.hpp
  explicit ccenx_writer(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

// How a read of a CCENX file ended.
enum class ccenx_state {
  complete,     // final chunk authenticated and nothing follows it
  interrupted,  // ends on a chunk boundary without a final chunk (crash)
  truncated,    // ends inside the header or inside a chunk
  corrupt,      // something failed to authenticate or parse
};

const char* to_string(ccenx_state s);

struct ccenx_report {
  ccenx_state state = ccenx_state::corrupt;
  std::string code;                   // "" when complete, else e.g. "chunk_auth_failed",
                                      // "unknown_key", "bad_magic", "key_commitment",
                                      // "trailing_data", "interrupted", "truncated", "io"
  std::string reason;                 // for people, names the chunk index where relevant
  ccenx_header header;                // as far as it could be read
  std::uint64_t chunks = 0;           // chunks that authenticated
  std::uint64_t plaintext_bytes = 0;  // bytes delivered to the callback
};

// Finds the master key for a key id; nullptr when unknown.
using key_resolver = std::function<const secret_bytes*(std::uint64_t key_id)>;
// Receives authenticated plaintext, chunk by chunk, in order.
using plaintext_sink = std::function<void(const std::uint8_t* data, std::size_t size)>;

// Reads the header only (no key needed, nothing verified beyond magic,
// version and chunk size). Fails with "io", "bad_magic",
// "unsupported_version", "truncated" or "bad_chunk_size".
result<ccenx_header> read_ccenx_header(const std::string& path);

// Decrypts `path` chunk by chunk. Only authenticated plaintext reaches
// `on_plaintext` (may be empty for a verify-only pass); its buffer is wiped
// as soon as the callback returns, so copy what must outlive the call.
// Never throws itself; an exception thrown by `on_plaintext` propagates
// (the buffers are still wiped). States and codes: docs/ccenx-format.md.
ccenx_report read_ccenx(const std::string& path, const key_resolver& keys,
                        const plaintext_sink& on_plaintext);

// True when the file at `path` starts with the CCENX magic.
bool has_ccenx_magic(const std::string& path);

}  // namespace ccrec::crypto
