// call_player: plays calls against the engine as a PBX would.
//
// For each call, from a thread of its own: call_offered, call_answered
// (whose reply says whether to record and where each leg's media goes),
// the call's RTP to those loopback ports paced at the capture's own
// inter-packet times divided by `speed` (absolute deadlines, both legs
// interleaved in capture-time order), screen frames at 5 frames/s of call
// time when the engine asks for the screen, optionally call_held /
// call_retrieved with no RTP in between, and call_ended 100 ms (of call
// time) after the last packet. Agents log in once before the first call and
// out after the last. A call that is not recorded is still played for its
// duration, without sending media.
//
// Agents: call i runs in slot i % concurrency, and each slot is one agent
// (agent-1001, agent-1002, ... or the given list, round robin) taking its
// calls one after another, as a person would. Queues rotate per call.
//
// run_calls() blocks until every call has ended; it may be called from any
// thread, and several runs may share one cti_client.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "simulators/cti_client.hpp"
#include "simulators/media_call.hpp"

namespace ccrec::pbxsim {

inline constexpr int default_first_agent_number = 1001;
inline constexpr std::chrono::milliseconds end_after_last_packet{100};  // of call time
inline constexpr const char* default_pbx_name = "ccrec-pbxsim";
inline constexpr std::chrono::milliseconds stop_check_interval{50};

struct run_options {
  double speed = 1.0;                    // > 0; 1 = real time
  std::chrono::milliseconds stagger{0};  // call i starts no earlier than i * stagger
  std::size_t concurrency = 0;           // calls at once; 0 = all
  std::vector<std::string> agents;       // empty: agent-1001, agent-1002, ... per slot
  std::vector<std::string> queues;       // empty: sales, support
  std::optional<double> hold_at_s;       // call time from the first packet, seconds
  double hold_for_s = 0.0;
  std::string pbx_name = default_pbx_name;
  // When set and it turns true (e.g. on SIGINT), calls stop playing, are
  // ended and marked "interrupted", calls not yet started are skipped, and
  // agents log out. Checked at least every `stop_check_interval`.
  const std::atomic<bool>* stop = nullptr;
};

// What was sent of one RTP packet, for the manifest.
struct sent_packet {
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t payload_size = 0;
};

struct leg_report {
  std::string name;
  std::string src_address;  // capture's addresses (metadata)
  std::string dst_address;
  std::string destination;  // where it was sent, "127.0.0.1:40002"; empty if not recorded
  std::uint16_t port = 0;
  std::uint8_t payload_type = 0;
  std::size_t packets_in_call = 0;
  std::size_t packets_sent = 0;
  std::size_t packets_held = 0;  // not sent because the call was on hold
  std::size_t send_errors = 0;
  std::size_t payload_bytes = 0;
  std::string payload_sha256;        // hex SHA-256 of the RTP payloads sent, in order
  std::vector<std::uint32_t> ssrcs;  // distinct SSRCs sent, in order of first use
  std::vector<sent_packet> packets;
};

struct call_report {
  std::string call_id;
  std::string agent;
  std::string queue;
  std::string source;
  bool ok = false;
  std::string error;  // first failure, empty when ok
  bool record = false;
  std::string recording_id;
  std::string schedule;
  std::optional<cti_target> screen;
  std::size_t screen_frames_sent = 0;
  bool held = false;
  double duration_s = 0.0;  // call time from first to last packet
  std::vector<leg_report> legs;
};

struct run_report {
  bool ok = true;                   // every event acked ok, every call played
  std::vector<std::string> errors;  // run-level failures (agent login/logout)
  std::vector<call_report> calls;   // in the order of the input calls
};

// Called once per call as it ends, from that call's thread; calls to it are
// serialised, so it may print without locking.
using call_end_callback = std::function<void(const call_report&)>;

// Checks options: "bad_option" when speed <= 0, hold values negative.
result<void> check_run_options(const run_options& options);

// Plays `calls`. The report says what happened; it never throws for
// engine or network failures.
run_report run_calls(cti_client& cti, const std::vector<media_call>& calls,
                     const run_options& options, const call_end_callback& on_end = {});

// The agent name of slot `slot`.
std::string agent_for_slot(const run_options& options, std::size_t slot);

// One line describing a finished call, as the CLI prints it.
std::string summarize_call(const call_report& call);

}  // namespace ccrec::pbxsim
