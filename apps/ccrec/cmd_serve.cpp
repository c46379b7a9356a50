// `ccrec serve`: run the engine until SIGINT or SIGTERM.
#include <signal.h>

#include <fstream>
#include <iostream>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/engine.hpp"
#include "apps/ccrec/commands.hpp"
#include "apps/ccrec/options.hpp"

namespace ccrec::app {

namespace {

struct serve_options {
  common_options common;
  std::string cti;
  std::string media_ports;
  std::string ready_file;
};

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

void write_ready_file(const std::string& path, const std::string& endpoint) {
  if (path.empty())
    return;
  std::ofstream out{path + ".tmp"};
  out << endpoint << "\n";
  out.close();
  std::rename((path + ".tmp").c_str(), path.c_str());
}

int run_serve(const serve_options& opts) {
  set_log_level(opts.common.log_level);
  auto cfg = build_config(opts.common);
  if (!cfg) {
    std::cerr << "ccrec serve: " << cfg.error().message << "\n";
    return 2;
  }
  if (!opts.cti.empty())
    cfg->cti_endpoint = opts.cti;
  if (!opts.media_ports.empty()) {
    if (auto ok = parse_port_range(opts.media_ports, *cfg); !ok) {
      std::cerr << "ccrec serve: " << ok.error().message << "\n";
      return 2;
    }
  }
  auto secret = read_kek_secret(opts.common.kek_secret_fd);
  if (!secret) {
    std::cerr << "ccrec serve: " << secret.error().message << "\n";
    return 2;
  }
  cfg->kek_secret = *secret;

  auto signals = block_stop_signals();
  caf::actor_system_config sys_cfg;
  add_engine_types(sys_cfg);
  caf::actor_system sys{sys_cfg};
  auto eng = engine::start(sys, *cfg);
  if (!eng) {
    std::cerr << "ccrec serve: refusing to start: " << eng.error().message << "\n";
    return 1;
  }
  write_ready_file(opts.ready_file, (*eng)->cti_endpoint());

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: stopping; open recordings are being finalised", sig);
  auto status = (*eng)->status(std::chrono::seconds{1});
  (*eng)->stop();
  eng->reset();
  spdlog::info("engine stopped: {} recordings started, {} failed, {} CTI events, {} refused",
               status.recordings_started, status.recordings_failed, status.cti_events,
               status.cti_rejected);
  return 0;
}

}  // namespace

command_fn add_serve(CLI::App& app) {
  auto opts = std::make_shared<serve_options>();
  auto* cmd = app.add_subcommand("serve", "Run the recording engine until SIGINT/SIGTERM");
  add_common_options(*cmd, opts->common);
  cmd->add_option("--cti", opts->cti,
                  "ZeroMQ endpoint the engine binds for CTI events (default tcp://127.0.0.1:5570)");
  cmd->add_option("--media-ports", opts->media_ports,
                  "UDP port range for RTP and screen streams, LOW-HIGH (default 40000-44999)");
  cmd->add_option("--ready-file", opts->ready_file,
                  "Write the bound CTI endpoint to this file once the engine is ready");
  cmd->footer(
      "The key-encrypting secret comes from the CCREC_KEK_SECRET environment variable or "
      "--kek-secret-fd; it is never taken from the command line. Without it, an engine with "
      "encryption enabled refuses to start.");
  return [opts] { return run_serve(*opts); };
}

}  // namespace ccrec::app
