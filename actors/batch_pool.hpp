// batch_pool: write-batch buffers that go round instead of being freed.
//
// The media thread fills one buffer per recording and hands it to the
// recording's writer every few hundred milliseconds; thousands of calls make
// that thousands of allocations a second on one thread and frees on others,
// which spreads a busy engine's heap (and its resident memory) far beyond
// what is live. Writers give each buffer back once its bytes are in the
// file, wiped, and the media thread takes it again: the same few buffers per
// call, in steady state no allocation at all.
//
// Process-wide and thread-safe (one mutex, a few thousand operations a
// second). Holds plain byte vectors only, so it outlives any actor system.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ccrec::batch_pool {

// Capacity of buffers kept for reuse at most: a quarter second of a G.711
// call is under 5 KB. Larger ones (a burst, a screen stream) are freed
// instead: kept, every buffer would in time have been through a burst, and
// the pages a burst filled would stay resident for the life of the engine.
inline constexpr std::size_t max_kept_capacity = 8 * 1024;
inline constexpr std::size_t max_kept_buffers = 8192;

// An empty buffer with at least `capacity` bytes reserved.
std::vector<std::uint8_t> take(std::size_t capacity);

// Wipes `buffer` (it held plaintext media) and keeps it for the next take().
void give(std::vector<std::uint8_t>&& buffer);

// Buffers waiting for reuse (for tests and status).
std::size_t kept();

}  // namespace ccrec::batch_pool
