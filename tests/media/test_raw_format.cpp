#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "media/raw_format.hpp"

using namespace ccrec::media;

namespace {

using bytes = std::vector<std::uint8_t>;

struct decoded {
  std::vector<raw_record> records;
  raw_decoder decoder{[this](const raw_record& r) { records.push_back(r); }};
};

// Four records, one of each type, with recognisable fields.
bytes sample_stream() {
  bytes out;
  append_raw_magic(out);
  const std::string meta = R"({"call_id":"c-1","legs":["caller","agent"],"start_ns":5})";
  append_raw_record(out, record_type::metadata, 0, 0, 0, 0,
                    reinterpret_cast<const std::uint8_t*>(meta.data()), meta.size());
  const bytes audio = {0x00, 0x80, 0xFF};
  append_raw_record(out, record_type::audio, 1, 8, 0x01, 0x0102030405060708ull, audio.data(),
                    audio.size());
  const bytes screen(300, 0x5A);
  append_raw_record(out, record_type::screen, 0, 0, 0, 1234, screen.data(), screen.size());
  const std::string word = "hold";
  append_raw_record(out, record_type::marker, 0, 0, 0, 99,
                    reinterpret_cast<const std::uint8_t*>(word.data()), word.size());
  return out;
}

void check_sample_records(const std::vector<raw_record>& r) {
  REQUIRE(r.size() == 4);
  CHECK(r[0].type == record_type::metadata);
  CHECK(std::string(r[0].payload.begin(), r[0].payload.end()) ==
        R"({"call_id":"c-1","legs":["caller","agent"],"start_ns":5})");
  CHECK(r[1].type == record_type::audio);
  CHECK(r[1].leg == 1);
  CHECK(r[1].payload_type == 8);
  CHECK(r[1].flags == 0x01);
  CHECK(r[1].offset == 0x0102030405060708ull);
  CHECK(r[1].payload == bytes{0x00, 0x80, 0xFF});
  CHECK(r[2].type == record_type::screen);
  CHECK(r[2].offset == 1234);
  CHECK(r[2].payload == bytes(300, 0x5A));
  CHECK(r[3].type == record_type::marker);
  CHECK(r[3].offset == 99);
  CHECK(std::string(r[3].payload.begin(), r[3].payload.end()) == "hold");
}

}  // namespace

TEST_CASE("records encode to the documented bytes", "[raw]") {
  bytes out;
  append_raw_magic(out);
  const bytes payload = {0xAB, 0xCD};
  append_raw_record(out, record_type::audio, 1, 8, 0x80, 0x1122334455667788ull, payload.data(),
                    payload.size());
  const bytes expected = {'C',  'C',  'R',  'A',  'W',  0x01, 0x00, 0x00,  // magic
                          0x01, 0x01, 0x08, 0x80,  // type, leg, payload type, flags
                          0x02, 0x00, 0x00, 0x00,  // size 2
                          0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // offset
                          0xAB, 0xCD};
  CHECK(out == expected);
}

TEST_CASE("a stream round trips in one feed", "[raw]") {
  const bytes s = sample_stream();
  decoded d;
  REQUIRE(d.decoder.feed(s.data(), s.size()).ok());
  REQUIRE(d.decoder.finish().ok());
  CHECK(d.decoder.records() == 4);
  check_sample_records(d.records);
}

TEST_CASE("a stream round trips one byte at a time", "[raw]") {
  const bytes s = sample_stream();
  decoded d;
  for (std::uint8_t b : s)
    REQUIRE(d.decoder.feed(&b, 1).ok());
  REQUIRE(d.decoder.finish().ok());
  check_sample_records(d.records);
}

TEST_CASE("a stream round trips over random split points", "[raw]") {
  const bytes s = sample_stream();
  std::mt19937 rng(1234);
  for (int round = 0; round < 200; ++round) {
    decoded d;
    std::size_t pos = 0;
    while (pos < s.size()) {
      std::uniform_int_distribution<std::size_t> len(0, std::min<std::size_t>(40, s.size() - pos));
      const std::size_t n = len(rng);
      REQUIRE(d.decoder.feed(s.data() + pos, n).ok());
      pos += n;
    }
    REQUIRE(d.decoder.finish().ok());
    check_sample_records(d.records);
  }
}

