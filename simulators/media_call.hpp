// media_call: the media of one call as the simulator will play it.
//
// A call is one or two legs ("caller", then "agent"); a leg is a list of
// RTP packets, each the exact bytes to put in one UDP datagram plus the
// time it was captured (or synthesised). Both the pcap reader and the
// synthetic call generator produce these; the call player consumes them.
// Plain values: build on one thread, then read from any number of threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ccrec::pbxsim {

inline constexpr const char* leg_name_caller = "caller";
inline constexpr const char* leg_name_agent = "agent";

struct media_packet {
  std::int64_t time_ns = 0;         // capture time, nanoseconds since the epoch
  std::vector<std::uint8_t> bytes;  // the RTP packet (UDP payload) exactly as captured
};

struct media_leg {
  std::string name;               // "caller" or "agent"
  std::string src_address;        // where the PBX saw this leg come from, "IP:PORT" (metadata only)
  std::string dst_address;        // where it was going, "IP:PORT" (metadata only)
  std::uint8_t payload_type = 0;  // the leg's G.711 payload type (0 PCMU, 8 PCMA)
  std::vector<media_packet> packets;  // in capture order
};

struct media_call {
  std::string source;           // pcap path, or "synth"
  std::vector<media_leg> legs;  // caller first; one or two legs

  // Capture time of the call's first and last packet over all legs.
  std::int64_t first_time_ns() const;
  std::int64_t last_time_ns() const;
  std::size_t packet_count() const;
};

}  // namespace ccrec::pbxsim
