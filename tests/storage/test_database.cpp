// The storage layer's behaviour, each test on both backends: SQLite in a
// temp dir and a fresh database on the throwaway PostgreSQL server.
#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include "tests/storage/fixture.hpp"

using ccrec::storage::audit_row;
using ccrec::storage::database;
using ccrec::storage::key_row;
using ccrec::storage::recording_row;
using namespace ccrec::test;

namespace {

constexpr int kSchemaVersion = 3;  // tables (1), never-delete guards (2), forms (3)

const std::string kNeverDeleted = "ccrec: keys are never deleted";
const std::string kImmutable = "ccrec: key material is immutable, only status may change";
const std::string kAppendOnly = "ccrec: audit rows are never changed or deleted";

// Wrapped bytes with the values that break naive text handling.
const std::vector<std::uint8_t> kWrappedA = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x00, 0x27, 0x5c};
const std::vector<std::uint8_t> kWrappedB = {0xde, 0xad, 0xbe, 0xef};
const std::vector<std::uint8_t> kWrappedC(72, 0xa5);

std::string backend_name(const std::string& backend) {
  return backend == "sqlite" ? "sqlite3" : "postgresql";
}

}  // namespace

TEST_CASE("migrate creates the schema once and is idempotent", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);

  auto opened = database::open(target.connection());
  REQUIRE(opened.ok());
  auto& db = **opened;
  CHECK(db.backend() == backend_name(backend));
  CHECK(db.schema_version() == 0);
  CHECK(database::latest_schema_version() == kSchemaVersion);

  REQUIRE(db.migrate().ok());
  CHECK(db.schema_version() == kSchemaVersion);
  REQUIRE(db.migrate().ok());
  CHECK(db.schema_version() == kSchemaVersion);

  // A second engine starting later finds nothing to do.
  auto again = open_migrated(target.connection());
  CHECK(again->schema_version() == kSchemaVersion);

  auto raw = target.raw_session();
  CHECK(raw_count(*raw, "schema_version") == kSchemaVersion);
  long long low = 0, high = 0;
  *raw << "SELECT MIN(version), MAX(version) FROM schema_version", soci::into(low),
      soci::into(high);
  CHECK(low == 1);
  CHECK(high == kSchemaVersion);
}

TEST_CASE("two engines migrating at the same moment both succeed", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);

  auto engine = [&] {
    auto db = database::open(target.connection());
    if (!db)
      return db.error().message;
    auto migrated = (*db)->migrate();
    return migrated ? std::string("ok") : migrated.error().message;
  };
  auto first = std::async(std::launch::async, engine);
  auto second = std::async(std::launch::async, engine);
  CHECK(first.get() == "ok");
  CHECK(second.get() == "ok");

  auto raw = target.raw_session();
  CHECK(raw_count(*raw, "schema_version") == kSchemaVersion);
}

TEST_CASE("migrate refuses a schema newer than this build", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);
  auto db = open_migrated(target.connection());

  auto raw = target.raw_session();
  *raw << "INSERT INTO schema_version (version, applied_ms, description) VALUES (99, 0, 'x')";

  auto migrated = db->migrate();
  REQUIRE_FALSE(migrated.ok());
  CHECK(migrated.error().code == "schema_too_new");
  CHECK(migrated.error().message ==
        "while migrating the schema: the database schema is version 99, this build knows up to 3");
  CHECK(db->schema_version() == 99);
}

TEST_CASE("insert_key numbers keys 1, 2, 3 and keys() returns them exactly", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);
  auto db = open_migrated(target.connection());

  std::vector<key_row> want = {sample_key(1000, "fp-a", kWrappedA),
                               sample_key(2000, "fp-b", kWrappedB),
                               sample_key(3000, "fp-c", kWrappedC)};
  want[2].kek_provider = "pkcs11";
  for (std::size_t i = 0; i < want.size(); ++i) {
    auto id = db->insert_key(want[i]);
    REQUIRE(id.ok());
    CHECK(*id == static_cast<std::int64_t>(i + 1));
    want[i].id = *id;
  }

  auto got = db->keys();
  REQUIRE(got.ok());
  REQUIRE(got->size() == 3);
  for (std::size_t i = 0; i < want.size(); ++i)
    check_same((*got)[i], want[i]);

  auto empty = db->insert_key(sample_key(4000, "fp-d", {}));
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == "invalid_key");
}

