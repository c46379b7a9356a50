// audio_check: does a recording, played back to WAV, hold exactly what the
// PBX sent? And is any of the sent audio lying on disk in the clear?
//
// The PBX side is the right place for this check: it alone knows what it
// sent. Used by `ccrec-pbxsim check` (the demo) and the end-to-end tests.
// Plain functions; call from any one thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "simulators/media_call.hpp"

namespace ccrec::pbxsim {

struct leg_check {
  std::string name;
  bool ok = false;
  std::uint64_t expected_samples = 0;  // distinct packets x their samples
  std::int64_t offset = 0;             // where the leg's first sample sits in the WAV
  std::uint64_t mismatches = 0;        // WAV samples that differ from what was sent
  std::string detail;                  // why not ok
};

struct call_check {
  std::string wav_path;
  bool ok = false;
  std::uint64_t wav_frames = 0;
  std::vector<leg_check> legs;  // channel 0 = caller, 1 = agent
};

// Expected audio of one leg: each distinct packet (by sequence number; the
// first copy of a duplicate wins) decoded from G.711 and placed at its RTP
// timestamp's distance from the leg's earliest timestamp. Every WAV sample
// of that channel must equal it once shifted to where the leg starts, and
// every sample no packet covers must be silence (0).
result<call_check> check_call_audio(const media_call& sent, const std::string& wav_path);

struct plaintext_scan {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  std::uint64_t needles = 0;      // distinct payload fragments searched for
  std::vector<std::string> hits;  // "FILE: payload of leg L packet seq N"
};

// Searches every regular file under `dir` for any sent payload (its first 32
// bytes, for payloads that are not near-constant such as digital silence).
plaintext_scan scan_for_plaintext(const std::string& dir, const std::vector<media_call>& calls);

}  // namespace ccrec::pbxsim
