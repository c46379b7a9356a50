// synth: synthetic two-leg G.711 calls for load and soak runs.
//
// Each call has a "caller" and an "agent" leg of 20 ms packets (160
// samples, 50 packets/s) carrying sine tones: the caller at
// 300 + 10*c Hz, the agent at 500 + 10*c Hz for call index c (0-based), so
// every leg of a run is tellable apart by ear and by FFT. SSRC, first
// sequence number and first timestamp of each leg come from a generator
// seeded with (seed, call, leg): the same options give the same bytes
// whatever the concurrency. Packet times start at 0 ns.
// Pure function: any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "simulators/media_call.hpp"

namespace ccrec::pbxsim {

inline constexpr std::size_t synth_samples_per_packet = 160;
inline constexpr std::int64_t synth_packet_interval_ns = 20000000;  // 20 ms
inline constexpr double synth_caller_base_hz = 300.0;
inline constexpr double synth_agent_base_hz = 500.0;
inline constexpr double synth_hz_per_call = 10.0;
inline constexpr double synth_amplitude = 8000.0;  // of 32767: clear tone, no clipping

struct synth_options {
  std::size_t calls = 1;
  double duration_s = 10.0;
  std::uint8_t payload_type = 0;  // 0 PCMU or 8 PCMA
  std::uint64_t seed = 1;
};

// Tone frequency of a leg (0 caller, 1 agent) of call `call_index`.
double synth_tone_hz(std::size_t call_index, std::size_t leg_index);

// Builds `calls` calls of round(duration_s * 50) packets per leg.
std::vector<media_call> make_synth_calls(const synth_options& options);

}  // namespace ccrec::pbxsim
