// batch_pool: buffers go round, small ones only, emptied on return.
#include <catch2/catch.hpp>

#include "actors/batch_pool.hpp"

using namespace ccrec;

TEST_CASE("a returned buffer comes back empty with its room, a large one is let go",
          "[batch_pool]") {
  // Drain whatever earlier tests left, so this one knows what is inside.
  while (batch_pool::kept() > 0)
    (void)batch_pool::take(0);

  auto small = batch_pool::take(4000);
  CHECK(small.empty());
  CHECK(small.capacity() >= 4000);
  small.assign(3000, 0xab);
  const auto* storage = small.data();
  batch_pool::give(std::move(small));
  CHECK(batch_pool::kept() == 1);

  auto again = batch_pool::take(100);
  CHECK(batch_pool::kept() == 0);
  CHECK(again.empty());
  CHECK(again.data() == storage);  // the same memory, reused
  CHECK(again.capacity() >= 4000);

  std::vector<std::uint8_t> large(batch_pool::max_kept_capacity + 1, 0xcd);
  batch_pool::give(std::move(large));
  CHECK(batch_pool::kept() == 0);
  std::vector<std::uint8_t> none;
  batch_pool::give(std::move(none));
  CHECK(batch_pool::kept() == 0);
}
