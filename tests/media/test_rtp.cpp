#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "media/rtp.hpp"

using namespace ccrec::media;

namespace {

using bytes = std::vector<std::uint8_t>;

// A PCMU packet: seq 0x1234, ts 0xDEADBEEF, ssrc 0x01020304, payload 1..4.
bytes basic_packet() {
  return {0x80, 0x00, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04, 1, 2, 3, 4};
}

rtp_error parse(const bytes& b, rtp_packet& p) {
  return parse_rtp(b.data(), b.size(), p);
}

// A successful parse must describe a non-empty payload inside the buffer; a
// bounds bug in the parser would show here even without ASan.
void check_within(const bytes& b, const rtp_packet& p, rtp_error e) {
  if (e != rtp_error::none)
    return;
  REQUIRE(p.payload >= b.data());
  REQUIRE(p.payload_size > 0);
  REQUIRE(p.payload + p.payload_size <= b.data() + b.size());
}

}  // namespace

TEST_CASE("parses a plain packet", "[rtp]") {
  const bytes b = basic_packet();
  rtp_packet p;
  REQUIRE(parse(b, p) == rtp_error::none);
  CHECK(p.payload_type == 0);
  CHECK_FALSE(p.marker);
  CHECK(p.seq == 0x1234);
  CHECK(p.timestamp == 0xDEADBEEFu);
  CHECK(p.ssrc == 0x01020304u);
  CHECK(p.payload == b.data() + 12);
  CHECK(p.payload_size == 4);
}

TEST_CASE("parses marker and payload type 8", "[rtp]") {
  bytes b = basic_packet();
  b[1] = 0x88;
  rtp_packet p;
  REQUIRE(parse(b, p) == rtp_error::none);
  CHECK(p.marker);
  CHECK(p.payload_type == 8);
}

TEST_CASE("skips CSRCs, extension, and strips padding", "[rtp]") {
  // V=2 P=1 X=1 CC=2.
  bytes b = {0xB2, 0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0xA0, 0xCA, 0xFE, 0xBA, 0xBE};
  b.insert(b.end(), {0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22});  // CSRCs
  b.insert(b.end(), {0xBE, 0xDE, 0x00, 0x02});                          // ext, 2 words
  b.insert(b.end(), {9, 9, 9, 9, 9, 9, 9, 9});                          // ext body
  b.insert(b.end(), {0x55, 0x66, 0x77});                                // payload
  b.insert(b.end(), {0x00, 0x00, 0x03});                                // 3 padding bytes
  rtp_packet p;
  REQUIRE(parse(b, p) == rtp_error::none);
  CHECK(p.payload_type == 8);
  CHECK(p.seq == 7);
  CHECK(p.timestamp == 0xA0);
  CHECK(p.ssrc == 0xCAFEBABEu);
  CHECK(p.payload == b.data() + 12 + 8 + 12);
  REQUIRE(p.payload_size == 3);
  CHECK(p.payload[0] == 0x55);
  CHECK(p.payload[2] == 0x77);
}

