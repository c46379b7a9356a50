// secret_bytes: key material in guarded memory.
//
// Backed by sodium_malloc: guard pages, a canary, mlock'd where the platform
// allows, excluded from core dumps (MADV_DONTDUMP) and wiped on destruction.
// Move-only; never printed. Thread-safe to read from several threads once
// built; not safe to mutate concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace ccrec::crypto {

// Sizes of the keys used everywhere in ccrec.
inline constexpr std::size_t key_bytes = 32;  // AES-256

class secret_bytes {
 public:
  secret_bytes() = default;
  // Zero-filled, guarded. Size 0 is allowed (data() is then nullptr).
  // Throws std::bad_alloc when guarded memory cannot be had. Initialises
  // libsodium itself if needed, so it is safe before initialise().
  explicit secret_bytes(std::size_t size);
  ~secret_bytes();
  secret_bytes(secret_bytes&& other) noexcept;
  secret_bytes& operator=(secret_bytes&& other) noexcept;
  secret_bytes(const secret_bytes&) = delete;
  secret_bytes& operator=(const secret_bytes&) = delete;

  // Fresh random bytes from the OS CSPRNG.
  static secret_bytes random(std::size_t size);
  // Copies `size` bytes from `data` into guarded memory. The caller wipes
  // its own copy.
  static secret_bytes copy_of(const std::uint8_t* data, std::size_t size);

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// Initialises libsodium and checks that AES-256-GCM is usable (it needs
// AES-NI and PCLMUL). Fails with code "aes_unavailable" and a sentence that
// says so plainly when the CPU lacks them. Idempotent, thread-safe.
result<void> initialise();

}  // namespace ccrec::crypto
