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
  // What the file at `path` holds now (docs/transcoding.md): "raw" (CCRAW
  // record stream), "compressed" (FLAC inside CCENX), "plain_wav" (a WAV
  // written in the clear by the plain-WAV recording method: plaintext
  // pending), "wav" (a WAV inside CCENX). Empty on upsert: derived from the
  // path (the plaintext spool holds plain_wav files) when the row is new.
  std::string form;
  std::string method;           // how the engine wrote it: "ccenx", "none", "plain_wav"
  std::string xml_policy;       // call-metadata XML: "off", "plain", "encrypted"; "" not noted
  std::string xml_path;         // that XML file, relative to the recordings directory
  std::string replaced_path;    // a file this row no longer uses, still to be removed
  std::int64_t settled_ms = 0;  // when the file was last replaced (transcoded, encrypted)
};

// The directory, relative to the recordings directory, where the plain-WAV
// recording method writes; upsert_recording derives form "plain_wav" from it.
inline constexpr const char* plaintext_spool_dir = "plaintext-spool";

// A recording's file replaced by another (transcoded, encrypted in place).
struct recording_file_change {
  std::string id;
  std::string expected_path;  // the row's path must still be this
  std::string new_path;
  std::string form;
  std::int64_t key_id = 0;
  std::string encryption;
  std::int64_t bytes = 0;
};

struct audit_row {
  std::int64_t id = 0;
  std::int64_t at_ms = 0;
  std::string actor;  // who: "engine", "cli:root", ...
  std::string event;  // "key_created", "key_rotated", "key_delete_refused", ...
  std::string detail;
};

// The file an SQLite connection string names ("sqlite:PATH" or a bare
// PATH); "" for PostgreSQL or a malformed string.
std::string sqlite_file_path(const std::string& connection);

class database {
 public:
  // `connection` is "sqlite:PATH", a bare PATH (SQLite), or a
  // "postgresql://..." URI. Fails with code "db_unreachable" when the server
  // cannot be reached, "db_open_failed" for other failures.
  static result<std::unique_ptr<database>> open(const std::string& connection);
  // As open(), but never creates an SQLite file: fails with "db_missing",
  // naming the path, when there is none (deleted, or a wrong --data-dir).
  // Reconnects of the returned session refuse to create one too. For
  // commands and engine parts that must find the database already there.
  static result<std::unique_ptr<database>> open_existing(const std::string& connection);
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
  // Once a row has been settled (replace_recording_file), upsert_recording
  // leaves its existing columns alone: the engine has said everything about
  // a finished recording, and a replayed older write must not point the row
  // back at a file that is gone.

  // Finished audio recordings still in form "raw" or "plain_wav": the
  // transcoder's queue, oldest first.
  result<std::vector<recording_row>> recordings_to_transcode();
  // Rows in `form`, and rows whose replaced_path is not yet cleared.
  result<std::vector<recording_row>> recordings_in_form(const std::string& form);
  result<std::vector<recording_row>> recordings_with_replaced_file();
  // Rows whose path is `path` (relative to the recordings directory).
  result<std::vector<recording_row>> recordings_at_path(const std::string& path);
  // Notes which policies applied. False when no row has `id` (yet).
  result<bool> set_recording_policy(const std::string& id, const std::string& method,
                                    const std::string& xml_policy, const std::string& xml_path);
  // Points the row at its new file, in one statement, only if its path is
  // still `expected_path`; remembers that path in replaced_path when it
  // differs from the new one. False when the row moved on (or is missing).
  result<bool> replace_recording_file(const recording_file_change& change);
  // The replaced file is gone: forget it.
  result<void> clear_replaced_path(const std::string& id);

  result<void> add_audit(const audit_row& row);
  result<std::vector<audit_row>> audit();

 private:
  struct impl;
  explicit database(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace ccrec::storage