TEST_CASE("the database itself refuses to delete keys", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);
  auto db = open_migrated(target.connection());
  REQUIRE(db->insert_key(sample_key(1000, "fp-a", kWrappedA)).ok());
  REQUIRE(db->insert_key(sample_key(2000, "fp-b", kWrappedB)).ok());

  auto raw = target.raw_session();
  CHECK_THAT(raw_error(*raw, "DELETE FROM keys"), Catch::Contains(kNeverDeleted));
  CHECK_THAT(raw_error(*raw, "DELETE FROM keys WHERE id = 2"), Catch::Contains(kNeverDeleted));
  CHECK(raw_count(*raw, "keys") == 2);

  auto keys = db->keys();
  REQUIRE(keys.ok());
  CHECK(keys->size() == 2);
}

TEST_CASE("key material is immutable while the status may change", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);
  auto db = open_migrated(target.connection());
  auto want = sample_key(1000, "fp-a", kWrappedA);
  REQUIRE(db->insert_key(want).ok());
  want.id = 1;

  auto raw = target.raw_session();
  const std::string new_bytes = backend == "sqlite" ? "X'00'" : "decode('00', 'hex')";
  CHECK_THAT(raw_error(*raw, "UPDATE keys SET wrapped = " + new_bytes + " WHERE id = 1"),
             Catch::Contains(kImmutable));
  CHECK_THAT(raw_error(*raw, "UPDATE keys SET fingerprint = 'fp-x' WHERE id = 1"),
             Catch::Contains(kImmutable));
  CHECK_THAT(raw_error(*raw, "UPDATE keys SET id = 5 WHERE id = 1"), Catch::Contains(kImmutable));

  REQUIRE(db->set_key_status(1, "retired").ok());
  want.status = "retired";
  auto keys = db->keys();
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 1);
  check_same(keys->front(), want);

  auto missing = db->set_key_status(42, "retired");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "not_found");
  CHECK(missing.error().message == "while setting key 42 to retired: no such key");

  // The CHECK constraint: only the three known states.
  auto bogus = db->set_key_status(1, "bogus");
  REQUIRE_FALSE(bogus.ok());
  CHECK(bogus.error().code == "db_error");
  CHECK_THAT(bogus.error().message, Catch::StartsWith("while setting key 1 to bogus: "));
}

TEST_CASE("import_key restores a key under its own id", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);
  auto db = open_migrated(target.connection());

  auto imported = sample_key(500, "fp-old", kWrappedB);
  imported.id = 7;
  imported.status = "retired";
  REQUIRE(db->import_key(imported).ok());
  REQUIRE(db->import_key(imported).ok());  // the same key again: nothing to do

  auto other = imported;
  other.fingerprint = "fp-other";
  auto conflict = db->import_key(other);
  REQUIRE_FALSE(conflict.ok());
  CHECK(conflict.error().code == "key_conflict");

  auto next = db->insert_key(sample_key(1000, "fp-new", kWrappedA));
  REQUIRE(next.ok());
  CHECK(*next == 8);

  auto keys = db->keys();
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 2);
  check_same(keys->front(), imported);
  CHECK((*keys)[1].id == 8);
}

