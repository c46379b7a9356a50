// `ccrec serve`: run the engine until SIGINT or SIGTERM, writing its status
// for `ccrec status` every second (apps/ccrec/status_file.hpp).
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "actors/engine.hpp"
#include "apps/ccrec/commands.hpp"
#include "apps/ccrec/options.hpp"
#include "apps/ccrec/output.hpp"
#include "apps/ccrec/status_file.hpp"

namespace ccrec::app {

namespace {

struct serve_options {
  common_options common;
  std::string cti;
  std::string media_ports;
  std::string ready_file;
  std::string wait_for_db;  // a duration: "30s", "2m", "500ms"; "" = do not wait
};

constexpr std::int64_t ms_per_second = 1000;
constexpr std::int64_t ms_per_minute = 60 * ms_per_second;
constexpr std::int64_t ms_per_hour = 60 * ms_per_minute;
constexpr std::time_t status_interval_seconds = 1;
// After the engine has stopped, how long the actor system may take to end.
constexpr std::chrono::seconds system_end_limit{10};

// "30s", "2m", "1h", "500ms", or a bare number of seconds.
result<std::int64_t> parse_duration_ms(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])))
    ++digits;
  auto unit = text.substr(digits);
  auto bad = make_error("bad_option", "'" + text +
                                          "' is not a duration (a whole number with ms, s, m "
                                          "or h, e.g. 30s or 2m)");
  if (digits == 0 || digits > 9)
    return bad;
  auto n = std::stoll(text.substr(0, digits));
  if (unit == "ms")
    return n;
  if (unit == "s" || unit.empty())
    return n * ms_per_second;
  if (unit == "m")
    return n * ms_per_minute;
  if (unit == "h")
    return n * ms_per_hour;
  return bad;
}

std::string backend_of(const std::string& uri) {
  bool pg = uri.rfind("postgresql://", 0) == 0 || uri.rfind("postgres://", 0) == 0;
  return pg ? "postgresql" : "sqlite3";
}

void publish_status(engine& eng, const engine_config& cfg, serve_facts& facts,
                    const std::string& state) {
  facts.state = state;
  auto status = eng.status(std::chrono::seconds{1});
  auto ok = write_status_file(cfg.data_dir, status_json(facts, status, wall_ms()));
  // Once per failure and once on recovery: a full disk would otherwise add
  // a line every second to a log that may be on the same disk.
  if (!ok && !facts.status_write_failing)
    spdlog::warn("{}", ok.error().message);
  if (ok && facts.status_write_failing)
    spdlog::info("the status file is written again");
  facts.status_write_failing = !ok;
}

// Ends the actor system, but never waits forever: an actor of another part
// still blocked in a call to a database that does not answer (a frozen
// server) would hold its destructor up for good. Everything the engine owns
// is sealed and journaled by now, so leaving it behind loses nothing.
int end_actor_system(std::unique_ptr<caf::actor_system> sys, int exit_code) {
  std::mutex mutex;
  std::condition_variable ended;
  bool done = false;
  // The system ends on this thread (CAF expects its owner's thread); a
  // guard thread leaves the process if that takes too long.
  std::thread guard{[&] {
    std::unique_lock<std::mutex> lock(mutex);
    if (ended.wait_for(lock, system_end_limit, [&] { return done; }))
      return;
    spdlog::warn(
        "an actor is still blocked after {} s (most likely in a call to a database "
        "that does not answer); exiting without waiting for it",
        system_end_limit.count());
    spdlog::default_logger()->flush();
    std::_Exit(exit_code);
  }};
  sys.reset();
  {
    std::lock_guard<std::mutex> lock(mutex);
    done = true;
  }
  ended.notify_all();
  guard.join();
  return exit_code;
}

// Waits for SIGINT/SIGTERM, writing the status file every second meanwhile.
int wait_for_stop(const sigset_t& signals, engine& eng, const engine_config& cfg,
                  serve_facts& facts) {
  for (;;) {
    publish_status(eng, cfg, facts, "running");
    timespec interval{status_interval_seconds, 0};
    int sig = sigtimedwait(&signals, nullptr, &interval);
    if (sig > 0)
      return sig;
  }
}

// Blocks SIGINT/SIGTERM in every thread (CAF's included), so that main can
// wait for them with sigwait and stop the engine in order.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Writes `text` to `tmp`, checking every step.
result<void> write_ready_tmp(const std::string& path, const std::string& tmp,
                             const std::string& text) {
  std::ofstream out{tmp};
  out << text;
  out.close();
  if (!out)
    return make_error("ready_file", "cannot write the ready file " + path + " (via " + tmp +
                                        "): " + std::strerror(errno));
  return {};
}

// A supervisor waits for the ready file; one that can never appear must
// stop the start, not leave the supervisor waiting forever.
result<void> write_ready_file(const std::string& path, const std::string& endpoint) {
  if (path.empty())
    return {};
  const auto tmp = path + ".tmp";
  if (auto ok = write_ready_tmp(path, tmp, endpoint + "\n"); !ok)
    return ok;
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return make_error("ready_file",
                      "cannot write the ready file " + path + ": " + std::strerror(errno));
  return {};
}

