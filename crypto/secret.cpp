#include "crypto/secret.hpp"

#include <sodium.h>

#include <cstring>
#include <new>
#include <stdexcept>
#include <utility>

namespace ccrec::crypto {

// sodium_malloc (libsodium 1.0.18 as built by Debian 12) puts the bytes at
// the end of their own page-aligned region between guard pages, with a
// canary before them, and calls sodium_mlock on the region, which does
// madvise(MADV_DONTDUMP) and mlock: /proc/self/smaps shows the flags "dd"
// and "lo" on it (tests/crypto checks "dd"). mlock fails silently past
// RLIMIT_MEMLOCK; the DONTDUMP advice stays. sodium_free checks the
// canary, wipes (sodium_munlock zeroes) and unmaps.
secret_bytes::secret_bytes(std::size_t size) {
  if (size == 0)
    return;

  // sodium_malloc needs sodium_init (it learns the page size there), and
  // keys may be built before anyone called initialise(). Idempotent.
  if (sodium_init() < 0)
    throw std::runtime_error("libsodium failed to initialise");
  void* p = sodium_malloc(size);
  if (p == nullptr)
    throw std::bad_alloc();
  sodium_memzero(p, size);  // sodium_malloc fills with a marker, not zeros
  data_ = static_cast<std::uint8_t*>(p);
  size_ = size;
}

secret_bytes::~secret_bytes() {
  if (data_ != nullptr)
    sodium_free(data_);
}

secret_bytes::secret_bytes(secret_bytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

secret_bytes& secret_bytes::operator=(secret_bytes&& other) noexcept {
  if (this == &other)
    return *this;

  if (data_ != nullptr)
    sodium_free(data_);
  data_ = std::exchange(other.data_, nullptr);
  size_ = std::exchange(other.size_, 0);
  return *this;
}

secret_bytes secret_bytes::random(std::size_t size) {
  secret_bytes s(size);
  if (size > 0)
    randombytes_buf(s.data_, size);
  return s;
}

secret_bytes secret_bytes::copy_of(const std::uint8_t* data, std::size_t size) {
  secret_bytes s(size);
  if (size > 0)
    std::memcpy(s.data_, data, size);
  return s;
}

result<void> initialise() {
  // sodium_init is itself thread-safe and idempotent (returns 1 when
  // already done), so no local once-flag is needed.
  if (sodium_init() < 0) {
    return make_error("sodium_init_failed", "libsodium failed to initialise");
  }
  if (crypto_aead_aes256gcm_is_available() == 0) {
    return make_error("aes_unavailable",
                      "this CPU lacks the AES-NI and PCLMUL instructions that AES-256-GCM "
                      "needs, so ccrec cannot encrypt or decrypt recordings on this machine");
  }
  return {};
}

}  // namespace ccrec::crypto