TEST_CASE("upsert_call twice leaves one row with the second values", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);
  auto db = open_migrated(target.connection());

  auto first = sample_call("c-1", 1000, "offered");
  auto second = sample_call("c-1", 1000, "ended");
  second.agent = "agent-9";
  second.queue = "support";
  second.decision = "not_recorded";
  second.schedule = "";
  REQUIRE(db->upsert_call(first).ok());
  REQUIRE(db->upsert_call(second).ok());

  auto raw = target.raw_session();
  CHECK(raw_count(*raw, "calls") == 1);
  auto got = db->call("c-1");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  check_same(**got, second);

  auto missing = db->call("c-404");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());

  // calls() orders by offered time, then id.
  REQUIRE(db->upsert_call(sample_call("c-0", 500, "answered")).ok());
  REQUIRE(db->upsert_call(sample_call("c-2", 1000, "answered")).ok());
  auto all = db->calls();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].call_id == "c-0");
  CHECK((*all)[1].call_id == "c-1");
  CHECK((*all)[2].call_id == "c-2");
  check_same((*all)[1], second);
}

TEST_CASE("upsert_recording twice leaves one row with the second values", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);
  auto db = open_migrated(target.connection());

  auto first = sample_recording("r-1", 1000, "recording");
  auto second = sample_recording("r-1", 1000, "complete");
  second.bytes = 1LL << 40;  // past 32 bits: BIGINT all the way
  second.path = "elsewhere/r-1.ccenx";
  REQUIRE(db->upsert_recording(first).ok());
  REQUIRE(db->upsert_recording(second).ok());

  auto raw = target.raw_session();
  CHECK(raw_count(*raw, "recordings") == 1);
  auto got = db->recording("r-1");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  check_same(**got, second);

  auto missing = db->recording("r-404");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());
}

TEST_CASE("recordings come back ordered by start time then id", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);
  auto db = open_migrated(target.connection());

  // Written out of order, with two pairs starting at the same millisecond.
  std::vector<recording_row> written = {
      sample_recording("r-d", 3000, "complete"),  sample_recording("r-b", 2000, "recording"),
      sample_recording("r-c", 2000, "complete"),  sample_recording("r-a", 1000, "interrupted"),
      sample_recording("r-f", 4000, "recording"), sample_recording("r-e", 4000, "recording"),
  };
  for (const auto& r : written)
    REQUIRE(db->upsert_recording(r).ok());

  auto all = db->recordings();
  REQUIRE(all.ok());
  std::vector<std::string> ids;
  for (const auto& r : *all)
    ids.push_back(r.id);
  CHECK(ids == std::vector<std::string>{"r-a", "r-b", "r-c", "r-d", "r-e", "r-f"});
  check_same(all->front(), written[3]);

  auto unfinished = db->unfinished_recordings();
  REQUIRE(unfinished.ok());
  ids.clear();
  for (const auto& r : *unfinished)
    ids.push_back(r.id);
  CHECK(ids == std::vector<std::string>{"r-b", "r-e", "r-f"});
}

TEST_CASE("settings are read back, overwritten, and absent until written", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);
  auto db = open_migrated(target.connection());

  auto absent = db->setting("kek_salt");
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());

  REQUIRE(db->put_setting("kek_salt", "00112233445566778899aabbccddeeff").ok());
  REQUIRE(db->put_setting("site", "it's \"quoted\" \xc3\xa9").ok());
  REQUIRE(db->put_setting("kek_salt", "ffeeddccbbaa99887766554433221100").ok());

  auto salt = db->setting("kek_salt");
  REQUIRE(salt.ok());
  CHECK(*salt == std::optional<std::string>("ffeeddccbbaa99887766554433221100"));
  auto site = db->setting("site");
  REQUIRE(site.ok());
  CHECK(*site == std::optional<std::string>("it's \"quoted\" \xc3\xa9"));

  auto raw = target.raw_session();
  CHECK(raw_count(*raw, "settings") == 2);
}

