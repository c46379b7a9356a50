// wiped_buffer: a large working buffer for plaintext (internal to crypto/).
//
// Chunk buffers hold plaintext media for a moment, and a busy engine has
// thousands of them. sodium_malloc would mlock each one (far past
// RLIMIT_MEMLOCK) and cost several mappings per buffer; this is one
// anonymous mapping, excluded from core dumps (MADV_DONTDUMP) and wiped
// before it is unmapped. Callers wipe the plaintext they are done with
// earlier. Not locked: it may be swapped (use encrypted swap). One owner,
// one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/result.hpp"

namespace ccrec::crypto::detail {

class wiped_buffer {
 public:
  wiped_buffer() = default;
  // Fails with "out_of_memory" when the mapping cannot be made.
  static result<wiped_buffer> allocate(std::size_t size);
  ~wiped_buffer();
  wiped_buffer(wiped_buffer&& other) noexcept;
  wiped_buffer& operator=(wiped_buffer&& other) noexcept;
  wiped_buffer(const wiped_buffer&) = delete;
  wiped_buffer& operator=(const wiped_buffer&) = delete;

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void release();

  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_ = 0;
};

}  // namespace ccrec::crypto::detail