// Before the engine starts: the ready file's directory must take a file.
// The ready file itself is left alone: it may be another engine's, which
// this one is about to find in its way.
result<void> check_ready_file(const std::string& path) {
  if (path.empty())
    return {};
  const auto tmp = path + ".tmp";
  if (auto ok = write_ready_tmp(path, tmp, ""); !ok)
    return ok;
  std::remove(tmp.c_str());
  return {};
}

int run_serve(const serve_options& opts) {
  set_log_level(opts.common.log_level);
  auto cfg = build_config(opts.common);
  if (!cfg)
    return print_failure("serve", cfg.error(), 2);
  if (!opts.cti.empty())
    cfg->cti_endpoint = opts.cti;
  if (!opts.media_ports.empty()) {
    if (auto ok = parse_port_range(opts.media_ports, *cfg); !ok)
      return print_failure("serve", ok.error(), 2);
  }
  auto secret = read_kek_secret(opts.common.kek_secret_fd);
  if (!secret)
    return print_failure("serve", secret.error(), 2);
  cfg->kek_secret = *secret;
  if (!opts.wait_for_db.empty()) {
    auto wait = parse_duration_ms(opts.wait_for_db);
    if (!wait) {
      std::cerr << "ccrec serve: --wait-for-db: " << wait.error().message << "\n";
      return 2;
    }
    cfg->wait_for_db_ms = *wait;
  }

  if (auto ok = check_ready_file(opts.ready_file); !ok)
    return print_failure("serve", ok.error(), 2);

  auto signals = block_stop_signals();
  caf::actor_system_config sys_cfg;
  add_engine_types(sys_cfg);
  auto sys = std::make_unique<caf::actor_system>(sys_cfg);
  auto eng = engine::start(*sys, *cfg);
  if (!eng) {
    std::cerr << "ccrec serve: refusing to start: " << eng.error().message << "\n";
    return 1;
  }
  serve_facts facts;
  facts.pid = static_cast<long>(::getpid());
  facts.started_ms = wall_ms();
  facts.db_backend = backend_of(cfg->database_uri());
  facts.cti_endpoint = (*eng)->cti_endpoint();
  facts.encryption = cfg->encryption;
  publish_status(**eng, *cfg, facts, "running");
  int sig = 0;
  if (auto ready = write_ready_file(opts.ready_file, (*eng)->cti_endpoint()); !ready)
    spdlog::error("{}; stopping", ready.error().message);
  else
    sig = wait_for_stop(signals, **eng, *cfg, facts);
  if (sig != 0)
    spdlog::info("signal {}: stopping; open recordings are being finalised", sig);
  publish_status(**eng, *cfg, facts, "stopping");
  auto status = (*eng)->status(std::chrono::seconds{1});
  (*eng)->stop();
  eng->reset();
  auto final_status = status_json(facts, status, wall_ms());
  final_status["state"] = "stopped";
  if (auto ok = write_status_file(cfg->data_dir, final_status); !ok && !facts.status_write_failing)
    spdlog::warn("{}", ok.error().message);
  const auto& m = status.media;
  spdlog::info(
      "engine stopped: {} recordings started, {} failed; CTI: {} messages received, {} "
      "rejected; media: {} datagrams, dropped {} invalid, {} late, {} duplicate, {} foreign "
      "SSRC, {} after their call ended",
      status.recordings_started, status.recordings_failed, status.cti_received, status.cti_rejected,
      m.packets, m.invalid, m.late, m.duplicates, m.foreign_ssrc, m.after_end);
  return end_actor_system(std::move(sys), sig != 0 ? 0 : 1);
}

}  // namespace

command_fn add_serve(CLI::App& app) {
  auto opts = std::make_shared<serve_options>();
  auto* cmd =
      add_command(app, "serve", "Run the recording engine until SIGINT/SIGTERM", opts->common);
  cmd->add_option("--cti", opts->cti,
                  "ZeroMQ endpoint the engine binds for CTI events (default tcp://127.0.0.1:5570)");
  cmd->add_option("--media-ports", opts->media_ports,
                  "UDP port range for RTP and screen streams, LOW-HIGH (default 40000-44999)");
  cmd->add_option("--ready-file", opts->ready_file,
                  "Write the bound CTI endpoint to this file once the engine is ready");
  cmd->add_option("--wait-for-db", opts->wait_for_db,
                  "If the database is unreachable at start, wait this long for it (e.g. 30s, "
                  "2m), retrying with backoff, before refusing to start");
  cmd->footer(
      "The key-encrypting secret comes from the CCREC_KEK_SECRET environment variable or "
      "--kek-secret-fd; it is never taken from the command line. Without it, an engine with "
      "encryption enabled refuses to start; so it does without its database, unless "
      "--wait-for-db gives the database time to appear. While running, the engine writes "
      "<data-dir>/status.json every second for `ccrec status`.");
  return [opts] { return run_serve(*opts); };
}

}  // namespace ccrec::app
