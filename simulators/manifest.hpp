// manifest: a JSON record of exactly what a run sent, for tests downstream
// to compare recordings against.
//
// Format (docs/pbxsim.md has the full description):
//   {"format":"ccrec-pbxsim-manifest","version":1,"mode":"replay"|"synth",
//    "cti":ENDPOINT,"speed":X,"ok":BOOL,"errors":[...],
//    "calls":[{"call_id","source","agent","queue","ok","error","record",
//              "recording_id","schedule","held","duration_s",
//              "screen_frames_sent",
//              "legs":[{"name","src_address","dst_address","destination",
//                       "port","payload_type","packets_in_call",
//                       "packets_sent","packets_held","send_errors",
//                       "payload_bytes","payload_sha256","ssrcs",
//                       "packets":[[seq,timestamp,payload_size],...]}]}]}
// Pure functions, any thread.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "simulators/call_player.hpp"

namespace ccrec::pbxsim {

inline constexpr int manifest_version = 1;
inline constexpr const char* manifest_format = "ccrec-pbxsim-manifest";

struct manifest_context {
  std::string mode;  // "replay" or "synth"
  std::string cti_endpoint;
  double speed = 1.0;
};

nlohmann::json manifest_json(const run_report& report, const manifest_context& context);

// Writes `manifest` to `path` (replacing it). Error code "io_error".
result<void> write_manifest(const std::string& path, const nlohmann::json& manifest);

}  // namespace ccrec::pbxsim
