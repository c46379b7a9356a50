// database: ccrec's metadata store, over SOCI (SQLite embedded, PostgreSQL
// in production).
//
// Owns one SOCI session. Not thread-safe: one database object per thread or
// actor (SOCI sessions are not thread-safe). Every method catches SOCI's
// exceptions and returns them as errors with context ("while upserting
// recording r-1: ..."): code "db_unreachable" when the connection is lost,
// "db_error" otherwise. After a lost connection the next call reconnects
// first. Nothing here knows about actors.
//
// Every call may block: connecting gives up after a few seconds, but a
// server that stops answering (frozen, network black hole) blocks a query
// indefinitely, as there is no client-side query timeout. Run database calls
// off the recording path, where a stuck call stalls nothing but itself.
//
// Identifiers of calls and recordings are chosen by the engine (text), so
// that every write is an idempotent upsert: replaying a write after an
// outage cannot duplicate a row.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace ccrec::storage {

// A master key row. `wrapped` is the key wrapped under the KEK; the
// database never sees a key unwrapped.
struct key_row {
  std::int64_t id = 0;
  std::int64_t created_ms = 0;  // Unix epoch milliseconds
  std::string status;           // "active", "retired", "inactive"
  std::vector<std::uint8_t> wrapped;
  std::string kek_provider;  // which provider wrapped it
  std::string fingerprint;   // crypto::key_fingerprint of the key
};

struct call_row {
  std::string call_id;
  std::string direction;  // "inbound", "outbound", "internal"
  std::string from_number;
  std::string to_number;
  std::string agent;
  std::string queue;
  std::int64_t offered_ms = 0;
  std::int64_t answered_ms = 0;  // 0 when never answered
  std::int64_t ended_ms = 0;     // 0 while the call runs
  std::string state;             // "offered", "answered", "held", "ended"
  std::string decision;          // "recorded", "not_recorded"
  std::string schedule;          // name of the schedule that matched, or ""
};

struct recording_row {
  std::string id;  // engine-chosen, e.g. "20261204-abc123-audio"
  std::string call_id;
  std::string kind;         // "audio" or "screen"
  std::string path;         // relative to the recordings directory
  std::int64_t key_id = 0;  // master key that wraps the file's data key; 0 if plain
  std::string encryption;   // "ccenx" or "none"
  std::string schedule;     // schedule that decided to record
  std::string agent;
  std::int64_t started_ms = 0;
  std::int64_t ended_ms = 0;  // 0 while recording
  std::string status;         // "recording", "complete", "interrupted", "failed"
  std::int64_t bytes = 0;     // file size when finished
  std::int64_t packets = 0;   // media packets written
  std::int64_t retention_days = 0;
};

struct audit_row {
  std::int64_t id = 0;
  std::int64_t at_ms = 0;
  std::string actor;  // who: "engine", "cli:root", ...
  std::string event;  // "key_created", "key_rotated", "key_delete_refused", ...
  std::string detail;
};

class database {
 public:
  // `connection` is "sqlite:PATH", a bare PATH (SQLite), or a
  // "postgresql://..." URI. Fails with code "db_unreachable" when the server
  // cannot be reached, "db_open_failed" for other failures.
  static result<std::unique_ptr<database>> open(const std::string& connection);
  ~database();

  std::string backend() const;  // "sqlite3" or "postgresql"

  // Creates or upgrades the schema; safe to run on every start and from
  // several engines at once. Also installs the guards that make the key
  // table refuse DELETE. Fails with "schema_too_new" when the database was
  // migrated by a newer build.
  result<void> migrate();
  // Highest migration applied: 0 before the first migrate(), -1 when the
  // database cannot be read.
  int schema_version();
  // Highest migration this build knows; migrate() brings the schema to it.
  static int latest_schema_version();

  // True when a trivial query succeeds. Reconnects a broken session first.
  result<void> ping();
  result<void> reconnect();

  // Settings: small named values (e.g. the KEK salt, hex-encoded).
  result<std::optional<std::string>> setting(const std::string& name);
  result<void> put_setting(const std::string& name, const std::string& value);

  // Keys. insert_key assigns the id; keys are never deleted.
  result<std::int64_t> insert_key(const key_row& row);
  result<std::vector<key_row>> keys();
  // Fails with "not_found" when no key has `id`.
  result<void> set_key_status(std::int64_t id, const std::string& status);
  // Restores a key under its own id (from an export, so that recordings
  // keep pointing at it). Succeeds without change when the same key is
  // already there; fails with "key_conflict" when another key holds the id.
  // Later insert_key ids continue above the highest id.
  result<void> import_key(const key_row& row);

  // Calls and recordings: idempotent upserts keyed by their text ids.
  result<void> upsert_call(const call_row& row);
  result<std::optional<call_row>> call(const std::string& call_id);
  result<std::vector<call_row>> calls();

  result<void> upsert_recording(const recording_row& row);
  result<std::optional<recording_row>> recording(const std::string& id);
  result<std::vector<recording_row>> recordings();
  // Recordings still marked "recording" (left by a crash), for start-up.
  result<std::vector<recording_row>> unfinished_recordings();

  result<void> add_audit(const audit_row& row);
  result<std::vector<audit_row>> audit();

 private:
  struct impl;
  explicit database(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace ccrec::storage
