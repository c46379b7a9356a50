#include "simulators/manifest.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace ccrec::pbxsim {
namespace {

// Compact: a synth run lists hundreds of thousands of packets; jq indents on demand.
constexpr int manifest_indent = -1;

nlohmann::json leg_json(const leg_report& leg) {
  nlohmann::json packets = nlohmann::json::array();
  for (const auto& p : leg.packets)
    packets.push_back({p.seq, p.timestamp, p.payload_size});
  return {{"name", leg.name},
          {"src_address", leg.src_address},
          {"dst_address", leg.dst_address},
          {"destination", leg.destination},
          {"port", leg.port},
          {"payload_type", leg.payload_type},
          {"packets_in_call", leg.packets_in_call},
          {"packets_sent", leg.packets_sent},
          {"packets_held", leg.packets_held},
          {"send_errors", leg.send_errors},
          {"payload_bytes", leg.payload_bytes},
          {"payload_sha256", leg.payload_sha256},
          {"ssrcs", leg.ssrcs},
          {"packets", std::move(packets)}};
}

nlohmann::json call_json(const call_report& call) {
  nlohmann::json legs = nlohmann::json::array();
  for (const auto& leg : call.legs)
    legs.push_back(leg_json(leg));
  return {{"call_id", call.call_id},
          {"source", call.source},
          {"agent", call.agent},
          {"queue", call.queue},
          {"ok", call.ok},
          {"error", call.error},
          {"record", call.record},
          {"recording_id", call.record ? nlohmann::json(call.recording_id) : nlohmann::json()},
          {"schedule", call.schedule},
          {"held", call.held},
          {"duration_s", call.duration_s},
          {"screen_frames_sent", call.screen_frames_sent},
          {"legs", std::move(legs)}};
}

}  // namespace

nlohmann::json manifest_json(const run_report& report, const manifest_context& context) {
  nlohmann::json calls = nlohmann::json::array();
  for (const auto& call : report.calls)
    calls.push_back(call_json(call));
  return {{"format", manifest_format},   {"version", manifest_version}, {"mode", context.mode},
          {"cti", context.cti_endpoint}, {"speed", context.speed},      {"ok", report.ok},
          {"errors", report.errors},     {"calls", std::move(calls)}};
}

result<void> write_manifest(const std::string& path, const nlohmann::json& manifest) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) {
    return make_error("io_error", "cannot write manifest " + path + ": " + std::strerror(errno));
  }
  out << manifest.dump(manifest_indent) << "\n";
  out.flush();
  if (!out)
    return make_error("io_error", "writing manifest " + path + " failed");
  return {};
}

}  // namespace ccrec::pbxsim
