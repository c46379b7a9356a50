// G.711 u-law and A-law, sample by sample (ITU-T G.711).
#pragma once

#include <cstdint>

namespace ccrec::media {

std::int16_t ulaw_to_linear(std::uint8_t u);
std::int16_t alaw_to_linear(std::uint8_t a);
std::uint8_t linear_to_ulaw(std::int16_t pcm);
std::uint8_t linear_to_alaw(std::int16_t pcm);

// Decodes by payload type (0 = PCMU, 8 = PCMA); other types decode to 0.
std::int16_t g711_to_linear(std::uint8_t payload_type, std::uint8_t sample);

}  // namespace ccrec::media
