#include "simulators/cli.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>

#include "media/rtp.hpp"
#include "simulators/audio_check.hpp"
#include "simulators/call_player.hpp"
#include "simulators/cti_client.hpp"
#include "simulators/load_cli.hpp"
#include "simulators/loopback.hpp"
#include "simulators/manifest.hpp"
#include "simulators/pcap_reader.hpp"
#include "simulators/synth.hpp"

namespace ccrec::pbxsim {
namespace {

constexpr double default_timeout_s = 5.0;
constexpr double ms_per_s = 1000.0;

struct common_args {
  std::string cti = default_cti_endpoint;
  double timeout_s = default_timeout_s;
  std::string manifest;
  std::vector<std::string> agents;
  std::vector<std::string> queues;
  double hold_at_s = 0.0;
  double hold_for_s = 0.0;
  double speed = 1.0;
  int stagger_ms = 0;
  std::string log_level = "info";
  CLI::Option* hold_at_option = nullptr;
};

struct replay_args {
  std::vector<std::string> pcaps;
};

struct synth_args {
  std::size_t calls = 0;
  double duration_s = 0.0;
  std::size_t concurrency = 0;
  std::string codec = "pcmu";
  std::uint64_t seed = 1;
};

void add_common_options(CLI::App& cmd, common_args& a) {
  cmd.add_option("--cti", a.cti,
                 "engine's CTI endpoint (ZeroMQ ROUTER); only tcp://127.0.0.1:PORT, "
                 "tcp://localhost:PORT, tcp://[::1]:PORT, ipc:// or inproc:// are accepted")
      ->capture_default_str();
  cmd.add_option("--timeout", a.timeout_s, "seconds to wait for the engine's reply to each event")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd.add_option("--manifest", a.manifest,
                 "write a JSON manifest of everything sent (calls, recording ids, per-leg "
                 "packets and payload hashes) to FILE");
  cmd.add_option("--agent", a.agents,
                 "agent name(s) to use, round robin per concurrent call slot "
                 "(default agent-1001, agent-1002, ...)");
  cmd.add_option("--queue", a.queues,
                 "queue name(s), round robin per call (default sales, support)");
  a.hold_at_option = cmd.add_option("--hold-at", a.hold_at_s,
                                    "put each call on hold SECONDS of call time after its first "
                                    "packet (call_held; no RTP until call_retrieved)")
                         ->check(CLI::NonNegativeNumber);
  cmd.add_option("--hold-for", a.hold_for_s, "seconds of call time each call stays on hold")
      ->check(CLI::NonNegativeNumber)
      ->needs(a.hold_at_option);
  cmd.add_option("--speed", a.speed,
                 "play calls X times faster than captured (1 = real time); pacing follows the "
                 "capture's own packet times divided by X")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd.add_option("--stagger", a.stagger_ms, "start call i no earlier than i*MS milliseconds in")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--log-level", a.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
}

void setup_logging(const std::string& level) {
  auto logger = std::make_shared<spdlog::logger>(
      "pbxsim", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(std::move(logger));
}

run_options to_run_options(const common_args& a) {
  run_options o;
  o.speed = a.speed;
  o.stagger = std::chrono::milliseconds(a.stagger_ms);
  o.agents = a.agents;
  o.queues = a.queues;
  if (*a.hold_at_option)
    o.hold_at_s = a.hold_at_s;
  o.hold_for_s = a.hold_for_s;
  return o;
}

// Checked before the run, so a bad path fails as usage, not after the calls.
bool manifest_writable(const std::string& path) {
  if (path.empty())
    return true;
  std::ofstream probe(path, std::ios::app);
  return static_cast<bool>(probe);
}

// Set from the signal handler: a lock-free atomic store is async-signal-safe.
std::atomic<bool> stop_flag{false};

// After Ctrl-C or SIGTERM, the ends and logouts still to send get this long
// in all for their replies: the engine hears about every call when it is
// there, and a gone engine does not keep the simulator running.
constexpr std::chrono::milliseconds stop_grace{2000};

extern "C" void on_stop_signal(int) {
  stop_flag.store(true);
}

// Ctrl-C or SIGTERM during a run ends the calls in progress and logs the
// agents out instead of leaving the engine with open calls. The previous
// handlers come back when the run is over.
class stop_signals {
 public:
  stop_signals() {
    stop_flag = false;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~stop_signals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

int run(const common_args& a, const std::string& mode, const std::vector<media_call>& calls,
        run_options options, std::ostream& out) {
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.timeout_s * ms_per_s));
  auto cti = cti_client::connect(a.cti, timeout);
  if (!cti) {
    std::cerr << "ccrec-pbxsim: " << cti.error().message << "\n";
    return cti.error().code == "refused_endpoint" ? exit_usage : exit_engine_failed;
  }

  const stop_signals signals;
  options.stop = &stop_flag;
  (*cti)->stop_when(&stop_flag, stop_grace);
  const auto report = run_calls(**cti, calls, options, [&out](const call_report& c) {
    out << summarize_call(c) << std::endl;
  });

  std::size_t ok_calls = 0;
  for (const auto& c : report.calls)
    ok_calls += c.ok;
  for (const auto& e : report.errors)
    std::cerr << "ccrec-pbxsim: " << e << "\n";
  out << ok_calls << " of " << calls.size() << " calls ok" << std::endl;

  if (!a.manifest.empty()) {
    const auto json = manifest_json(report, {mode, a.cti, a.speed});
    if (auto written = write_manifest(a.manifest, json); !written) {
      std::cerr << "ccrec-pbxsim: " << written.error().message << "\n";
      return exit_engine_failed;
    }
  }
  return report.ok ? exit_ok : exit_engine_failed;
}

int preflight(const common_args& a) {
  setup_logging(a.log_level);
  if (auto ok = check_cti_endpoint(a.cti); !ok) {
    std::cerr << "ccrec-pbxsim: " << ok.error().message << "\n";
    return exit_usage;
  }
  if (!manifest_writable(a.manifest)) {
    std::cerr << "ccrec-pbxsim: cannot write manifest " << a.manifest << "\n";
    return exit_usage;
  }
  return exit_ok;
}

// Reads every capture into `calls`; false (after saying why) on an error.
bool load_captures(const std::vector<std::string>& paths, std::vector<media_call>& calls) {
  for (const auto& path : paths) {
    auto capture = read_pcap(path);
    if (!capture) {
      std::cerr << "ccrec-pbxsim: " << capture.error().message << "\n";
      return false;
    }
    const auto& st = capture->stats;
    spdlog::info(
        "{}: {} records, {} UDP, {} RTP flows, {} calls (skipped: {} non-UDP, {} fragments, "
        "{} truncated, {} non-RTP)",
        path, st.records, st.udp_datagrams, st.rtp_flows, capture->calls.size(), st.non_udp,
        st.fragments, st.truncated, st.non_rtp_datagrams);
    for (auto& c : capture->calls)
      calls.push_back(std::move(c));
  }
  return true;
}

int run_replay(const common_args& a, const replay_args& r, std::ostream& out) {
  if (int rc = preflight(a); rc != exit_ok)
    return rc;

  std::vector<media_call> calls;
  if (!load_captures(r.pcaps, calls))
    return exit_usage;
  if (calls.empty()) {
    std::cerr << "ccrec-pbxsim: no G.711 RTP calls found in the given captures\n";
    return exit_usage;
  }
  return run(a, "replay", calls, to_run_options(a), out);
}

int run_synth(const common_args& a, const synth_args& s, std::ostream& out) {
  if (int rc = preflight(a); rc != exit_ok)
    return rc;

  synth_options so;
  so.calls = s.calls;
  so.duration_s = s.duration_s;
  so.payload_type = s.codec == "pcma" ? media::pt_pcma : media::pt_pcmu;
  so.seed = s.seed;
  auto options = to_run_options(a);
  options.concurrency = s.concurrency;
  return run(a, "synth", make_synth_calls(so), options, out);
}

struct check_args {
  std::string manifest;
  std::string wav_dir;
  std::string scan_dir;
  std::vector<std::string> pcaps;
};

// The captured call a manifest entry played: same source, same leg addresses.
const media_call* find_sent_call(const std::vector<media_call>& calls,
                                 const nlohmann::json& entry) {
  for (const auto& call : calls) {
    if (call.source != entry.value("source", "") || call.legs.size() != entry["legs"].size())
      continue;
    bool same = true;
    for (std::size_t i = 0; i < call.legs.size(); ++i)
      same = same && call.legs[i].src_address == entry["legs"][i].value("src_address", "");
    if (same)
      return &call;
  }
  return nullptr;
}

int check_recorded_calls(const check_args& c, const nlohmann::json& manifest,
                         const std::vector<media_call>& calls, std::ostream& out) {
  int failures = 0;
  for (const auto& entry : manifest["calls"]) {
    if (!entry.value("record", false))
      continue;
    const auto* sent = find_sent_call(calls, entry);
    auto id = entry.value("recording_id", "");
    if (sent == nullptr) {
      out << "SKIP " << id << ": its capture " << entry.value("source", "") << " was not given\n";
      continue;
    }
    auto checked = check_call_audio(*sent, c.wav_dir + "/" + id + ".wav");
    if (!checked) {
      out << "FAIL " << id << ": " << checked.error().message << "\n";
      ++failures;
      continue;
    }
    for (const auto& leg : checked->legs)
      out << (leg.ok ? "OK   " : "FAIL ") << id << " " << leg.name << ": " << leg.expected_samples
          << " samples sent, " << leg.mismatches << " WAV samples differ, starts at sample "
          << leg.offset << (leg.detail.empty() ? "" : " (" + leg.detail + ")") << "\n";
    failures += checked->ok ? 0 : 1;
  }
  return failures;
}

int run_check(const check_args& c, std::ostream& out) {
  std::ifstream in{c.manifest};
  auto manifest = nlohmann::json::parse(in, nullptr, false);
  if (manifest.is_discarded() || !manifest.contains("calls")) {
    std::cerr << "ccrec-pbxsim: " << c.manifest << " is not a pbxsim manifest\n";
    return exit_usage;
  }
  std::vector<media_call> calls;
  if (!load_captures(c.pcaps, calls))
    return exit_usage;

  int failures = check_recorded_calls(c, manifest, calls, out);
  if (!c.scan_dir.empty()) {
    auto scan = scan_for_plaintext(c.scan_dir, calls);
    for (const auto& hit : scan.hits)
      out << "PLAINTEXT " << hit << "\n";
    out << "scanned " << scan.files << " files (" << scan.bytes << " bytes) under " << c.scan_dir
        << " for " << scan.needles << " payload fragments: " << scan.hits.size() << " found\n";
    failures += static_cast<int>(scan.hits.size());
  }
  out << (failures == 0 ? "check passed" : "check FAILED") << "\n";
  return failures == 0 ? exit_ok : exit_check_failed;
}

}  // namespace

int pbxsim_main(int argc, const char* const* argv, std::ostream& out) {
  CLI::App app{
      "ccrec-pbxsim: a PBX simulator. Sends CTI events to the ccrec engine over ZeroMQ "
      "(docs/cti-protocol.md) and the calls' RTP and screen frames to the loopback ports the "
      "engine answers with. See docs/pbxsim.md."};
  app.require_subcommand(1);

  common_args replay_common;
  replay_args replay;
  auto* replay_cmd = app.add_subcommand(
      "replay", "replay every RTP call found in classic pcap captures, all calls at once");
  add_common_options(*replay_cmd, replay_common);
  replay_cmd->add_option("pcap", replay.pcaps, "classic pcap capture(s) holding G.711 RTP")
      ->required();

  common_args synth_common;
  synth_args synth;
  auto* synth_cmd = app.add_subcommand(
      "synth", "play synthetic two-leg calls: sine tones, 20 ms packets, 50 packets/s per leg");
  add_common_options(*synth_cmd, synth_common);
  synth_cmd->add_option("--calls", synth.calls, "number of calls")
      ->required()
      ->check(CLI::PositiveNumber);
  synth_cmd->add_option("--duration", synth.duration_s, "seconds of media per call")
      ->required()
      ->check(CLI::PositiveNumber);
  synth_cmd->add_option("--concurrency", synth.concurrency,
                        "calls in progress at once (default: all); each slot is one agent");
  synth_cmd->add_option("--codec", synth.codec, "pcmu (payload type 0) or pcma (8)")
      ->capture_default_str()
      ->check(CLI::IsMember({"pcmu", "pcma"}));
  synth_cmd->add_option("--seed", synth.seed, "seed for SSRCs and initial sequence numbers")
      ->capture_default_str();

  check_args check;
  auto* check_cmd =
      app.add_subcommand("check",
                         "compare played-back recordings (WAV) with what a replay sent, and scan a "
                         "directory for any sent payload lying in the clear");
  check_cmd->add_option("--manifest", check.manifest, "manifest written by replay --manifest")
      ->required();
  check_cmd->add_option("--wav-dir", check.wav_dir, "directory holding RECORDING-ID.wav files")
      ->required();
  check_cmd->add_option("--scan-dir", check.scan_dir,
                        "directory to search for plaintext payloads (e.g. the engine's data dir)");
  check_cmd->add_option("pcap", check.pcaps, "the captures the replay played")->required();

  load_cli_args load;
  auto* load_cmd = add_load_command(app, load);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream err;
    const int rc = app.exit(e, out, err);
    std::cerr << err.str();
    return rc == 0 ? exit_ok : exit_usage;
  }

  if (replay_cmd->parsed())
    return run_replay(replay_common, replay, out);
  if (check_cmd->parsed())
    return run_check(check, out);
  if (load_cmd->parsed())
    return run_load_command(load, out);
  return run_synth(synth_common, synth, out);
}

}  // namespace ccrec::pbxsim