TEST_CASE("the audit trail is append-only and read back in order", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);
  auto db = open_migrated(target.connection());

  std::vector<audit_row> want = {
      {0, 1000, "engine", "key_created", "key 1"},
      {0, 2000, "cli:root", "key_rotated", "key 2 replaces key 1"},
      {0, 2000, "cli:root", "key_delete_refused", ""},
  };
  for (const auto& row : want)
    REQUIRE(db->add_audit(row).ok());

  auto got = db->audit();
  REQUIRE(got.ok());
  REQUIRE(got->size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CHECK((*got)[i].id == static_cast<std::int64_t>(i + 1));
    CHECK((*got)[i].at_ms == want[i].at_ms);
    CHECK((*got)[i].actor == want[i].actor);
    CHECK((*got)[i].event == want[i].event);
    CHECK((*got)[i].detail == want[i].detail);
  }

  auto raw = target.raw_session();
  CHECK_THAT(raw_error(*raw, "DELETE FROM audit"), Catch::Contains(kAppendOnly));
  CHECK_THAT(raw_error(*raw, "UPDATE audit SET detail = 'x'"), Catch::Contains(kAppendOnly));
  CHECK(raw_count(*raw, "audit") == 3);
}

TEST_CASE("errors name the operation and never quote key bytes or row values", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);
  auto db = open_migrated(target.connection());

  // A status the CHECK constraint refuses: the statement carries the wrapped
  // bytes, and PostgreSQL's DETAIL would quote the whole failing row.
  auto key = sample_key(1000, "fp-a", kWrappedB);
  key.status = "bogus";
  auto inserted = db->insert_key(key);
  REQUIRE_FALSE(inserted.ok());
  CHECK(inserted.error().code == "db_error");
  CHECK_THAT(inserted.error().message, Catch::StartsWith("while inserting key fp-a: "));
  CHECK_THAT(inserted.error().message, !Catch::Contains("deadbeef", Catch::CaseSensitive::No));
  CHECK_THAT(inserted.error().message, !Catch::Contains("1000"));

  // A table dropped under the engine: the upsert's values stay out too.
  auto raw = target.raw_session();
  *raw << "DROP TABLE recordings";
  auto upserted = db->upsert_recording(sample_recording("r-1", 1000, "complete"));
  REQUIRE_FALSE(upserted.ok());
  CHECK(upserted.error().code == "db_error");
  CHECK_THAT(upserted.error().message, Catch::StartsWith("while upserting recording r-1: "));
  CHECK_THAT(upserted.error().message, Catch::Contains("recordings"));
  CHECK_THAT(upserted.error().message, !Catch::Contains("ccenx"));
}

TEST_CASE("ping answers on a healthy database", "[storage]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  fresh_target target(backend);
  auto db = open_migrated(target.connection());
  CHECK(db->ping().ok());
  CHECK(db->reconnect().ok());
  CHECK(db->ping().ok());
  CHECK(db->schema_version() == kSchemaVersion);
}

TEST_CASE("an SQLite file that cannot be created fails with db_open_failed", "[storage]") {
  temp_dir dir;
  const std::string path = dir.file("no-such-dir/ccrec.db");
  auto db = database::open("sqlite:" + path);
  REQUIRE_FALSE(db.ok());
  CHECK(db.error().code == "db_open_failed");
  CHECK_THAT(db.error().message, Catch::StartsWith("cannot open sqlite3 database " + path + ": "));

  auto empty = database::open("sqlite:");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == "db_open_failed");
}

TEST_CASE("a bare path, even with spaces and =, opens SQLite in WAL mode", "[storage]") {
  temp_dir dir;
  const std::string path = dir.file("with space=and equals.db");
  auto db = open_migrated(path);
  CHECK(db->backend() == "sqlite3");
  REQUIRE(db->put_setting("a", "b").ok());

  soci::session raw(soci::sqlite3, "db=\"" + path + "\"");
  std::string mode;
  raw << "PRAGMA journal_mode", soci::into(mode);
  CHECK(mode == "wal");
  std::string value;
  raw << "SELECT value FROM settings WHERE name = 'a'", soci::into(value);
  CHECK(value == "b");
}
