#include "crypto/key_wrap.hpp"

#include <sodium.h>

#include <new>
#include <string>

namespace ccrec::crypto {

namespace {

constexpr std::size_t nonce_bytes = crypto_aead_aes256gcm_NPUBBYTES;
constexpr std::size_t tag_bytes = crypto_aead_aes256gcm_ABYTES;

// The fingerprint is keyed BLAKE2b (default 32-byte output) of this label,
// cut to its first 8 bytes.
constexpr char fingerprint_label[] = "ccrec key fingerprint v1";
constexpr std::size_t fingerprint_bytes = 8;

// Argon2id cost for the passphrase KEK. Tests use the minimum passes and
// 8 MiB (libsodium's floor is 8 KiB; 8 MiB keeps the test meaningful and
// still takes only milliseconds).
constexpr unsigned long long test_opslimit = crypto_pwhash_OPSLIMIT_MIN;
constexpr std::size_t test_memlimit = 8u * 1024 * 1024;

const auto* as_bytes(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

class passphrase_kek_provider final : public kek_provider {
 public:
  passphrase_kek_provider(secret_bytes secret, bool fast_for_tests)
      : secret_(std::move(secret)),
        opslimit_(fast_for_tests ? test_opslimit : crypto_pwhash_OPSLIMIT_MODERATE),
        memlimit_(fast_for_tests ? test_memlimit : crypto_pwhash_MEMLIMIT_MODERATE) {}

  std::string name() const override { return "passphrase-argon2id"; }

  result<secret_bytes> kek(const std::vector<std::uint8_t>& salt) override {
    if (secret_.empty()) {
      return make_error("kek_secret_missing",
                        "no operator secret was given to derive the key-encrypting key from");
    }
    if (salt.size() != crypto_pwhash_SALTBYTES) {
      return make_error("bad_salt", "the KEK salt is " + std::to_string(salt.size()) +
                                        " bytes, expected " +
                                        std::to_string(crypto_pwhash_SALTBYTES));
    }
    result<void> ready = initialise();
    if (!ready)
      return ready.error();

    secret_bytes out(key_bytes);
    if (crypto_pwhash(out.data(), out.size(), reinterpret_cast<const char*>(secret_.data()),
                      secret_.size(), salt.data(), opslimit_, memlimit_,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
      return make_error("kek_derivation_failed",
                        "Argon2id could not derive the key-encrypting key (out of memory?)");
    }
    return out;
  }

 private:
  secret_bytes secret_;
  unsigned long long opslimit_;
  std::size_t memlimit_;
};

}  // namespace

result<std::vector<std::uint8_t>> wrap_key(const secret_bytes& kek, const secret_bytes& key,
                                           const std::string& context) {
  if (kek.size() != key_bytes) {
    return make_error("bad_key", "a KEK must be " + std::to_string(key_bytes) + " bytes");
  }
  if (key.empty())
    return make_error("bad_key", "refusing to wrap an empty key");
  result<void> ready = initialise();
  if (!ready)
    return ready.error();

  std::vector<std::uint8_t> wrapped(nonce_bytes + key.size() + tag_bytes);
  randombytes_buf(wrapped.data(), nonce_bytes);
  crypto_aead_aes256gcm_encrypt_detached(
      wrapped.data() + nonce_bytes, wrapped.data() + nonce_bytes + key.size(), nullptr, key.data(),
      key.size(), as_bytes(context), context.size(), nullptr, wrapped.data(), kek.data());
  return wrapped;
}

result<secret_bytes> unwrap_key(const secret_bytes& kek, const std::vector<std::uint8_t>& wrapped,
                                const std::string& context) {
  if (kek.size() != key_bytes) {
    return make_error("bad_key", "a KEK must be " + std::to_string(key_bytes) + " bytes");
  }
  if (wrapped.size() <= nonce_bytes + tag_bytes) {
    return make_error("unwrap_failed", "wrapped key for \"" + context + "\" is too short (" +
                                           std::to_string(wrapped.size()) + " bytes)");
  }
  result<void> ready = initialise();
  if (!ready)
    return ready.error();

  const std::size_t size = wrapped.size() - nonce_bytes - tag_bytes;
  try {
    secret_bytes key(size);
    if (crypto_aead_aes256gcm_decrypt_detached(key.data(), nullptr, wrapped.data() + nonce_bytes,
                                               size, wrapped.data() + nonce_bytes + size,
                                               as_bytes(context), context.size(), wrapped.data(),
                                               kek.data()) != 0) {
      return make_error("unwrap_failed", "wrapped key for \"" + context +
                                             "\" does not unwrap: wrong KEK, wrong context or "
                                             "damaged");
    }
    return key;
  } catch (const std::bad_alloc&) {
    return make_error("out_of_memory", "no guarded memory to unwrap a key");
  }
}

std::string key_fingerprint(const secret_bytes& key) {
  if (key.empty() || !initialise())
    return "";

  // BLAKE2b takes keys of 16 to 64 bytes; other sizes are hashed to 32
  // bytes first so every key has a fingerprint.
  secret_bytes hash_key(crypto_generichash_KEYBYTES);
  const bool usable = key.size() >= crypto_generichash_KEYBYTES_MIN &&
                      key.size() <= crypto_generichash_KEYBYTES_MAX;
  if (usable) {
    hash_key = secret_bytes::copy_of(key.data(), key.size());
  } else {
    crypto_generichash(hash_key.data(), hash_key.size(), key.data(), key.size(), nullptr, 0);
  }

  std::uint8_t digest[crypto_generichash_BYTES];
  crypto_generichash(digest, sizeof(digest),
                     reinterpret_cast<const std::uint8_t*>(fingerprint_label),
                     sizeof(fingerprint_label) - 1, hash_key.data(), hash_key.size());
  char hex[fingerprint_bytes * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), digest, fingerprint_bytes);
  return hex;
}

std::unique_ptr<kek_provider> make_passphrase_kek_provider(secret_bytes secret,
                                                           bool fast_for_tests) {
  return std::make_unique<passphrase_kek_provider>(std::move(secret), fast_for_tests);
}

std::size_t passphrase_salt_bytes() {
  return crypto_pwhash_SALTBYTES;
}

}  // namespace ccrec::crypto
