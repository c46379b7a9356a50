// status_file: how `ccrec status` reaches a running `ccrec serve`.
//
// The serving process writes <data_dir>/status.json once a second: a new
// file renamed over the old one, so a reader never sees half of one. It says
// whether the database is up (and why not), how many metadata rows wait in
// the journal, what the key cache holds and how many recordings run. At a
// clean stop it writes state "stopped". `ccrec status` reads the file and
// trusts it only when it is fresh and its process is alive. No sockets, no
// engine thread involved: it works however busy or stuck the engine is, and
// it never holds key material (key ids and counts only).
//
// Called from the serve command's main thread and from `ccrec status`.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "messages/messages.hpp"

namespace ccrec::app {

inline constexpr char status_file_name[] = "status.json";
inline constexpr int status_file_version = 1;
// Written every second; older than this, the writer is gone or hung.
inline constexpr std::int64_t status_stale_ms = 5000;

struct serve_facts {
  long pid = 0;
  std::int64_t started_ms = 0;
  std::string state = "running";  // "running", "stopping", "stopped"
  std::string db_backend;         // "postgresql" or "sqlite3"
  std::string cti_endpoint;
  bool encryption = true;
  bool status_write_failing = false;  // the last write failed (logged once)
};

std::string status_file_path(const std::string& data_dir);

nlohmann::json status_json(const serve_facts& facts, const engine_status& status,
                           std::int64_t now_ms);

// Writes, syncs and closes a temporary file, and only then renames it over
// the old one; on any failure the old file stays. Fails with "status_file"
// naming the path and the reason.
result<void> write_status_file(const std::string& data_dir, const nlohmann::json& status);

std::int64_t wall_ms();

}  // namespace ccrec::app
