#include "simulators/media_call.hpp"

#include <algorithm>
#include <limits>

namespace ccrec::pbxsim {

std::int64_t media_call::first_time_ns() const {
  std::int64_t first = std::numeric_limits<std::int64_t>::max();
  for (const auto& leg : legs) {
    if (!leg.packets.empty())
      first = std::min(first, leg.packets.front().time_ns);
  }
  return first == std::numeric_limits<std::int64_t>::max() ? 0 : first;
}

std::int64_t media_call::last_time_ns() const {
  std::int64_t last = std::numeric_limits<std::int64_t>::min();
  for (const auto& leg : legs) {
    for (const auto& p : leg.packets)
      last = std::max(last, p.time_ns);
  }
  return last == std::numeric_limits<std::int64_t>::min() ? 0 : last;
}

std::size_t media_call::packet_count() const {
  std::size_t n = 0;
  for (const auto& leg : legs)
    n += leg.packets.size();
  return n;
}

}  // namespace ccrec::pbxsim
