// End to end over a real capture: pcap -> parse_rtp -> leg_tracker -> raw
// records -> raw_decoder -> wav_renderer, checking every sample lands where
// the capture's own timestamps and arrival times say it should.
#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "media/g711.hpp"
#include "media/leg_tracker.hpp"
#include "media/playback.hpp"
#include "media/raw_format.hpp"
#include "media/rtp.hpp"
#include "tests/support/temp_dir.hpp"

using namespace ccrec::media;

namespace {

using bytes = std::vector<std::uint8_t>;

struct captured {
  std::int64_t arrival_ns;
  std::uint16_t dst_port;
  bytes rtp;
};

std::uint32_t le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
         (std::uint32_t{p[3]} << 24);
}

// Classic little-endian microsecond pcap, Ethernet / IPv4 / UDP only: what
// the shared captures are (see testdata/README.md).
std::vector<captured> read_pcap(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const bytes d(std::istreambuf_iterator<char>(in), {});
  REQUIRE(d.size() >= 24);
  REQUIRE(le32(d.data()) == 0xA1B2C3D4u);
  std::vector<captured> out;
  std::size_t pos = 24;
  while (pos + 16 <= d.size()) {
    const std::uint8_t* rec = d.data() + pos;
    const std::int64_t ns = std::int64_t{le32(rec)} * 1'000'000'000 + le32(rec + 4) * 1000LL;
    const std::size_t len = le32(rec + 8);
    REQUIRE(pos + 16 + len <= d.size());
    const std::uint8_t* ip = rec + 16 + 14;
    const std::size_t ihl = (ip[0] & 0x0F) * 4u;
    const std::uint8_t* udp = ip + ihl;
    const std::size_t udp_len = (udp[4] << 8) | udp[5];
    captured c;
    c.arrival_ns = ns;
    c.dst_port = static_cast<std::uint16_t>((udp[2] << 8) | udp[3]);
    c.rtp.assign(udp + 8, udp + udp_len);
    out.push_back(std::move(c));
    pos += 16 + len;
  }
  return out;
}

struct placed {
  std::uint64_t offset;
  std::uint8_t pt;
  bytes data;
};

}  // namespace

TEST_CASE("a real PCMU call is tracked, recorded and rendered sample-exact", "[capture]") {
  const auto packets = read_pcap(ccrec::test::testdata_dir() + "/pcap/call1_pcmu.pcap");
  REQUIRE(packets.size() == 591 + 593);
  const std::int64_t start = packets.front().arrival_ns;

  // Leg 0: 198.51.100.10:16384 -> 192.0.2.20:40000; leg 1 the other way.
  leg_tracker legs[2] = {leg_tracker(start), leg_tracker(start)};
  std::vector<placed> expected[2];
  bytes stream;
  append_raw_magic(stream);
  const std::string meta = R"({"call_id":"call1"})";
  append_raw_record(stream, record_type::metadata, 0, 0, 0, 0,
                    reinterpret_cast<const std::uint8_t*>(meta.data()), meta.size());

  std::int64_t first_arrival[2] = {-1, -1};
  std::uint32_t first_ts[2] = {0, 0}, last_ts[2] = {0, 0};
  for (const auto& c : packets) {
    rtp_packet p;
    REQUIRE(parse_rtp(c.rtp.data(), c.rtp.size(), p) == rtp_error::none);
    const int leg = c.dst_port == 40000 ? 0 : 1;
    if (first_arrival[leg] < 0) {
      first_arrival[leg] = c.arrival_ns;
      first_ts[leg] = p.timestamp;
    }
    last_ts[leg] = p.timestamp;
    legs[leg].push(p, c.arrival_ns, [&](const placed_frame& f) {
      expected[leg].push_back({f.sample_offset, f.payload_type, bytes(f.data, f.data + f.size)});
      append_raw_record(stream, record_type::audio, static_cast<std::uint8_t>(leg), f.payload_type,
                        0, f.sample_offset, f.data, f.size);
    });
  }
  for (auto& l : legs)
    l.flush([](const placed_frame&) { FAIL("nothing should be held"); });

  CHECK(legs[0].counters().packets == 591);
  CHECK(legs[0].counters().duplicates == 0);
  CHECK(legs[1].counters().packets == 592);
  CHECK(legs[1].counters().duplicates == 1);
  for (const auto& l : legs) {
    CHECK(l.counters().reordered == 0);
    CHECK(l.counters().late == 0);
    CHECK(l.counters().ts_jumps == 0);
    CHECK(l.counters().ssrc_changes == 0);
    CHECK(l.counters().unsupported_payload == 0);
  }
  // Each leg starts where it arrived and then follows its own timestamps.
  for (int leg = 0; leg < 2; ++leg) {
    const auto anchor = static_cast<std::uint64_t>((first_arrival[leg] - start + 62'500) / 125'000);
    CHECK(expected[leg].front().offset == anchor);
    CHECK(expected[leg].back().offset - anchor == last_ts[leg] - first_ts[leg]);
  }
  CHECK(expected[1].front().offset == 0);    // leg 1 opens the capture
  CHECK(expected[0].front().offset == 190);  // leg 0 starts 23.8 ms later

  ccrec::test::temp_dir dir;
  wav_renderer wav(dir.file("call1.wav"));
  raw_decoder decoder([&wav](const raw_record& r) { wav.add(r); });
  for (std::size_t pos = 0; pos < stream.size(); pos += 1000) {
    REQUIRE(decoder.feed(stream.data() + pos, std::min<std::size_t>(1000, stream.size() - pos)));
  }
  REQUIRE(decoder.finish().ok());
  CHECK(decoder.records() == 1 + 591 + 592);
  auto stats = wav.finish();
  REQUIRE(stats.ok());
  CHECK(stats->metadata_json == meta);
  CHECK(stats->leg_samples[0] == 591u * 160);
  CHECK(stats->leg_samples[1] == 592u * 160);
  const std::uint64_t end0 = expected[0].back().offset + 160;
  const std::uint64_t end1 = expected[1].back().offset + 160;
  CHECK(stats->frames == std::max(end0, end1));

  std::ifstream in(dir.file("call1.wav"), std::ios::binary);
  const bytes out(std::istreambuf_iterator<char>(in), {});
  REQUIRE(out.size() == 44 + stats->frames * 4);
  std::uint64_t mismatches = 0, checked = 0;
  for (int leg = 0; leg < 2; ++leg) {
    for (const auto& e : expected[leg]) {
      for (std::size_t i = 0; i < e.data.size(); ++i) {
        const std::size_t at = 44 + (e.offset + i) * 4 + leg * 2;
        const auto got = static_cast<std::int16_t>(out[at] | (out[at + 1] << 8));
        mismatches += got != g711_to_linear(e.pt, e.data[i]);
        ++checked;
      }
    }
  }
  CHECK(checked == (591u + 592u) * 160);
  CHECK(mismatches == 0);
}