TEST_CASE("reports each error", "[rtp]") {
  rtp_packet p;

  SECTION("empty and short buffers are too_short") {
    CHECK(parse_rtp(nullptr, 0, p) == rtp_error::too_short);
    const bytes b = basic_packet();
    CHECK(parse_rtp(b.data(), 0, p) == rtp_error::too_short);
    CHECK(parse_rtp(b.data(), 11, p) == rtp_error::too_short);
  }
  SECTION("version other than 2") {
    bytes b = basic_packet();
    b[0] = 0x40;
    CHECK(parse(b, p) == rtp_error::bad_version);
    b[0] = 0xC0;
    CHECK(parse(b, p) == rtp_error::bad_version);
  }
  SECTION("CSRC list longer than the packet") {
    bytes b = basic_packet();
    b[0] = 0x82;  // 2 CSRCs need 8 bytes, only 4 follow
    CHECK(parse(b, p) == rtp_error::too_short);
  }
  SECTION("extension header cut off") {
    bytes b = {0x90, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE};
    CHECK(parse(b, p) == rtp_error::too_short);
  }
  SECTION("extension length beyond the packet") {
    bytes b = {0x90, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0x00, 0x03, 1, 2, 3, 4};
    CHECK(parse(b, p) == rtp_error::too_short);
  }
  SECTION("padding count zero") {
    bytes b = basic_packet();
    b[0] |= 0x20;
    b.back() = 0;
    CHECK(parse(b, p) == rtp_error::bad_padding);
  }
  SECTION("padding count larger than the payload") {
    bytes b = basic_packet();
    b[0] |= 0x20;
    b.back() = 5;
    CHECK(parse(b, p) == rtp_error::bad_padding);
  }
  SECTION("padding flag on a header-only packet") {
    bytes b = basic_packet();
    b.resize(12);
    b[0] |= 0x20;
    CHECK(parse(b, p) == rtp_error::bad_padding);
  }
  SECTION("padding that eats the whole payload leaves it empty") {
    bytes b = basic_packet();
    b[0] |= 0x20;
    b.back() = 4;
    CHECK(parse(b, p) == rtp_error::empty_payload);
  }
  SECTION("header only") {
    bytes b = basic_packet();
    b.resize(12);
    CHECK(parse(b, p) == rtp_error::empty_payload);
    CHECK(p.seq == 0x1234);
  }
  SECTION("RTCP sender report, receiver report, BYE, APP") {
    for (std::uint8_t type : {200, 201, 203, 204}) {
      bytes b = {0x80, type, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04};
      CHECK(parse(b, p) == rtp_error::rtcp);
    }
    bytes rr = {0x81, 201, 0x00, 0x07, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    CHECK(parse(rr, p) == rtp_error::rtcp);
  }
  SECTION("second byte 199 and 205 are RTP with marker") {
    bytes b = basic_packet();
    b[1] = 199;
    REQUIRE(parse(b, p) == rtp_error::none);
    CHECK(p.marker);
    CHECK(p.payload_type == 71);
    b[1] = 205;
    REQUIRE(parse(b, p) == rtp_error::none);
    CHECK(p.payload_type == 77);
  }
}

TEST_CASE("error names are stable", "[rtp]") {
  CHECK(std::strcmp(to_string(rtp_error::none), "none") == 0);
  CHECK(std::strcmp(to_string(rtp_error::too_short), "too_short") == 0);
  CHECK(std::strcmp(to_string(rtp_error::bad_version), "bad_version") == 0);
  CHECK(std::strcmp(to_string(rtp_error::bad_padding), "bad_padding") == 0);
  CHECK(std::strcmp(to_string(rtp_error::rtcp), "rtcp") == 0);
  CHECK(std::strcmp(to_string(rtp_error::empty_payload), "empty_payload") == 0);
}

TEST_CASE("write_rtp_header round trips through parse_rtp", "[rtp]") {
  std::uint8_t buf[12 + 160];
  REQUIRE(write_rtp_header(buf, 8, true, 65535, 0xFFFFFFF0u, 0x89ABCDEFu) == 12);
  const std::uint8_t expected[12] = {0x80, 0x88, 0xFF, 0xFF, 0xFF, 0xFF,
                                     0xFF, 0xF0, 0x89, 0xAB, 0xCD, 0xEF};
  CHECK(std::memcmp(buf, expected, 12) == 0);
  std::memset(buf + 12, 0xD5, 160);
  rtp_packet p;
  REQUIRE(parse_rtp(buf, sizeof buf, p) == rtp_error::none);
  CHECK(p.payload_type == 8);
  CHECK(p.marker);
  CHECK(p.seq == 65535);
  CHECK(p.timestamp == 0xFFFFFFF0u);
  CHECK(p.ssrc == 0x89ABCDEFu);
  CHECK(p.payload_size == 160);
}

TEST_CASE("random buffers never parse out of bounds", "[rtp][fuzz]") {
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<int> size_dist(0, 200);
  std::uniform_int_distribution<int> byte_dist(0, 255);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    bytes b(static_cast<std::size_t>(size_dist(rng)));
    for (auto& x : b)
      x = static_cast<std::uint8_t>(byte_dist(rng));
    // Force version 2 on half of them so the deeper paths are reached.
    if (!b.empty() && (i & 1))
      b[0] = static_cast<std::uint8_t>((b[0] & 0x3F) | 0x80);
    rtp_packet p;
    const rtp_error e = parse(b, p);
    check_within(b, p, e);
    parsed += e == rtp_error::none;
  }
  CHECK(parsed > 1000);  // the generator did reach the success path
}

TEST_CASE("bit flips of a valid packet never parse out of bounds", "[rtp][fuzz]") {
  bytes base = {0xB1, 0x00, 0x00, 0x01, 0,    0, 0, 0, 0, 0, 0, 1, 0xAA, 0xAA, 0xAA,
                0xAA, 0xBE, 0xDE, 0x00, 0x01, 1, 2, 3, 4, 7, 7, 7, 7,    0x00, 0x02};
  rtp_packet p;
  REQUIRE(parse(base, p) == rtp_error::none);
  REQUIRE(p.payload_size == 4);

  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> pos(0, base.size() * 8 - 1);
  std::uniform_int_distribution<std::size_t> cut(0, base.size());
  for (int i = 0; i < 20000; ++i) {
    bytes b = base;
    for (int f = 0; f <= i % 4; ++f) {
      const std::size_t bit = pos(rng);
      b[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    }
    if (i % 3 == 0)
      b.resize(cut(rng));
    const rtp_error e = parse(b, p);
    check_within(b, p, e);
  }
}
