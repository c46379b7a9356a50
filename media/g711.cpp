#include "media/g711.hpp"

#include "media/rtp.hpp"

namespace ccrec::media {
namespace {

constexpr int ulaw_bias = 0x84;
constexpr int ulaw_clip = 32635;            // keeps magnitude + bias within 15 bits
constexpr std::uint8_t alaw_toggle = 0x55;  // A-law inverts the even bits
constexpr std::uint8_t sign_bit = 0x80;
constexpr int mantissa_mask = 0x0F;
constexpr int alaw_segment_ends[8] = {0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF};

}  // namespace

std::int16_t ulaw_to_linear(std::uint8_t u) {
  u = static_cast<std::uint8_t>(~u);
  const int exponent = (u >> 4) & 0x07;
  const int magnitude = (((u & mantissa_mask) << 3) + ulaw_bias) << exponent;
  const int value = (u & sign_bit) ? ulaw_bias - magnitude : magnitude - ulaw_bias;
  return static_cast<std::int16_t>(value);
}

std::int16_t alaw_to_linear(std::uint8_t a) {
  a ^= alaw_toggle;
  const int segment = (a >> 4) & 0x07;
  int magnitude = (a & mantissa_mask) << 4;
  if (segment == 0) {
    magnitude += 8;  // middle of the first step
  } else {
    magnitude = (magnitude + 0x108) << (segment - 1);
  }
  return static_cast<std::int16_t>((a & sign_bit) ? magnitude : -magnitude);
}

std::uint8_t linear_to_ulaw(std::int16_t pcm) {
  int value = pcm;
  std::uint8_t sign = 0;
  if (value < 0) {
    value = -value;
    sign = sign_bit;
  }
  if (value > ulaw_clip)
    value = ulaw_clip;
  value += ulaw_bias;

  // The exponent is the position of the highest set bit above bit 7.
  int exponent = 7;
  for (int mask = 0x4000; (value & mask) == 0 && exponent > 0; mask >>= 1)
    --exponent;
  const int mantissa = (value >> (exponent + 3)) & mantissa_mask;
  return static_cast<std::uint8_t>(~(sign | (exponent << 4) | mantissa));
}

std::uint8_t linear_to_alaw(std::int16_t pcm) {
  int value = pcm;
  std::uint8_t mask = 0xD5;  // positive: sign bit set after the even-bit toggle
  if (value < 0) {
    // One's complement keeps -32768 in range and mirrors the decoder's steps.
    value = -value - 1;
    mask = alaw_toggle;
  }

  int segment = 0;
  while (segment < 8 && value > alaw_segment_ends[segment])
    ++segment;
  if (segment >= 8)
    return static_cast<std::uint8_t>(0x7F ^ mask);

  const int shift = segment < 2 ? 4 : segment + 3;
  const int code = (segment << 4) | ((value >> shift) & mantissa_mask);
  return static_cast<std::uint8_t>(code ^ mask);
}

std::int16_t g711_to_linear(std::uint8_t payload_type, std::uint8_t sample) {
  if (payload_type == pt_pcmu)
    return ulaw_to_linear(sample);
  if (payload_type == pt_pcma)
    return alaw_to_linear(sample);
  return 0;
}

}  // namespace ccrec::media
