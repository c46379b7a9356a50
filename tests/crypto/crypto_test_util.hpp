// Helpers for the crypto tests: in-memory and fault-injecting sinks, a key
// ring, CCENX files built in memory and read back from temp files, and a
// parser of the chunk framing (docs/ccenx-format.md) to aim tampering.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "crypto/ccenx.hpp"
#include "crypto/secret.hpp"

namespace ccrec::test {

using bytes = std::vector<std::uint8_t>;

// Collects everything written, visible through a shared buffer after the
// writer took ownership of the sink. With a budget, a write fails with
// "io" after that many bytes in total (writing the part that fits, as a
// full disk does); with fail_sync, every sync fails.
class memory_sink : public crypto::byte_sink {
 public:
  explicit memory_sink(std::shared_ptr<bytes> out, std::size_t budget = SIZE_MAX,
                       bool fail_sync = false)
      : out_(std::move(out)), budget_(budget), fail_sync_(fail_sync) {}

  result<void> write(const std::uint8_t* data, std::size_t size) override;
  result<void> sync() override;

  int syncs() const { return syncs_; }

 private:
  std::shared_ptr<bytes> out_;
  std::size_t budget_;
  bool fail_sync_;
  int syncs_ = 0;
};

// Master keys by id, as the engine's key cache would hand them out.
class keyring {
 public:
  const crypto::secret_bytes& add(std::uint64_t id, crypto::secret_bytes key);
  crypto::key_resolver resolver() const;

 private:
  std::map<std::uint64_t, crypto::secret_bytes> keys_;
};

// Deterministic pseudo-random bytes (xorshift32, fixed seed).
bytes pattern(std::size_t size, std::uint32_t seed);
// A key with bytes first, first+1, ... (golden-vector style).
crypto::secret_bytes counting_key(std::uint8_t first);

// One step of a writer's life: append `bytes`, then flush if asked.
struct write_step {
  std::size_t bytes = 0;
  bool flush = false;
};

// Encrypts `plaintext` in memory following `steps` (all of it appended
// in one go when empty), then finishes. REQUIREs success.
bytes encrypt(const bytes& plaintext, const crypto::secret_bytes& master_key, std::uint64_t key_id,
              std::uint32_t chunk_size, const std::vector<write_step>& steps = {});

struct decrypted {
  crypto::ccenx_report report;
  bytes plaintext;
};

// Writes `file` to a fresh temp file and reads it back.
decrypted decrypt_bytes(const bytes& file, const crypto::key_resolver& keys);
decrypted decrypt_path(const std::string& path, const crypto::key_resolver& keys);

bytes read_file(const std::string& path);
void write_file(const std::string& path, const bytes& content);

// Where each chunk sits in a well-formed file.
struct chunk_pos {
  std::size_t offset = 0;  // of the framing
  std::uint32_t length = 0;
  std::uint8_t flags = 0;
  std::size_t end() const { return offset + 5 + length + 16; }
};
std::vector<chunk_pos> parse_chunks(const bytes& file);

bool contains(const bytes& haystack, const std::uint8_t* needle, std::size_t size);

}  // namespace ccrec::test
