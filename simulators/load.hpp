// load: `ccrec-pbxsim load`, N concurrent two-leg G.711 calls against the
// engine, and what it made of them.
//
// Threads: one CTI driver (a ZeroMQ DEALER; events are pipelined, replies
// matched by seq, so one slow answer never stalls other calls' events), one
// or a few rtp_pacer threads (all legs' RTP, see load_pacer.hpp), and the
// calling thread, which samples once a second (progress on `progress`,
// engine CPU and memory, kernel drops at the engine's media sockets) and at
// the end reads what the engine recorded from its database.
//
// A call: call_offered; on its ack call_answered (the time from sending it
// to the ack naming the media ports is the "answer latency"); RTP on both
// legs at 50 packets/s until the hold time is over (or the run ends); then
// call_ended. Calls are offered while fewer than `calls` are up, no faster
// than `rate` per second, until `duration_s` is over; then every call still
// up is ended.
//
// run_load() blocks; any thread. Not re-entrant only in that two runs
// against one engine would count each other's drops.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace ccrec::pbxsim {

inline constexpr double load_default_ramp_s = 10.0;
inline constexpr double load_default_settle_s = 60.0;

struct load_options {
  std::string cti;
  std::size_t calls = 0;    // concurrent calls wanted
  double duration_s = 0.0;  // calls are offered and kept up this long
  double hold_s = 0.0;      // each call's length from its answer; 0: to the end of the run
  double ramp_s = load_default_ramp_s;  // the first `calls` arrive over this long
  double rate = 0.0;              // arrivals per second at most; 0: calls / ramp_s (no cap if 0)
  std::uint8_t payload_type = 0;  // 0 PCMU, 8 PCMA
  std::size_t senders = 1;        // pacer threads
  std::chrono::milliseconds timeout{5000};  // per CTI event
  pid_t engine_pid = 0;                     // 0: no CPU/memory figures
  std::string db;                           // engine database URI; empty: from data_dir, else none
  std::string data_dir;                     // engine data dir: bytes written, default database
  double settle_s = load_default_settle_s;  // wait this long for recordings to be final
  std::uint64_t seed = 1;
  // When set and it turns true (SIGINT), the run ends as if its time was up.
  const std::atomic<bool>* stop = nullptr;
};

// One second of the run.
struct load_second {
  double t_s = 0.0;                      // end of the second, from the run start
  std::uint64_t calls_up = 0;            // recording (media flowing)
  std::uint64_t offered = 0;             // in this second
  std::uint64_t answered = 0;            // acks of call_answered in this second
  std::optional<double> latency_p50_ms;  // of those acks
  std::optional<double> latency_p99_ms;
  std::optional<double> latency_max_ms;
  std::uint64_t packets_sent = 0;        // in this second
  std::uint64_t drops = 0;               // kernel drops at the engine's media sockets
  std::optional<double> engine_cpu_pct;  // 100 = one core
  std::optional<std::uint64_t> engine_rss_bytes;
};

struct latency_summary {
  std::uint64_t count = 0;
  double p50_ms = 0.0;
  double p99_ms = 0.0;
  double max_ms = 0.0;
  double mean_ms = 0.0;
};

struct engine_figures {
  double cpu_seconds = 0.0;             // during the calls
  double cpu_avg_pct = 0.0;             // cpu_seconds over the wall time, 100 = one core
  double cpu_peak_pct = 0.0;            // busiest second
  std::uint64_t rss_idle_bytes = 0;     // before the first call
  std::uint64_t rss_peak_bytes = 0;     // highest VmRSS seen (and VmHWM when it rose)
  double peak_bytes_per_call = 0.0;     // (peak - idle) / most calls up at once
  double cpu_ms_per_call_second = 0.0;  // engine CPU per second of a recorded call
};

struct load_report {
  load_options options;
  double wall_s = 0.0;
  double load_average_start = -1.0;
  double load_average_end = -1.0;

  std::uint64_t calls_offered = 0;
  std::uint64_t calls_answered = 0;  // call_answered acked ok
  std::uint64_t calls_recorded = 0;  // acked with record=true and media ports
  std::uint64_t calls_refused = 0;   // an event answered ok=false
  std::uint64_t calls_timed_out = 0;
  std::uint64_t calls_abandoned = 0;      // offered just before the end, never answered
  std::uint64_t calls_up_max = 0;         // most calls recording at once
  std::uint64_t recordings_complete = 0;  // rows "complete" in the database

  std::uint64_t packets_sent = 0;  // on recorded calls
  std::uint64_t send_errors = 0;
  std::uint64_t late_packets = 0;  // the generator's own lateness (> 5 ms)
  double sender_max_lag_ms = 0.0;
  double sender_cpu_seconds = 0.0;
  std::string packets_source;  // "database" or "unavailable: why"
  std::optional<std::uint64_t> packets_recorded;
  std::optional<std::uint64_t> packets_lost;  // sent - recorded: lost or late
  std::uint64_t kernel_drops = 0;             // live view; included in packets_lost

  latency_summary latency;
  std::optional<engine_figures> engine;
  std::optional<std::uint64_t> bytes_written;
  std::vector<load_second> timeline;
  std::vector<std::string> errors;
};

// Checks options: "bad_option" naming the option.
result<void> check_load_options(const load_options& options);

// Runs the load. Fails only when it cannot start (endpoint refused,
// socket); engine failures are in the report.
result<load_report> run_load(const load_options& options, std::ostream& progress);

nlohmann::json load_report_json(const load_report& report);

// The end-of-run summary, as the CLI prints it.
std::string load_summary_text(const load_report& report);

}  // namespace ccrec::pbxsim
