// Counts heap allocations to check that the per-packet path of leg_tracker
// does not allocate once warmed up (thousands of legs at 50 packets/s).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "media/leg_tracker.hpp"

namespace {
std::atomic<std::uint64_t> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size))
    return p;
  throw std::bad_alloc();
}
// Out of line so GCC does not pair the inlined free() with operator new and
// warn about a mismatch that is, here, the point of the replacement.
__attribute__((noinline)) void operator delete(void* p) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

using namespace ccrec::media;

TEST_CASE("steady-state push, reorder and release do not allocate", "[leg_tracker][alloc]") {
  constexpr std::int64_t ms = 1'000'000;
  std::uint64_t emitted = 0;
  const frame_sink sink = [&emitted](const placed_frame&) { ++emitted; };
  std::vector<std::uint8_t> payload(160, 0x55);
  rtp_packet p;
  p.payload = payload.data();
  p.payload_size = payload.size();
  p.ssrc = 42;
  leg_tracker tracker(0);

  // Every 5th pair of packets swaps places, one in 50 is duplicated: all the
  // held-packet paths run, with wrap of the sequence number on the way.
  auto run = [&](int from, int to) {
    for (int k = from; k < to; ++k) {
      const int n = (k % 5 == 1) ? k + 1 : (k % 5 == 2) ? k - 1 : k;
      p.seq = static_cast<std::uint16_t>(60000 + n);
      p.timestamp = static_cast<std::uint32_t>(160 * n);
      tracker.push(p, k * 20 * ms, sink);
      if (k % 50 == 0)
        tracker.push(p, k * 20 * ms + ms, sink);
      tracker.poll(k * 20 * ms + 10 * ms, sink);
    }
  };
  run(0, 100);  // warm-up: slot buffers reach their size
  const std::uint64_t before = allocations.load();
  run(100, 20000);
  const std::uint64_t after = allocations.load();
  tracker.flush(sink);

  CHECK(after - before == 0);
  // The counter itself works: a vector of the same size does allocate.
  const std::uint64_t probe = allocations.load();
  std::vector<std::uint8_t> copy(payload);
  CHECK(allocations.load() == probe + 1);
  CHECK(emitted == 20000);
  CHECK(tracker.counters().duplicates == 400);
  CHECK(tracker.counters().reordered == 4000);
  CHECK(tracker.counters().seq_wraps == 1);
}

TEST_CASE("a second stream dropped as foreign does not allocate", "[leg_tracker][alloc]") {
  constexpr std::int64_t ms = 1'000'000;
  std::uint64_t emitted = 0;
  const frame_sink sink = [&emitted](const placed_frame&) { ++emitted; };
  std::vector<std::uint8_t> payload(160, 0x55);
  rtp_packet own;
  own.payload = payload.data();
  own.payload_size = payload.size();
  own.ssrc = 0xCCC;
  rtp_packet stray = own;
  stray.ssrc = 0xAAA;
  leg_tracker tracker(0);

  // The stray stream lands between every two packets of the leg's own.
  auto run = [&](int from, int to) {
    for (int k = from; k < to; ++k) {
      own.seq = static_cast<std::uint16_t>(k);
      own.timestamp = static_cast<std::uint32_t>(160 * k);
      tracker.push(own, k * 20 * ms, sink);
      stray.seq = static_cast<std::uint16_t>(9000 + k);
      stray.timestamp = static_cast<std::uint32_t>(77 + 160 * k);
      tracker.push(stray, k * 20 * ms + 10 * ms, sink);
    }
  };
  run(0, 100);
  const std::uint64_t before = allocations.load();
  run(100, 10000);
  CHECK(allocations.load() - before == 0);
  CHECK(emitted == 10000);
  CHECK(tracker.counters().foreign_ssrc == 10000);
  CHECK(tracker.counters().ssrc_changes == 0);
}
