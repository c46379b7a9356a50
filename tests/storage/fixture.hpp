// Helpers for the storage tests: a fresh, migrated database on either
// backend, a second raw SOCI session to the same database (to try what the
// engine's API does not offer), and sample rows. Test thread only.
#pragma once

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "storage/database.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace ccrec::test {

// A database name no other test in this process uses.
inline std::string unique_database_name() {
  static int counter = 0;
  return "ccrec_t" + std::to_string(++counter);
}

// An empty database: a new file in a temp dir, or a new PostgreSQL database
// on the shared server. Not opened.
class fresh_target {
 public:
  explicit fresh_target(const std::string& backend) : backend_(backend) {
    if (backend == "sqlite")
      connection_ = "sqlite:" + dir_.file("ccrec.db");
    else
      connection_ = shared_pg_server().create_database(unique_database_name());
  }

  const std::string& connection() const { return connection_; }
  const std::string& backend() const { return backend_; }

  // A plain SOCI session to the same database, outside the storage layer.
  std::unique_ptr<soci::session> raw_session() const {
    if (backend_ == "sqlite")
      return std::make_unique<soci::session>(soci::sqlite3, dir_.file("ccrec.db"));
    // SOCI 4.0.3 mangles a URI without any key=value parameter.
    return std::make_unique<soci::session>(soci::postgresql, connection_ + "?connect_timeout=5");
  }

 private:
  std::string backend_;
  temp_dir dir_;
  std::string connection_;
};

inline std::unique_ptr<storage::database> open_migrated(const std::string& connection) {
  auto db = storage::database::open(connection);
  INFO((db.ok() ? std::string() : db.error().message));
  REQUIRE(db.ok());
  auto migrated = (*db)->migrate();
  INFO((migrated.ok() ? std::string() : migrated.error().message));
  REQUIRE(migrated.ok());
  return std::move(*db);
}

// The full message of the error a raw statement raises, or "" if none.
inline std::string raw_error(soci::session& sql, const std::string& statement) {
  try {
    sql << statement;
  } catch (const soci::soci_error& e) {
    return e.what();
  }
  return "";
}

inline long long raw_count(soci::session& sql, const std::string& table) {
  long long n = -1;
  sql << "SELECT COUNT(*) FROM " + table, soci::into(n);
  return n;
}

inline storage::key_row sample_key(std::int64_t created_ms, const std::string& fingerprint,
                                   std::vector<std::uint8_t> wrapped) {
  storage::key_row k;
  k.created_ms = created_ms;
  k.status = "active";
  k.wrapped = std::move(wrapped);
  k.kek_provider = "passphrase";
  k.fingerprint = fingerprint;
  return k;
}

inline storage::call_row sample_call(const std::string& id, std::int64_t offered_ms,
                                     const std::string& state) {
  storage::call_row c;
  c.call_id = id;
  c.direction = "inbound";
  c.from_number = "+441632960001";
  c.to_number = "+441632960999";
  c.agent = "agent-7";
  c.queue = "sales";
  c.offered_ms = offered_ms;
  c.answered_ms = state == "offered" ? 0 : offered_ms + 4000;
  c.ended_ms = state == "ended" ? offered_ms + 60000 : 0;
  c.state = state;
  c.decision = "recorded";
  c.schedule = "all-sales";
  return c;
}

inline storage::recording_row sample_recording(const std::string& id, std::int64_t started_ms,
                                               const std::string& status) {
  storage::recording_row r;
  r.id = id;
  r.call_id = "call-" + id;
  r.kind = "audio";
  r.path = "2026/12/04/" + id + ".ccenx";
  r.key_id = 1;
  r.encryption = "ccenx";
  r.schedule = "all-sales";
  r.agent = "agent-7";
  r.started_ms = started_ms;
  r.ended_ms = status == "recording" ? 0 : started_ms + 30000;
  r.status = status;
  r.bytes = status == "recording" ? 0 : 481234;
  r.packets = status == "recording" ? 0 : 3000;
  r.retention_days = 90;
  return r;
}

inline void check_same(const storage::key_row& got, const storage::key_row& want) {
  CHECK(got.id == want.id);
  CHECK(got.created_ms == want.created_ms);
  CHECK(got.status == want.status);
  CHECK(got.wrapped == want.wrapped);
  CHECK(got.kek_provider == want.kek_provider);
  CHECK(got.fingerprint == want.fingerprint);
}

inline void check_same(const storage::call_row& got, const storage::call_row& want) {
  CHECK(got.call_id == want.call_id);
  CHECK(got.direction == want.direction);
  CHECK(got.from_number == want.from_number);
  CHECK(got.to_number == want.to_number);
  CHECK(got.agent == want.agent);
  CHECK(got.queue == want.queue);
  CHECK(got.offered_ms == want.offered_ms);
  CHECK(got.answered_ms == want.answered_ms);
  CHECK(got.ended_ms == want.ended_ms);
  CHECK(got.state == want.state);
  CHECK(got.decision == want.decision);
  CHECK(got.schedule == want.schedule);
}

inline void check_same(const storage::recording_row& got, const storage::recording_row& want) {
  CHECK(got.id == want.id);
  CHECK(got.call_id == want.call_id);
  CHECK(got.kind == want.kind);
  CHECK(got.path == want.path);
  CHECK(got.key_id == want.key_id);
  CHECK(got.encryption == want.encryption);
  CHECK(got.schedule == want.schedule);
  CHECK(got.agent == want.agent);
  CHECK(got.started_ms == want.started_ms);
  CHECK(got.ended_ms == want.ended_ms);
  CHECK(got.status == want.status);
  CHECK(got.bytes == want.bytes);
  CHECK(got.packets == want.packets);
  CHECK(got.retention_days == want.retention_days);
}

}  // namespace ccrec::test
