#include "simulators/load_cli.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>

#include "media/rtp.hpp"
#include "simulators/cli.hpp"
#include "simulators/load_plot.hpp"
#include "simulators/loopback.hpp"

namespace ccrec::pbxsim {
namespace {

// Set from the signal handler: a lock-free atomic store is async-signal-safe.
std::atomic<bool> load_stop{false};

extern "C" void on_load_signal(int) {
  load_stop.store(true);
}

// Ctrl-C ends the run early (calls ended, figures reported) rather than
// leaving the engine with open calls.
class load_signals {
 public:
  load_signals() {
    load_stop = false;
    struct sigaction sa {};
    sa.sa_handler = on_load_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~load_signals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  load_signals(const load_signals&) = delete;
  load_signals& operator=(const load_signals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

bool writable(const std::string& path) {
  if (path.empty())
    return true;
  std::ofstream probe(path, std::ios::app);
  return static_cast<bool>(probe);
}

}  // namespace

CLI::App* add_load_command(CLI::App& app, load_cli_args& a) {
  auto& o = a.options;
  auto* cmd = app.add_subcommand(
      "load",
      "load-test the engine: N concurrent two-leg G.711 calls (20 ms packets), live progress on "
      "stderr, figures at the end (see docs/pbxsim.md)");
  o.cti = default_cti_endpoint;
  cmd->add_option("--cti", o.cti, "engine's CTI endpoint (loopback only)")->capture_default_str();
  cmd->add_option("--calls", o.calls, "concurrent calls to keep up")
      ->required()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--duration", o.duration_s, "seconds to offer calls and keep them up")
      ->required()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--hold", o.hold_s,
                  "each call's length in seconds from its answer; a call that ends is replaced "
                  "by a new one (default: calls last to the end of the run)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--ramp", o.ramp_s, "the first N calls arrive evenly over this many seconds")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--rate", o.rate,
                  "arrival rate cap in calls/s at any time (default: calls / ramp)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--codec", a.codec, "pcmu (payload type 0) or pcma (8)")
      ->capture_default_str()
      ->check(CLI::IsMember({"pcmu", "pcma"}));
  cmd->add_option("--senders", o.senders, "RTP sender threads")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--engine-pid", o.engine_pid,
                  "the engine's process id: CPU time and memory from /proc/PID");
  cmd->add_option("--data-dir", o.data_dir,
                  "the engine's data directory: bytes written under recordings/, and the default "
                  "database <dir>/ccrec.db");
  cmd->add_option("--db", o.db,
                  "the engine's database (sqlite:PATH or postgresql://...) to read how many "
                  "packets each recording holds");
  cmd->add_option("--settle", o.settle_s,
                  "seconds to wait after the run for the engine to finish every recording")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o.seed, "seed for SSRCs and first sequence numbers")
      ->capture_default_str();
  cmd->add_option("--result", a.result_file, "write the figures as JSON to FILE");
  cmd->add_option("--plot", a.plot_file, "draw latency, calls, CPU and loss over time to FILE.svg");
  cmd->add_option("--log-level", a.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  return cmd;
}

int run_load_command(load_cli_args& a, std::ostream& out) {
  auto logger = std::make_shared<spdlog::logger>(
      "pbxsim", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_level(spdlog::level::from_str(a.log_level));
  spdlog::set_default_logger(std::move(logger));

  auto& o = a.options;
  o.payload_type = a.codec == "pcma" ? media::pt_pcma : media::pt_pcmu;
  for (const auto& path : {a.result_file, a.plot_file}) {
    if (!writable(path)) {
      std::cerr << "ccrec-pbxsim: cannot write " << path << "\n";
      return exit_usage;
    }
  }

  const load_signals signals;
  o.stop = &load_stop;
  auto report = run_load(o, std::cerr);
  if (!report) {
    std::cerr << "ccrec-pbxsim: " << report.error().message << "\n";
    return report.error().code == "socket_failed" ? exit_engine_failed : exit_usage;
  }

  out << load_summary_text(*report) << std::flush;
  if (!a.result_file.empty()) {
    std::ofstream f{a.result_file, std::ios::trunc};
    f << load_report_json(*report).dump(2) << "\n";
    if (!f) {
      std::cerr << "ccrec-pbxsim: cannot write " << a.result_file << "\n";
      return exit_engine_failed;
    }
  }
  if (!a.plot_file.empty()) {
    if (auto ok = write_load_plot(*report, a.plot_file); !ok) {
      std::cerr << "ccrec-pbxsim: " << ok.error().message << "\n";
      return exit_engine_failed;
    }
  }

  const bool all_recorded =
      report->calls_recorded + report->calls_abandoned == report->calls_offered &&
      report->calls_refused == 0 && report->calls_timed_out == 0;
  const bool no_loss =
      report->packets_lost ? *report->packets_lost == 0 : report->kernel_drops == 0;
  return all_recorded && no_loss && report->errors.empty() ? exit_ok : exit_engine_failed;
}

}  // namespace ccrec::pbxsim
