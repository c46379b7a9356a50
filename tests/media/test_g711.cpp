#include <catch2/catch.hpp>

#include "media/g711.hpp"
#include "media/rtp.hpp"

using namespace ccrec::media;

TEST_CASE("u-law decodes reference codes", "[g711]") {
  CHECK(ulaw_to_linear(0xFF) == 0);
  CHECK(ulaw_to_linear(0x7F) == 0);
  CHECK(ulaw_to_linear(0x00) == -32124);
  CHECK(ulaw_to_linear(0x80) == 32124);
  CHECK(ulaw_to_linear(0xFE) == 8);
  CHECK(ulaw_to_linear(0x7E) == -8);
}

TEST_CASE("A-law decodes reference codes", "[g711]") {
  CHECK(alaw_to_linear(0xD5) == 8);
  CHECK(alaw_to_linear(0x55) == -8);
  CHECK(alaw_to_linear(0x2A) == -32256);
  CHECK(alaw_to_linear(0xAA) == 32256);
}

TEST_CASE("encoders map reference values to their codes", "[g711]") {
  CHECK(linear_to_ulaw(0) == 0xFF);
  CHECK(linear_to_ulaw(32767) == 0x80);
  CHECK(linear_to_ulaw(-32768) == 0x00);
  CHECK(linear_to_ulaw(32124) == 0x80);
  CHECK(linear_to_alaw(0) == 0xD5);
  CHECK(linear_to_alaw(-1) == 0x55);
  CHECK(linear_to_alaw(32767) == 0xAA);
  CHECK(linear_to_alaw(-32768) == 0x2A);
}

TEST_CASE("u-law round trips every code", "[g711]") {
  for (int code = 0; code < 256; ++code) {
    const auto c = static_cast<std::uint8_t>(code);
    const std::int16_t decoded = ulaw_to_linear(c);
    INFO("code " << code);
    CHECK(ulaw_to_linear(linear_to_ulaw(decoded)) == decoded);
  }
}

TEST_CASE("A-law round trips every code exactly", "[g711]") {
  for (int code = 0; code < 256; ++code) {
    const auto c = static_cast<std::uint8_t>(code);
    const std::int16_t decoded = alaw_to_linear(c);
    INFO("code " << code);
    CHECK(alaw_to_linear(linear_to_alaw(decoded)) == decoded);
    // A-law has no negative zero, so every code is its own encoding.
    CHECK(linear_to_alaw(decoded) == c);
  }
}

TEST_CASE("encoding is monotonic over the whole 16-bit range", "[g711]") {
  std::int16_t prev_u = ulaw_to_linear(linear_to_ulaw(-32768));
  std::int16_t prev_a = alaw_to_linear(linear_to_alaw(-32768));
  for (int v = -32767; v <= 32767; ++v) {
    const auto pcm = static_cast<std::int16_t>(v);
    const std::int16_t u = ulaw_to_linear(linear_to_ulaw(pcm));
    const std::int16_t a = alaw_to_linear(linear_to_alaw(pcm));
    REQUIRE(u >= prev_u);
    REQUIRE(a >= prev_a);
    prev_u = u;
    prev_a = a;
  }
}

TEST_CASE("g711_to_linear dispatches on payload type", "[g711]") {
  CHECK(g711_to_linear(pt_pcmu, 0x00) == -32124);
  CHECK(g711_to_linear(pt_pcma, 0x2A) == -32256);
  CHECK(g711_to_linear(13, 0x00) == 0);
  CHECK(g711_to_linear(101, 0x2A) == 0);
}
