// `ccrec status`: what a running engine is doing — database state, journal
// depth, key cache, active recordings — read from the status file its
// `ccrec serve` process writes every second (apps/ccrec/status_file.hpp).
#include <signal.h>

#include <cerrno>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/ccrec/commands.hpp"
#include "apps/ccrec/options.hpp"
#include "apps/ccrec/output.hpp"
#include "apps/ccrec/status_file.hpp"

namespace ccrec::app {

namespace {

constexpr int exit_running = 0;
constexpr int exit_not_running = 1;
constexpr int exit_usage = 2;
constexpr double bytes_per_kib = 1024.0;

struct status_options {
  common_options common;
  bool json = false;
};

std::string span(std::int64_t ms) {
  auto s = ms / 1000;
  std::ostringstream out;
  if (s >= 3600)
    out << s / 3600 << "h " << (s % 3600) / 60 << "m";
  else if (s >= 60)
    out << s / 60 << "m " << s % 60 << "s";
  else
    out << s << "s";
  return out.str();
}

bool process_alive(long pid) {
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

// Why the file does not describe a running engine, or "" when it does.
std::string not_running_reason(const nlohmann::json& j, std::int64_t now) {
  auto pid = j.value("pid", 0L);
  auto updated = j.value("updated_ms", std::int64_t{0});
  auto state = j.value("state", std::string{});
  if (state == "stopped")
    return "the engine (pid " + std::to_string(pid) + ") stopped at " + utc_time(updated);
  if (!process_alive(pid))
    return "the engine (pid " + std::to_string(pid) + ") is gone; its last status is from " +
           utc_time(updated) + " (it was killed or crashed)";
  if (now - updated > status_stale_ms)
    return "the engine (pid " + std::to_string(pid) + ") has not updated its status for " +
           span(now - updated) + "; it may be hung";
  return "";
}

// What arrived and what was dropped (a status file from an older engine
// may not have these sections).
void print_counters(const nlohmann::json& j) {
  if (j.contains("cti")) {
    const auto& cti = j.at("cti");
    auto endpoint = cti.value("endpoint", std::string{});
    std::cout << std::setw(12) << "cti:" << cti.value("received", 0) << " message(s) received ("
              << cti.value("events", 0) << " decoded), " << cti.value("rejected", 0)
              << " rejected; " << (endpoint.empty() ? "no socket (embedded)" : endpoint) << "\n";
  }
  if (j.contains("media")) {
    const auto& m = j.at("media");
    std::cout << std::setw(12) << "media:" << m.value("packets", 0) << " datagram(s) received; "
              << "dropped: " << m.value("invalid", 0) << " invalid, " << m.value("late", 0)
              << " late, " << m.value("duplicates", 0) << " duplicate, "
              << m.value("foreign_ssrc", 0) << " foreign SSRC; " << m.value("after_end", 0)
              << " after their call ended; " << m.value("open_ports", 0) << " port(s) open\n";
  }
}

void print_text(const nlohmann::json& j, std::int64_t now) {
  const auto& db = j.at("database");
  const auto& jn = j.at("journal");
  const auto& keys = j.at("keys");
  const auto& rec = j.at("recordings");
  std::cout << std::left;

  std::cout << std::setw(12) << "engine:" << j.value("state", std::string{}) << ", pid "
            << j.value("pid", 0L) << ", up " << span(now - j.value("started_ms", now))
            << ", encryption " << (j.value("encryption", true) ? "on" : "OFF") << "\n";

  auto since = db.value("since_ms", std::int64_t{0});
  std::cout << std::setw(12) << "database:" << db.value("backend", std::string{}) << ", ";
  if (db.value("up", false))
    std::cout << "up since " << utc_time(since) << "\n";
  else
    std::cout << "DOWN since " << utc_time(since) << " (" << span(now - since)
              << "): " << db.value("reason", std::string{}) << "\n";
  if (db.value("stuck_calls", 0) > 0)
    std::cout << std::setw(12) << "" << db.value("stuck_calls", 0)
              << " abandoned database call(s) have not returned yet\n";

  std::cout << std::setw(12) << "journal:" << jn.value("depth", 0) << " row(s) waiting for the "
            << "database, " << std::fixed << std::setprecision(1)
            << jn.value("bytes", 0) / bytes_per_kib << " KiB; " << jn.value("written", 0)
            << " written this run (" << jn.value("replayed", 0) << " from a previous run)"
            << (jn.value("ok", true) ? "" : "; JOURNAL FAILED: rows are in memory only") << "\n";
  auto last_error = jn.value("last_error", std::string{});
  if (!last_error.empty())
    std::cout << std::setw(12) << ""
              << "last write failure: " << last_error << "\n";

  std::cout << std::setw(12) << "key cache:" << keys.value("loaded", 0) << " master key(s) in "
            << "memory, active key " << keys.value("active_key_id", 0)
            << (db.value("up", false) ? ""
                                      : "; serving from memory while the database is down "
                                        "(rotation and deactivation are refused)")
            << "\n";

  std::cout << std::setw(12) << "recordings:" << rec.value("active", 0) << " active ("
            << rec.value("calls", 0) << " calls in progress); " << rec.value("started", 0)
            << " started, " << rec.value("failed", 0) << " failed since start\n";
  print_counters(j);
  std::cout << std::setw(12) << "updated:" << utc_time(j.value("updated_ms", now)) << "\n";
}

int run_status(const status_options& opts) {
  auto cfg = build_config(opts.common);
  if (!cfg)
    return print_failure("status", cfg.error(), exit_usage);
  auto path = status_file_path(cfg->data_dir);
  std::ifstream in{path};
  if (!in) {
    std::cerr << "ccrec status: no engine has run with data dir " << cfg->data_dir << " (no "
              << path << ")\n";
    return exit_not_running;
  }

  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
    if (j.value("format", std::string{}) != "ccrec-status")
      throw std::runtime_error("not a ccrec status file");
    (void)j.at("database");
    (void)j.at("journal");
    (void)j.at("keys");
    (void)j.at("recordings");
  } catch (const std::exception& e) {
    std::cerr << "ccrec status: cannot read " << path << ": " << e.what() << "\n";
    return exit_not_running;
  }

  auto now = wall_ms();
  auto why_not = not_running_reason(j, now);
  if (opts.json) {
    j["running"] = why_not.empty();
    j["not_running_reason"] = why_not;
    print_json(j);
    return why_not.empty() ? exit_running : exit_not_running;
  }
  if (!why_not.empty()) {
    std::cerr << "ccrec status: not running: " << why_not << "\n";
    return exit_not_running;
  }
  print_text(j, now);
  return exit_running;
}

}  // namespace

command_fn add_status(CLI::App& app) {
  auto opts = std::make_shared<status_options>();
  auto* cmd =
      add_command(app, "status",
                  "Show a running engine's database state, journal depth, key cache and active "
                  "recordings",
                  opts->common);
  cmd->add_flag("--json", opts->json, "Print the status as JSON (with running: true/false)");
  cmd->footer(
      "Reads <data-dir>/status.json, which `ccrec serve` rewrites every second. Exit status 0 "
      "when the engine is running, 1 when it is not (stopped, killed, hung or never started).");
  return [opts] { return run_status(*opts); };
}

}  // namespace ccrec::app