TEST_CASE("empty payloads are valid records", "[raw]") {
  bytes s;
  append_raw_magic(s);
  append_raw_record(s, record_type::marker, 0, 0, 0, 7, nullptr, 0);
  decoded d;
  REQUIRE(d.decoder.feed(s.data(), s.size()).ok());
  REQUIRE(d.decoder.finish().ok());
  REQUIRE(d.records.size() == 1);
  CHECK(d.records[0].payload.empty());
  CHECK(d.records[0].offset == 7);
}

TEST_CASE("bad magic fails at the first wrong byte", "[raw]") {
  bytes s = sample_stream();
  s[3] = 'X';
  decoded d;
  REQUIRE(d.decoder.feed(s.data(), 3).ok());  // "CCR" is still fine
  auto r = d.decoder.feed(s.data() + 3, 1);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "raw_bad_magic");
  CHECK(r.error().message.find("byte offset 3") != std::string::npos);
  CHECK(d.records.empty());
}

TEST_CASE("an unknown record type fails naming its offset", "[raw]") {
  bytes s = sample_stream();
  const std::size_t second = 8 + 16 + 56;  // magic + metadata record
  REQUIRE(s[second] == 0x01);
  s[second] = 4;
  decoded d;
  auto r = d.decoder.feed(s.data(), s.size());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "raw_bad_record");
  CHECK(r.error().message.find("type 4") != std::string::npos);
  CHECK(r.error().message.find("byte offset 80") != std::string::npos);
  CHECK(d.records.size() == 1);  // the metadata before it was delivered
}

TEST_CASE("a size over raw_max_record fails without waiting for the bytes", "[raw]") {
  bytes s;
  append_raw_magic(s);
  append_raw_record(s, record_type::audio, 0, 0, 0, 0, nullptr, 0);
  const std::uint32_t too_big = raw_max_record + 1;
  for (int i = 0; i < 4; ++i)
    s[8 + 4 + i] = static_cast<std::uint8_t>(too_big >> (8 * i));
  decoded d;
  auto r = d.decoder.feed(s.data(), s.size());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "raw_bad_record");
  CHECK(r.error().message.find("1048577") != std::string::npos);
  CHECK(r.error().message.find("byte offset 8") != std::string::npos);
}

TEST_CASE("a record of exactly raw_max_record is accepted", "[raw]") {
  bytes s;
  append_raw_magic(s);
  const bytes big(raw_max_record, 0x42);
  append_raw_record(s, record_type::screen, 0, 0, 0, 0, big.data(), big.size());
  decoded d;
  REQUIRE(d.decoder.feed(s.data(), s.size()).ok());
  REQUIRE(d.decoder.finish().ok());
  REQUIRE(d.records.size() == 1);
  CHECK(d.records[0].payload.size() == raw_max_record);
}

TEST_CASE("after a failure the decoder stays failed", "[raw]") {
  bytes bad = {'X'};
  const bytes good = sample_stream();
  decoded d;
  REQUIRE_FALSE(d.decoder.feed(bad.data(), bad.size()).ok());
  auto again = d.decoder.feed(good.data(), good.size());
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == "raw_bad_magic");
  auto fin = d.decoder.finish();
  REQUIRE_FALSE(fin.ok());
  CHECK(fin.error().code == "raw_bad_magic");
  CHECK(d.records.empty());
}

TEST_CASE("finish reports a truncated stream", "[raw]") {
  const bytes s = sample_stream();

  SECTION("no bytes at all") {
    decoded d;
    auto r = d.decoder.finish();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "raw_truncated");
  }
  SECTION("inside the magic") {
    decoded d;
    REQUIRE(d.decoder.feed(s.data(), 5).ok());
    auto r = d.decoder.finish();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "raw_truncated");
  }
  SECTION("inside a header") {
    decoded d;
    REQUIRE(d.decoder.feed(s.data(), 8 + 10).ok());
    auto r = d.decoder.finish();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "raw_truncated");
    CHECK(r.error().message.find("byte offset 8 ") != std::string::npos);
  }
  SECTION("inside the last payload") {
    decoded d;
    REQUIRE(d.decoder.feed(s.data(), s.size() - 1).ok());
    auto r = d.decoder.finish();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "raw_truncated");
    CHECK(d.records.size() == 3);
  }
  SECTION("magic only is a complete, empty stream") {
    decoded d;
    REQUIRE(d.decoder.feed(s.data(), 8).ok());
    CHECK(d.decoder.finish().ok());
  }
}
