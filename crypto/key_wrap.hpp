// Wrapping keys under other keys, and the key-encrypting-key (KEK) seam.
//
// Master keys live in the database wrapped under a KEK that is never in the
// database nor on disk. A kek_provider hands the engine that KEK; the first
// provider derives it from an operator secret with Argon2id. An HSM
// (PKCS#11) provider can replace it without touching the file format,
// because files only ever name master key ids.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "crypto/secret.hpp"

namespace ccrec::crypto {

// AES-256-GCM wrap: random 12-byte nonce || ciphertext || 16-byte tag.
// `context` is bound as associated data (e.g. "ccrec master key 7"), so a
// wrapped key moved to another row fails to unwrap.
result<std::vector<std::uint8_t>> wrap_key(const secret_bytes& kek, const secret_bytes& key,
                                           const std::string& context);
// Fails with code "unwrap_failed" on a wrong KEK, a wrong context or damage.
result<secret_bytes> unwrap_key(const secret_bytes& kek, const std::vector<std::uint8_t>& wrapped,
                                const std::string& context);

// A short fingerprint of a key that reveals nothing about it (keyed BLAKE2b
// of a fixed label), for logs and for checking that a KEK is the right one.
std::string key_fingerprint(const secret_bytes& key);

class kek_provider {
 public:
  virtual ~kek_provider() = default;
  virtual std::string name() const = 0;  // e.g. "passphrase-argon2id"
  // Returns the KEK. `salt` is the provider's public parameter kept in the
  // database (settings), created on first use by the caller.
  virtual result<secret_bytes> kek(const std::vector<std::uint8_t>& salt) = 0;
};

// Argon2id (crypto_pwhash, MODERATE limits unless `fast_for_tests`).
// Fails with "kek_secret_missing" when `secret` is empty.
std::unique_ptr<kek_provider> make_passphrase_kek_provider(secret_bytes secret,
                                                           bool fast_for_tests = false);

// Size of the salt a passphrase provider expects.
std::size_t passphrase_salt_bytes();

}  // namespace ccrec::crypto
