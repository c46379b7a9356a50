#include "actors/batch_pool.hpp"

#include <sodium.h>

#include <mutex>

namespace ccrec::batch_pool {

namespace {

struct pool {
  std::mutex mutex;
  std::vector<std::vector<std::uint8_t>> buffers;
};

pool& instance() {
  static pool p;
  return p;
}

}  // namespace

std::vector<std::uint8_t> take(std::size_t capacity) {
  std::vector<std::uint8_t> out;
  {
    auto& p = instance();
    std::lock_guard<std::mutex> lock{p.mutex};
    if (!p.buffers.empty()) {
      out = std::move(p.buffers.back());
      p.buffers.pop_back();
    }
  }
  out.reserve(capacity);
  return out;
}

void give(std::vector<std::uint8_t>&& buffer) {
  if (buffer.capacity() == 0 || buffer.capacity() > max_kept_capacity)
    return;
  // Plaintext media must not linger in a buffer waiting for its next use.
  sodium_memzero(buffer.data(), buffer.size());
  buffer.clear();

  auto& p = instance();
  std::lock_guard<std::mutex> lock{p.mutex};
  if (p.buffers.size() < max_kept_buffers)
    p.buffers.push_back(std::move(buffer));
}

std::size_t kept() {
  auto& p = instance();
  std::lock_guard<std::mutex> lock{p.mutex};
  return p.buffers.size();
}

}  // namespace ccrec::batch_pool
