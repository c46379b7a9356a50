#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "media/leg_tracker.hpp"

using namespace ccrec::media;

namespace {

constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t start = 5'000 * ms;  // recording start on the test clock
constexpr std::size_t frame_bytes = 160;    // 20 ms of G.711
constexpr std::uint32_t samples_per_frame = 160;
constexpr std::int64_t frame_ns = 20 * ms;

struct emitted {
  std::uint64_t offset;
  std::uint32_t ssrc;
  std::uint8_t payload_type;
  std::size_t size;
  std::uint8_t first_byte;  // identifies which packet this was
};

// Drives one tracker and records what it emits. Each packet's payload is
// filled with a tag byte so the test can tell packets apart.
class harness {
 public:
  explicit harness(tracker_options opts = {}) : tracker_(start, opts) {
    sink_ = [this](const placed_frame& f) {
      out.push_back({f.sample_offset, f.ssrc, f.payload_type, f.size, f.data[0]});
    };
  }

  void push(std::uint16_t seq, std::uint32_t ts, std::int64_t arrival, std::uint8_t tag,
            std::uint32_t ssrc = 0x1111, std::uint8_t pt = pt_pcmu,
            std::size_t size = frame_bytes) {
    payload_.assign(size, tag);
    rtp_packet p;
    p.payload_type = pt;
    p.seq = seq;
    p.timestamp = ts;
    p.ssrc = ssrc;
    p.payload = payload_.data();
    p.payload_size = payload_.size();
    tracker_.push(p, arrival, sink_);
    // The tracker must have copied what it holds: scribble over the buffer.
    payload_.assign(size, 0xEE);
  }
  // `n` packets of a steady stream, one per 20 ms: sequence number,
  // timestamp and arrival advance together from the first packet's; the
  // tags count from 0.
  void push_steady(int n, std::uint16_t seq0, std::uint32_t ts0, std::int64_t arrival0,
                   std::uint32_t ssrc = 0x1111) {
    for (int k = 0; k < n; ++k)
      push(static_cast<std::uint16_t>(seq0 + k), ts0 + samples_per_frame * k,
           arrival0 + k * frame_ns, static_cast<std::uint8_t>(k), ssrc);
  }
  void poll(std::int64_t now) { tracker_.poll(now, sink_); }
  void flush() { tracker_.flush(sink_); }
  const leg_counters& counters() const { return tracker_.counters(); }

  std::vector<emitted> out;

 private:
  leg_tracker tracker_;
  frame_sink sink_;
  std::vector<std::uint8_t> payload_;
};

bool counters_equal(const leg_counters& a, const leg_counters& b) {
  return a.packets == b.packets && a.duplicates == b.duplicates && a.reordered == b.reordered &&
         a.late == b.late && a.ssrc_changes == b.ssrc_changes && a.ts_jumps == b.ts_jumps &&
         a.seq_wraps == b.seq_wraps && a.unsupported_payload == b.unsupported_payload &&
         a.foreign_ssrc == b.foreign_ssrc;
}

std::vector<std::uint8_t> tags(const std::vector<emitted>& out) {
  std::vector<std::uint8_t> t;
  for (const auto& e : out)
    t.push_back(e.first_byte);
  return t;
}

std::vector<std::uint64_t> offsets(const std::vector<emitted>& out) {
  std::vector<std::uint64_t> o;
  for (const auto& e : out)
    o.push_back(e.offset);
  return o;
}

}  // namespace

TEST_CASE("in-order stream is placed at anchor + 160 k", "[leg_tracker]") {
  harness h;
  // First packet arrives 40 ms after the start: anchor 320 samples. Later
  // arrivals jitter by up to 7 ms, which must not move anything.
  const std::int64_t jitter[5] = {0, 3 * ms, -2 * ms, 7 * ms, 1 * ms};
  for (int k = 0; k < 50; ++k) {
    const std::int64_t arrival = start + 40 * ms + k * 20 * ms + (k == 0 ? 0 : jitter[k % 5]);
    h.push(static_cast<std::uint16_t>(1000 + k), 5000 + 160u * k, arrival,
           static_cast<std::uint8_t>(k));
  }
  REQUIRE(h.out.size() == 50);
  for (int k = 0; k < 50; ++k) {
    CHECK(h.out[k].offset == 320u + 160u * k);
    CHECK(h.out[k].first_byte == k);
    CHECK(h.out[k].size == frame_bytes);
    CHECK(h.out[k].ssrc == 0x1111u);
    CHECK(h.out[k].payload_type == pt_pcmu);
  }
  leg_counters want;
  want.packets = 50;
  CHECK(counters_equal(h.counters(), want));
}

