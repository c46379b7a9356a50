// key_export: master keys sealed under a passphrase, for backup and
// disaster recovery (the CCKEYX format, docs/keys.md).
//
// A key export is a versioned file: a header (magic "CCKEYX", version, the
// Argon2id salt and cost, a nonce, a key commitment and a header checksum)
// and one XChaCha20-Poly1305 box holding every key, with the whole header
// as associated data. Wrong passphrase, damage and truncation are told
// apart and reported as different error codes; nothing is released from a
// file that does not authenticate.
//
// Knows no actors and no database: callers hand in keys already unwrapped
// (in guarded memory) and get them back the same way. Plain functions,
// safe to call from any thread; each call is independent. Deriving the
// passphrase key is deliberately slow (Argon2id, 256 MiB by default).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "crypto/secret.hpp"

namespace ccrec::crypto {

inline constexpr char key_export_magic[6] = {'C', 'C', 'K', 'E', 'Y', 'X'};
inline constexpr std::uint8_t key_export_version = 1;
inline constexpr std::size_t key_export_header_size = 132;
// Larger files are refused before anything is allocated for them.
inline constexpr std::size_t key_export_max_bytes = 64u * 1024 * 1024;

// One master key as it travels in an export.
struct exported_key {
  std::int64_t id = 0;  // the id recordings name in their CCENX header
  std::int64_t created_ms = 0;
  std::string status;       // "active", "retired", "inactive"
  std::string fingerprint;  // key_fingerprint(key), checked on open
  secret_bytes key;
};

// Argon2id cost, stored in the header so that a file opens with the cost it
// was sealed with.
struct export_kdf_limits {
  std::uint64_t opslimit = 0;
  std::uint64_t memlimit = 0;  // bytes

  static export_kdf_limits moderate();   // libsodium MODERATE: 3 passes, 256 MiB
  static export_kdf_limits for_tests();  // 1 pass, 8 MiB; test suites only
};

// Seals `keys` under `passphrase`. Fails with "passphrase_missing" (empty),
// "bad_export_params" (cost outside what open accepts), "export_bad_key"
// (a key with an id <= 0, a status or fingerprint that does not fit, or a
// fingerprint that is not the key's), "export_too_large", or
// "kdf_failed" (Argon2id could not get its memory).
result<std::vector<std::uint8_t>> seal_key_export(const std::vector<exported_key>& keys,
                                                  const secret_bytes& passphrase,
                                                  const export_kdf_limits& limits);

// Opens a sealed export. Checks, in this order, and stops at the first
// failure:
//   "export_truncated"            shorter than its header says
//   "export_bad_magic"            not a ccrec key export
//   "export_unsupported_version"  a version this build does not read
//   "export_damaged"              header checksum, box or contents wrong,
//                                 or bytes after the box
//   "bad_export_params"           an Argon2id cost outside the accepted range
//   "passphrase_missing"          empty passphrase
//   "wrong_passphrase"            the key commitment does not match
//   "kdf_failed"                  Argon2id could not get its memory
result<std::vector<exported_key>> open_key_export(const std::vector<std::uint8_t>& file,
                                                  const secret_bytes& passphrase);

// The fields of the header, readable without the passphrase (for people
// and tests). Fails like open_key_export up to the checksum.
struct key_export_header {
  std::uint8_t version = 0;
  export_kdf_limits limits;
  std::uint32_t sealed_bytes = 0;  // box size, tag included
};
result<key_export_header> read_key_export_header(const std::vector<std::uint8_t>& file);

// Writes `bytes` to `path`, created exclusively (an existing file is never
// replaced) with mode 0600, and syncs it. On failure the partial file is
// removed. Fails with "export_exists" or "export_io".
result<void> write_key_export_file(const std::string& path, const std::vector<std::uint8_t>& bytes);

// Reads a whole export file. Fails with "export_io", or "export_too_large"
// above key_export_max_bytes.
result<std::vector<std::uint8_t>> read_key_export_file(const std::string& path);

}  // namespace ccrec::crypto
