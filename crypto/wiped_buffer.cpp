#include "crypto/wiped_buffer.hpp"

#include <sodium.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace ccrec::crypto::detail {

namespace {

std::size_t page_round(std::size_t size) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return (size + page - 1) / page * page;
}

}  // namespace

result<wiped_buffer> wiped_buffer::allocate(std::size_t size) {
  wiped_buffer b;
  if (size == 0)
    return b;

  const std::size_t mapped = page_round(size);
  void* p = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return make_error("out_of_memory", "cannot map a " + std::to_string(size) +
                                           "-byte buffer: " + std::strerror(errno));
  }
  // Best effort: a kernel without MADV_DONTDUMP still gets a working buffer.
  (void)madvise(p, mapped, MADV_DONTDUMP);

  b.data_ = static_cast<std::uint8_t*>(p);
  b.size_ = size;
  b.mapped_ = mapped;
  return b;
}

wiped_buffer::~wiped_buffer() {
  release();
}

wiped_buffer::wiped_buffer(wiped_buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)) {}

wiped_buffer& wiped_buffer::operator=(wiped_buffer&& other) noexcept {
  if (this == &other)
    return *this;

  release();
  data_ = std::exchange(other.data_, nullptr);
  size_ = std::exchange(other.size_, 0);
  mapped_ = std::exchange(other.mapped_, 0);
  return *this;
}

void wiped_buffer::release() {
  if (data_ == nullptr)
    return;

  sodium_memzero(data_, mapped_);
  munmap(data_, mapped_);
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
}

}  // namespace ccrec::crypto::detail