TEST_CASE("anchor rounds arrival to the nearest sample and clamps at zero", "[leg_tracker]") {
  harness before;
  before.push(1, 0, start - 30 * ms, 1);
  REQUIRE(before.out.size() == 1);
  CHECK(before.out[0].offset == 0);

  harness round_down;
  round_down.push(1, 0, start + 62'499, 1);  // 0.49999 samples
  CHECK(round_down.out.at(0).offset == 0);

  harness round_up;
  round_up.push(1, 0, start + 187'500, 1);  // 1.5 samples
  CHECK(round_up.out.at(0).offset == 2);
}

TEST_CASE("duplicates are dropped and counted", "[leg_tracker]") {
  harness h;
  h.push(1, 0, start, 1);
  h.push(2, 160, start + 20 * ms, 2);
  h.push(2, 160, start + 21 * ms, 2);
  h.push(3, 320, start + 40 * ms, 3);
  h.push(1, 0, start + 45 * ms, 1);
  h.push(3, 320, start + 46 * ms, 3);
  CHECK(tags(h.out) == std::vector<std::uint8_t>{1, 2, 3});
  CHECK(offsets(h.out) == std::vector<std::uint64_t>{0, 160, 320});
  leg_counters want;
  want.packets = 3;
  want.duplicates = 3;
  CHECK(counters_equal(h.counters(), want));
}

TEST_CASE("a duplicate of a held packet is dropped", "[leg_tracker]") {
  harness h;
  h.push(1, 0, start, 1);
  h.push(3, 320, start + 40 * ms, 3);
  h.push(3, 320, start + 41 * ms, 3);
  h.push(2, 160, start + 42 * ms, 2);
  CHECK(tags(h.out) == std::vector<std::uint8_t>{1, 2, 3});
  CHECK(h.counters().duplicates == 1);
  CHECK(h.counters().reordered == 1);
}

TEST_CASE("three reordered packets come out in order at their offsets", "[leg_tracker]") {
  harness h;
  h.push(100, 8000, start + 10 * ms, 0);
  h.push(103, 8480, start + 30 * ms, 3);
  h.push(102, 8320, start + 35 * ms, 2);
  CHECK(h.out.size() == 1);  // 101 is still missing: both held
  h.push(101, 8160, start + 40 * ms, 1);
  CHECK(tags(h.out) == std::vector<std::uint8_t>{0, 1, 2, 3});
  h.push(104, 8640, start + 90 * ms, 4);
  CHECK(tags(h.out) == std::vector<std::uint8_t>{0, 1, 2, 3, 4});
  CHECK(offsets(h.out) == std::vector<std::uint64_t>{80, 240, 400, 560, 720});
  leg_counters want;
  want.packets = 5;
  want.reordered = 2;  // 102 and 101 arrived after a higher number
  CHECK(counters_equal(h.counters(), want));
}

TEST_CASE("sequence wrap 65533..2 is continuous", "[leg_tracker]") {
  harness h;
  const std::uint16_t seqs[6] = {65533, 65534, 65535, 0, 1, 2};
  for (int k = 0; k < 6; ++k) {
    h.push(seqs[k], 1000 + 160u * k, start + k * 20 * ms, static_cast<std::uint8_t>(k));
  }
  CHECK(offsets(h.out) == std::vector<std::uint64_t>{0, 160, 320, 480, 640, 800});
  leg_counters want;
  want.packets = 6;
  want.seq_wraps = 1;
  CHECK(counters_equal(h.counters(), want));
}

TEST_CASE("a packet from before the wrap, reordered after it, lands right", "[leg_tracker]") {
  harness h;
  h.push(65534, 0, start, 0);
  h.push(0, 320, start + 40 * ms, 2);
  h.push(65535, 160, start + 41 * ms, 1);
  h.push(1, 480, start + 60 * ms, 3);
  CHECK(tags(h.out) == std::vector<std::uint8_t>{0, 1, 2, 3});
  CHECK(offsets(h.out) == std::vector<std::uint64_t>{0, 160, 320, 480});
  CHECK(h.counters().seq_wraps == 1);
  CHECK(h.counters().reordered == 1);
}

TEST_CASE("timestamp wrap past 2^32 is continuous", "[leg_tracker]") {
  harness h;
  const std::uint32_t ts0 = 0xFFFFFFFFu - 400;  // wraps between packets 2 and 3
  h.push_steady(6, 7, ts0, start + 100 * ms);
  CHECK(offsets(h.out) == std::vector<std::uint64_t>{800, 960, 1120, 1280, 1440, 1600});
  CHECK(h.counters().ts_jumps == 0);
  CHECK(h.counters().packets == 6);
}

TEST_CASE("SSRC change re-anchors on arrival time", "[leg_tracker]") {
  harness h;
  h.push_steady(10, 500, 90000, start, 0xAAAA);
  // The old source fell silent after 180 ms; the new one starts 300 ms in
  // (after the quiet window), with unrelated numbers.
  h.push(40000, 123456789, start + 300 * ms, 100, 0xBBBB, pt_pcma);
  h.push(40001, 123456789 + 160, start + 320 * ms, 101, 0xBBBB, pt_pcma);
  REQUIRE(h.out.size() == 12);
  CHECK(h.out[9].offset == 1440);
  CHECK(h.out[10].offset == 2400);
  CHECK(h.out[10].ssrc == 0xBBBBu);
  CHECK(h.out[10].payload_type == pt_pcma);
  CHECK(h.out[11].offset == 2560);
  leg_counters want;
  want.packets = 12;
  want.ssrc_changes = 1;
  CHECK(counters_equal(h.counters(), want));
}

TEST_CASE("SSRC change flushes what the old source had held", "[leg_tracker]") {
  harness h;
  h.push(1, 0, start, 1, 0xAAAA);
  h.push(3, 320, start + 40 * ms, 3, 0xAAAA);  // held, 2 never comes
  h.push(9, 0, start + 140 * ms, 9, 0xBBBB);   // the old source is quiet for 100 ms
  CHECK(tags(h.out) == std::vector<std::uint8_t>{1, 3, 9});
  CHECK(offsets(h.out) == std::vector<std::uint64_t>{0, 320, 1120});
}

TEST_CASE("stragglers of the previous SSRC right after a switch are late", "[leg_tracker]") {
  harness h;
  h.push(1, 0, start, 1, 0xAAAA);
  h.push(2, 160, start + 20 * ms, 2, 0xAAAA);
  h.push(50, 7000, start + 120 * ms, 50, 0xBBBB);  // 100 ms after the old source's last
  h.push(3, 320, start + 125 * ms, 3, 0xAAAA);
  h.push(51, 7160, start + 140 * ms, 51, 0xBBBB);
  CHECK(tags(h.out) == std::vector<std::uint8_t>{1, 2, 50, 51});
  CHECK(h.counters().late == 1);
  CHECK(h.counters().ssrc_changes == 1);
  CHECK(h.counters().foreign_ssrc == 0);
}

TEST_CASE("new SSRC arriving early never overlaps emitted audio", "[leg_tracker]") {
  harness h;
  h.push(1, 0, start, 1, 0xAAAA);
  // Timestamps run 200 ms ahead of arrival (within max_ts_jump_ms): the
  // second packet covers 1760..1920.
  h.push(2, 1760, start + 20 * ms, 2, 0xAAAA);
  h.push(9, 0, start + 130 * ms, 9, 0xBBBB);  // arrival says 1040
  CHECK(offsets(h.out) == std::vector<std::uint64_t>{0, 1760, 1920});
  CHECK(h.counters().ts_jumps == 0);
}

TEST_CASE("timestamp jump forward by 10 s re-anchors on arrival", "[leg_tracker]") {
  harness h;
  h.push_steady(10, 0, 0, start + 100 * ms);
  // Last packet arrived at 280 ms (offset 2240 by arrival, 2240 by ts). The
  // next arrives 25 ms later but claims to be 10 s further on.
  const std::uint32_t jumped = 160u * 10 + 80000;
  h.push(10, jumped, start + 305 * ms, 10);
  h.push(11, jumped + 160, start + 325 * ms, 11);
  REQUIRE(h.out.size() == 12);
  CHECK(h.out[9].offset == 2240);
  CHECK(h.out[10].offset == 2440);  // 305 ms * 8
  CHECK(h.out[11].offset == 2600);
  leg_counters want;
  want.packets = 12;
  want.ts_jumps = 1;
  CHECK(counters_equal(h.counters(), want));
}

TEST_CASE("forward jump within max_ts_jump_ms keeps the timestamps", "[leg_tracker]") {
  harness h;
  h.push(1, 0, start, 1);
  // 20 ms later by arrival, 900 ms later by timestamp: under the 1 s slack.
  h.push(2, 160 + 7200, start + 20 * ms, 2);
  CHECK(offsets(h.out) == std::vector<std::uint64_t>{0, 7360});
  CHECK(h.counters().ts_jumps == 0);
}

TEST_CASE("backwards jump re-anchors without going back in time", "[leg_tracker]") {
  harness h;
  h.push_steady(10, 0, 50000, start);
  // Emitted audio ends at 1600. The sender resets its clock; its next packet
  // arrives a little early (195 ms = 1560 by arrival): clamped to 1600.
  h.push(10, 100, start + 195 * ms, 10);
  h.push(11, 260, start + 215 * ms, 11);
  REQUIRE(h.out.size() == 12);
  CHECK(h.out[10].offset == 1600);
  CHECK(h.out[11].offset == 1760);
  leg_counters want;
  want.packets = 12;
  want.ts_jumps = 1;
  CHECK(counters_equal(h.counters(), want));
}

TEST_CASE("backwards jump arriving later is placed by arrival", "[leg_tracker]") {
  harness h;
  h.push(1, 50000, start, 1);
  h.push(2, 50160, start + 20 * ms, 2);
  h.push(3, 10, start + 500 * ms, 3);
  CHECK(offsets(h.out) == std::vector<std::uint64_t>{0, 160, 4000});
  CHECK(h.counters().ts_jumps == 1);
}

TEST_CASE("hold: 5 s without packets leaves a gap of exactly 40000 samples", "[leg_tracker]") {
  harness h;
  h.push_steady(10, 0, 0, start);
  const std::uint64_t end_before = h.out.back().offset + h.out.back().size;
  REQUIRE(end_before == 1600);
  // The sender's clock ran on through the hold: ts advanced by 40000 more.
  h.push(10, 160u * 10 + 40000, start + 200 * ms + 5000 * ms, 10);
  REQUIRE(h.out.size() == 11);
  CHECK(h.out[10].offset - end_before == 40000);
  CHECK(h.counters().ts_jumps == 0);
}

TEST_CASE("a packet after its slot was released is late", "[leg_tracker]") {
  harness h;
  h.push(1, 0, start, 1);
  h.push(3, 320, start + 40 * ms, 3);
  h.poll(start + 99 * ms);  // 3 has waited 59 ms
  CHECK(h.out.size() == 1);
  h.poll(start + 100 * ms);  // 60 ms: stop waiting for 2
  CHECK(tags(h.out) == std::vector<std::uint8_t>{1, 3});
  CHECK(h.out[1].offset == 320);

  h.push(2, 160, start + 105 * ms, 2);
  h.push(4, 480, start + 110 * ms, 4);
  CHECK(tags(h.out) == std::vector<std::uint8_t>{1, 3, 4});
  leg_counters want;
  want.packets = 3;
  want.late = 1;
  CHECK(counters_equal(h.counters(), want));
}

TEST_CASE("a later push also ends a wait that has run out", "[leg_tracker]") {
  harness h;
  h.push(1, 0, start, 1);
  h.push(3, 320, start + 40 * ms, 3);
  h.push(5, 640, start + 100 * ms, 5);  // 3 has now waited 60 ms
  CHECK(tags(h.out) == std::vector<std::uint8_t>{1, 3});
  h.poll(start + 160 * ms);
  CHECK(tags(h.out) == std::vector<std::uint8_t>{1, 3, 5});
}

TEST_CASE("a full reorder buffer releases the lowest", "[leg_tracker]") {
  tracker_options opts;
  opts.reorder_packets = 4;
  opts.reorder_ms = 10'000;
  harness h(opts);
  h.push(1, 0, start, 1);
  for (std::uint16_t s = 3; s <= 6; ++s)
    h.push(s, 160u * (s - 1), start + s * ms, s);
  CHECK(h.out.size() == 1);  // four held, 2 missing
  h.push(8, 160u * 7, start + 8 * ms, 8);
  CHECK(tags(h.out) == std::vector<std::uint8_t>{1, 3, 4, 5, 6});
  h.flush();
  CHECK(tags(h.out) == std::vector<std::uint8_t>{1, 3, 4, 5, 6, 8});
  CHECK(offsets(h.out) == std::vector<std::uint64_t>{0, 320, 480, 640, 800, 1120});
}

TEST_CASE("reorder_packets 0 releases everything at once", "[leg_tracker]") {
  tracker_options opts;
  opts.reorder_packets = 0;
  harness h(opts);
  h.push(1, 0, start, 1);
  h.push(3, 320, start + 40 * ms, 3);
  h.push(2, 160, start + 41 * ms, 2);
  CHECK(tags(h.out) == std::vector<std::uint8_t>{1, 3});
  CHECK(h.counters().late == 1);
}

TEST_CASE("non-G.711 payloads are dropped but keep their sequence slot", "[leg_tracker]") {
  harness h;
  h.push(1, 0, start, 101, 0x1111, 101);  // telephone-event before any audio
  h.push(2, 0, start + 20 * ms, 1);
  h.push(3, 160, start + 40 * ms, 13, 0x1111, 13, 1);  // comfort noise
  h.push(4, 320, start + 60 * ms, 3);
  // 4 must not wait for 3: it came, it just has nothing to play.
  CHECK(tags(h.out) == std::vector<std::uint8_t>{1, 3});
  CHECK(offsets(h.out) == std::vector<std::uint64_t>{160, 480});
  h.push(5, 480, start + 80 * ms, 99, 0x2222, 101);  // event from another source
  leg_counters want;
  want.packets = 2;
  want.unsupported_payload = 3;
  CHECK(counters_equal(h.counters(), want));
}

TEST_CASE("flush releases everything held, in order", "[leg_tracker]") {
  harness h;
  h.push(10, 0, start, 10);
  h.push(14, 640, start + 80 * ms, 14);
  h.push(12, 320, start + 81 * ms, 12);
  CHECK(h.out.size() == 1);
  h.flush();
  CHECK(tags(h.out) == std::vector<std::uint8_t>{10, 12, 14});
  CHECK(offsets(h.out) == std::vector<std::uint64_t>{0, 320, 640});
}

TEST_CASE("a moved tracker keeps its state", "[leg_tracker]") {
  std::vector<std::uint64_t> got;
  const frame_sink sink = [&](const placed_frame& f) { got.push_back(f.sample_offset); };
  std::uint8_t payload[frame_bytes] = {};
  rtp_packet p;
  p.payload = payload;
  p.payload_size = frame_bytes;
  p.seq = 1;
  leg_tracker a(start);
  a.push(p, start + 10 * ms, sink);
  leg_tracker b(std::move(a));
  p.seq = 2;
  p.timestamp = 160;
  b.push(p, start + 30 * ms, sink);
  p.seq = 1;
  b.push(p, start + 31 * ms, sink);
  CHECK(got == std::vector<std::uint64_t>{80, 240});
  CHECK(b.counters().duplicates == 1);
}

TEST_CASE("a second stream interleaved with a live one is dropped as foreign", "[leg_tracker]") {
  // A stray sender (SSRC 0xAAA) keeps sending while the leg's own stream
  // (0xCCC) runs: every stray packet lands between two real ones.
  harness h;
  for (int k = 0; k < 100; ++k) {
    const std::int64_t t = start + k * frame_ns;
    h.push(static_cast<std::uint16_t>(7000 + k), 1000 + samples_per_frame * k, t,
           static_cast<std::uint8_t>(k), 0xCCC);
    h.push(static_cast<std::uint16_t>(300 + k), 99000 + samples_per_frame * k, t + 10 * ms, 0x44,
           0xAAA);
  }
  REQUIRE(h.out.size() == 100);
  for (int k = 0; k < 100; ++k) {
    CHECK(h.out[k].ssrc == 0xCCCu);
    CHECK(h.out[k].first_byte == k);
    CHECK(h.out[k].offset == 160u * k);
  }
  leg_counters want;
  want.packets = 100;
  want.foreign_ssrc = 100;
  CHECK(counters_equal(h.counters(), want));
}

TEST_CASE("five foreign packets in mid-call cost no real packet", "[leg_tracker]") {
  harness h;
  h.push_steady(50, 1, 0, start, 0xCCC);
  for (int k = 0; k < 5; ++k)
    h.push(static_cast<std::uint16_t>(900 + k), 555 + samples_per_frame * k,
           start + 49 * frame_ns + (k + 1) * 2 * ms, 0x44, 0xAAA);
  for (int k = 50; k < 100; ++k)
    h.push(static_cast<std::uint16_t>(1 + k), samples_per_frame * k, start + k * frame_ns,
           static_cast<std::uint8_t>(k), 0xCCC);
  REQUIRE(h.out.size() == 100);
  for (int k = 0; k < 100; ++k) {
    CHECK(h.out[k].first_byte == k);
    CHECK(h.out[k].offset == 160u * k);
  }
  leg_counters want;
  want.packets = 100;
  want.foreign_ssrc = 5;
  CHECK(counters_equal(h.counters(), want));
}

TEST_CASE("a new SSRC takes over once the old one is quiet for ssrc_quiet_ms", "[leg_tracker]") {
  tracker_options opts;
  opts.ssrc_quiet_ms = 60;
  harness h{opts};
  h.push_steady(5, 1, 0, start, 0xAAAA);  // last packet at 80 ms
  // 20 and 40 ms after the old stream's last packet: still alive.
  h.push(100, 0, start + 100 * ms, 100, 0xBBBB);
  h.push(101, 160, start + 120 * ms, 101, 0xBBBB);
  // 60 ms: quiet long enough, the new stream owns the leg.
  h.push(102, 320, start + 140 * ms, 102, 0xBBBB);
  h.push(103, 480, start + 160 * ms, 103, 0xBBBB);
  // The old SSRC is now the foreign one (past the straggler window).
  h.push(6, 800, start + 200 * ms, 6, 0xAAAA);
  CHECK(tags(h.out) == std::vector<std::uint8_t>{0, 1, 2, 3, 4, 102, 103});
  CHECK(offsets(h.out) == std::vector<std::uint64_t>{0, 160, 320, 480, 640, 1120, 1280});
  leg_counters want;
  want.packets = 7;
  want.foreign_ssrc = 3;
  want.ssrc_changes = 1;
  CHECK(counters_equal(h.counters(), want));
}

TEST_CASE("a stray stream that locked a fresh leg yields once it falls quiet", "[leg_tracker]") {
  harness h;
  h.push_steady(10, 300, 99000, start, 0xAAA);      // stray, last at 180 ms
  h.push(7000, 1000, start + 100 * ms, 50, 0xCCC);  // real media, stray alive
  h.push(7001, 1160, start + 280 * ms, 51, 0xCCC);  // stray quiet for 100 ms
  h.push(7002, 1320, start + 300 * ms, 52, 0xCCC);
  REQUIRE(h.out.size() == 12);
  CHECK(h.out[10].ssrc == 0xCCCu);
  CHECK(h.out[10].first_byte == 51);
  CHECK(h.out[10].offset == 2240);
  CHECK(h.out[11].offset == 2400);
  CHECK(h.counters().foreign_ssrc == 1);
  CHECK(h.counters().ssrc_changes == 1);
}
