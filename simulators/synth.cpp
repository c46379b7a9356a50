#include "simulators/synth.hpp"

#include <cmath>
#include <random>
#include <string>

#include "media/g711.hpp"
#include "media/rtp.hpp"

namespace ccrec::pbxsim {
namespace {

constexpr std::size_t rtp_header_bytes = 12;
constexpr double two_pi = 6.283185307179586;
constexpr std::size_t packets_per_second = 50;
// Metadata addresses from the documentation ranges: never destinations.
constexpr int synth_caller_base_port = 20000;
constexpr int synth_agent_base_port = 30000;
constexpr std::size_t synth_port_span = 4000;

std::string caller_address(std::size_t call) {
  return "198.51.100.1:" + std::to_string(synth_caller_base_port + 2 * (call % synth_port_span));
}

std::string agent_address(std::size_t call) {
  return "192.0.2.1:" + std::to_string(synth_agent_base_port + 2 * (call % synth_port_span));
}

std::uint8_t encode(std::uint8_t payload_type, double sample) {
  const auto pcm = static_cast<std::int16_t>(std::lround(sample));
  return payload_type == media::pt_pcma ? media::linear_to_alaw(pcm) : media::linear_to_ulaw(pcm);
}

media_leg make_leg(const synth_options& options, std::size_t call, std::size_t leg_index,
                   std::size_t packets) {
  std::seed_seq seeds{static_cast<std::uint32_t>(options.seed),
                      static_cast<std::uint32_t>(options.seed >> 32),
                      static_cast<std::uint32_t>(call), static_cast<std::uint32_t>(leg_index)};
  std::mt19937 rng(seeds);
  const auto ssrc = static_cast<std::uint32_t>(rng());
  const auto first_seq = static_cast<std::uint16_t>(rng());
  const auto first_ts = static_cast<std::uint32_t>(rng());
  const double hz = synth_tone_hz(call, leg_index);

  media_leg leg;
  leg.name = leg_index == 0 ? leg_name_caller : leg_name_agent;
  leg.src_address = leg_index == 0 ? caller_address(call) : agent_address(call);
  leg.dst_address = leg_index == 0 ? agent_address(call) : caller_address(call);
  leg.payload_type = options.payload_type;
  leg.packets.reserve(packets);
  for (std::size_t k = 0; k < packets; ++k) {
    media_packet p;
    p.time_ns = static_cast<std::int64_t>(k) * synth_packet_interval_ns;
    p.bytes.resize(rtp_header_bytes + synth_samples_per_packet);
    const auto seq = static_cast<std::uint16_t>(first_seq + k);
    const auto ts = static_cast<std::uint32_t>(first_ts + k * synth_samples_per_packet);
    media::write_rtp_header(p.bytes.data(), options.payload_type, k == 0, seq, ts, ssrc);
    for (std::size_t j = 0; j < synth_samples_per_packet; ++j) {
      const double t = static_cast<double>(k * synth_samples_per_packet + j) / media::g711_rate;
      p.bytes[rtp_header_bytes + j] =
          encode(options.payload_type, synth_amplitude * std::sin(two_pi * hz * t));
    }
    leg.packets.push_back(std::move(p));
  }
  return leg;
}

}  // namespace

double synth_tone_hz(std::size_t call_index, std::size_t leg_index) {
  const double base = leg_index == 0 ? synth_caller_base_hz : synth_agent_base_hz;
  return base + synth_hz_per_call * static_cast<double>(call_index);
}

std::vector<media_call> make_synth_calls(const synth_options& options) {
  const auto packets =
      static_cast<std::size_t>(std::llround(options.duration_s * packets_per_second));
  std::vector<media_call> calls;
  calls.reserve(options.calls);
  for (std::size_t c = 0; c < options.calls; ++c) {
    media_call call;
    call.source = "synth";
    call.legs.push_back(make_leg(options, c, 0, packets));
    call.legs.push_back(make_leg(options, c, 1, packets));
    calls.push_back(std::move(call));
  }
  return calls;
}

}  // namespace ccrec::pbxsim
