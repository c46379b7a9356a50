// Key administration over a real database, on SQLite and PostgreSQL:
// never-delete guards, rotation, deactivation guarded by kept recordings,
// export and import with every refusal leaving the database as it was,
// and the audit trail of each.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "actors/key_admin.hpp"
#include "tests/keys/keys_support.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

constexpr std::int64_t day_ms = ms_per_day;

// Everything an import could change, to compare before and after.
struct db_snapshot {
  std::vector<std::string> keys;  // "id status fingerprint"
  std::vector<std::string> settings;
  std::size_t audit_rows = 0;

  bool operator==(const db_snapshot& o) const {
    return keys == o.keys && settings == o.settings && audit_rows == o.audit_rows;
  }
};

db_snapshot snapshot(storage::database& db) {
  db_snapshot s;
  auto keys = db.keys();
  REQUIRE(keys.ok());
  for (const auto& k : *keys)
    s.keys.push_back(std::to_string(k.id) + " " + k.status + " " + k.fingerprint);
  for (const char* name : {"kek_salt", "kek_kdf_profile", "kek_fingerprint"}) {
    auto v = db.setting(name);
    REQUIRE(v.ok());
    s.settings.push_back(std::string{name} + "=" + v->value_or("<none>"));
  }
  auto audit = db.audit();
  REQUIRE(audit.ok());
  s.audit_rows = audit->size();
  return s;
}

storage::recording_row recording_with_key(const std::string& id, std::int64_t key_id,
                                          std::int64_t started_ms, std::int64_t retention_days,
                                          const std::string& status) {
  auto r = sample_recording(id, started_ms, status);
  r.key_id = key_id;
  r.retention_days = retention_days;
  return r;
}

// A database with master key 1 (retired) and 2 (active).
std::unique_ptr<storage::database> rotated_database(const fresh_target& target) {
  auto db = open_migrated(target.connection());
  auto secret = test_secret();
  keyring_options opts{"test", true, "engine"};
  REQUIRE(open_keyring(*db, secret.get(), opts).ok());
  auto kek = test_kek(*db);
  auto rotated = rotate_key(*db, kek, test_actor);
  REQUIRE(rotated.ok());
  REQUIRE(rotated->new_id == 2);
  return db;
}

std::string import_error(storage::database& db, const std::string& path,
                         const std::string& passphrase = test_passphrase) {
  auto done = import_keys(db, path, secret_of(passphrase), test_kek_source(db), test_actor);
  return done.ok() ? "" : done.error().code;
}

}  // namespace

TEST_CASE("the database refuses a raw DELETE of keys", "[keys][admin]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(backend) {
    fresh_target target{backend};
    auto db = rotated_database(target);
    auto raw = target.raw_session();

    auto error = raw_error(*raw, "DELETE FROM keys");
    CHECK_THAT(error, Catch::Contains("ccrec: keys are never deleted"));
    error = raw_error(*raw, "DELETE FROM keys WHERE id = 1");
    CHECK_THAT(error, Catch::Contains("ccrec: keys are never deleted"));
    if (backend == "postgresql") {
      error = raw_error(*raw, "TRUNCATE keys");
      CHECK_THAT(error, Catch::Contains("ccrec: keys are never deleted"));
    }
    error = raw_error(*raw, "UPDATE keys SET fingerprint = 'forged' WHERE id = 1");
    CHECK_THAT(error, Catch::Contains("ccrec: key material is immutable"));
    CHECK(raw_count(*raw, "keys") == 2);
    CHECK(test_keyring(*db).keys.size() == 2);
  }
}

TEST_CASE("rotation makes a new active key and keeps the old one for decryption", "[keys][admin]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(backend) {
    fresh_target target{backend};
    auto db = rotated_database(target);
    auto kek = test_kek(*db);

    auto third = rotate_key(*db, kek, test_actor);
    REQUIRE(third.ok());
    CHECK(third->new_id == 3);
    CHECK(third->retired == std::vector<std::int64_t>{2});
    auto keys = list_keys(*db, key_admin_now_ms());
    REQUIRE(keys.ok());
    REQUIRE(keys->size() == 3);
    CHECK((*keys)[0].status == "retired");
    CHECK((*keys)[1].status == "retired");
    CHECK((*keys)[2].status == "active");
    CHECK((*keys)[2].fingerprint == third->fingerprint);
    CHECK((*keys)[2].kek_provider == "passphrase-argon2id");

    auto ring = test_keyring(*db);
    CHECK(ring.active_id == 3);
    CHECK(ring.keys.size() == 3);

    auto audit = db->audit();
    REQUIRE(audit.ok());
    REQUIRE(audit->size() == 5);
    CHECK((*audit)[3].event == "key_created");
    CHECK((*audit)[3].actor == test_actor);
    CHECK((*audit)[3].detail == "master key 3 fingerprint " + third->fingerprint);
    CHECK((*audit)[4].event == "key_rotated");
    CHECK((*audit)[4].detail == "master key 3 (fingerprint " + third->fingerprint +
                                    ") is now the active key; retired: 2");
    CHECK((*audit)[4].at_ms >= (*audit)[3].at_ms);
  }
}

TEST_CASE("deactivation is refused while kept recordings use the key", "[keys][admin]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(backend) {
    fresh_target target{backend};
    auto db = rotated_database(target);
    const auto now = key_admin_now_ms();

    // Key 1: one kept forever, one kept for 30 days from 10 days ago, one
    // expired, one discarded; key 2 (active) has one.
    REQUIRE(
        db->upsert_recording(recording_with_key("r-forever", 1, now - 400 * day_ms, 0, "complete"))
            .ok());
    REQUIRE(
        db->upsert_recording(recording_with_key("r-30d", 1, now - 10 * day_ms, 30, "interrupted"))
            .ok());
    REQUIRE(
        db->upsert_recording(recording_with_key("r-expired", 1, now - 40 * day_ms, 7, "complete"))
            .ok());
    REQUIRE(db->upsert_recording(recording_with_key("r-discarded", 1, now, 0, "discarded")).ok());
    REQUIRE(db->upsert_recording(recording_with_key("r-new", 2, now, 0, "complete")).ok());

    auto keys = list_keys(*db, now);
    REQUIRE(keys.ok());
    CHECK((*keys)[0].files == 4);
    CHECK((*keys)[0].kept == 2);
    CHECK((*keys)[1].files == 1);
    CHECK((*keys)[1].kept == 1);

    auto refused = deactivate_key(*db, 1, test_actor, now);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == "key_in_use");
    CHECK(refused.error().message ==
          "master key 1 is still used by 2 kept recordings; it can be deactivated once none "
          "is kept");

    // One left: the message says so in the singular.
    auto r30 = recording_with_key("r-30d", 1, now - 10 * day_ms, 30, "discarded");
    REQUIRE(db->upsert_recording(r30).ok());
    refused = deactivate_key(*db, 1, test_actor, now);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message ==
          "master key 1 is still used by 1 kept recording; it can be deactivated once none is "
          "kept");

    auto active = deactivate_key(*db, 2, test_actor, now);
    REQUIRE_FALSE(active.ok());
    CHECK(active.error().code == "key_active");
    CHECK(deactivate_key(*db, 9, test_actor, now).error().code == "not_found");
    CHECK(test_keyring(*db).keys.size() == 2);

    // Its retention runs out: 400 days from its start is in the past, 401
    // days' retention is not.
    auto last = recording_with_key("r-forever", 1, now - 400 * day_ms, 401, "complete");
    last.ended_ms = last.started_ms;
    REQUIRE(db->upsert_recording(last).ok());
    CHECK_FALSE(deactivate_key(*db, 1, test_actor, now).ok());
    CHECK(deactivate_key(*db, 1, test_actor, now + 2 * day_ms).ok());

    keys = list_keys(*db, now);
    REQUIRE(keys.ok());
    CHECK((*keys)[0].status == "inactive");
    CHECK((*keys)[1].status == "active");
    CHECK(deactivate_key(*db, 1, test_actor, now).ok());  // already inactive: no change

    // An inactive key is kept (never deleted) but no longer served.
    auto ring = test_keyring(*db);
    CHECK(ring.keys.size() == 1);
    CHECK(ring.find(1) == nullptr);
    CHECK(ring.active_id == 2);

    auto audit = db->audit();
    REQUIRE(audit.ok());
    std::vector<std::string> tail;
    for (std::size_t i = 3; i < audit->size(); ++i)
      tail.push_back((*audit)[i].event + ": " + (*audit)[i].detail);
    CHECK(tail == std::vector<std::string>{
                      "key_deactivate_refused: master key 1 is still used by 2 kept recordings; "
                      "it can be deactivated once none is kept",
                      "key_deactivate_refused: master key 1 is still used by 1 kept recording; "
                      "it can be deactivated once none is kept",
                      "key_deactivate_refused: master key 1 is still used by 1 kept recording; "
                      "it can be deactivated once none is kept",
                      "key_deactivated: master key 1 (fingerprint " + (*keys)[0].fingerprint +
                          ") deactivated; 4 recording(s) named it, none kept"});
  }
}

TEST_CASE("a delete is refused and audited", "[keys][admin]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(backend) {
    fresh_target target{backend};
    auto db = rotated_database(target);
    auto refused = refuse_key_delete(*db, 1, "cli:alice");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == "key_delete_refused");
    auto audit = db->audit();
    REQUIRE(audit.ok());
    CHECK(audit->back().event == "key_delete_refused");
    CHECK(audit->back().actor == "cli:alice");
    CHECK_THAT(audit->back().detail,
               Catch::StartsWith("master key 1 was not deleted: keys are never deleted"));
    CHECK(test_keyring(*db).keys.size() == 2);
  }
}

TEST_CASE("export then import restores every key, twice without duplicates", "[keys][admin]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(backend) {
    temp_dir dir;
    fresh_target source{backend};
    auto db = rotated_database(source);
    const auto path = dir.file("keys.cckeyx");
    export_all(*db, path);
    auto audit = db->audit();
    REQUIRE(audit.ok());
    CHECK(audit->back().event == "keys_exported");
    CHECK(audit->back().detail == "2 master key(s) (1, 2) exported to " + path);

    // A wrong secret cannot export.
    auto wrong_kek = crypto::secret_bytes::random(crypto::key_bytes);
    auto refused = export_keys(*db, wrong_kek, secret_of(test_passphrase), dir.file("x"),
                               crypto::export_kdf_limits::for_tests(), test_actor);
    CHECK(refused.error().code == "key_unwrap_failed");
    CHECK_FALSE(std::filesystem::exists(dir.file("x")));
    auto kek = test_kek(*db);
    auto short_pass = export_keys(*db, kek, secret_of("too short"), dir.file("y"),
                                  crypto::export_kdf_limits::for_tests(), test_actor);
    CHECK(short_pass.error().code == "passphrase_too_short");

    fresh_target target{backend};
    auto fresh = open_migrated(target.connection());
    auto first =
        import_keys(*fresh, path, secret_of(test_passphrase), test_kek_source(*fresh), test_actor);
    REQUIRE(first.ok());
    CHECK(first->imported == std::vector<std::int64_t>{1, 2});
    CHECK(first->skipped.empty());
    CHECK(first->demoted.empty());

    auto second =
        import_keys(*fresh, path, secret_of(test_passphrase), test_kek_source(*fresh), test_actor);
    REQUIRE(second.ok());
    CHECK(second->imported.empty());
    CHECK(second->skipped == std::vector<std::int64_t>{1, 2});

    auto old_ring = test_keyring(*db);
    auto new_ring = test_keyring(*fresh);
    REQUIRE(new_ring.keys.size() == 2);
    CHECK(new_ring.active_id == 2);
    for (std::int64_t id : {1, 2}) {
      REQUIRE(new_ring.find(id) != nullptr);
      CHECK(std::memcmp(new_ring.find(id)->data(), old_ring.find(id)->data(), crypto::key_bytes) ==
            0);
    }
    auto rows = fresh->keys();
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 2);
    auto old_rows = db->keys();
    REQUIRE(old_rows.ok());
    for (std::size_t i = 0; i < 2; ++i) {
      CHECK((*rows)[i].created_ms == (*old_rows)[i].created_ms);
      CHECK((*rows)[i].status == (*old_rows)[i].status);
      // Re-wrapped under the new database's KEK (its own salt).
      CHECK((*rows)[i].wrapped != (*old_rows)[i].wrapped);
    }
    // Later keys continue above the imported ids.
    auto next = rotate_key(*fresh, test_kek(*fresh), test_actor);
    REQUIRE(next.ok());
    CHECK(next->new_id == 3);

    auto events = audit_events(*fresh);
    CHECK(events == std::vector<std::string>{"keys_imported|test:keys", "keys_imported|test:keys",
                                             "key_created|test:keys", "key_rotated|test:keys"});
    auto fresh_audit = fresh->audit();
    REQUIRE(fresh_audit.ok());
    CHECK((*fresh_audit)[0].detail == "imported 1, 2 from " + path + "; already present: none");
    CHECK((*fresh_audit)[1].detail == "imported none from " + path + "; already present: 1, 2");
  }
}

TEST_CASE("a wrong passphrase or a damaged export changes nothing", "[keys][admin]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(backend) {
    temp_dir dir;
    fresh_target source{backend};
    auto db = rotated_database(source);
    const auto path = dir.file("keys.cckeyx");
    export_all(*db, path);
    const auto good = read_bytes(path);

    fresh_target empty_target{backend};
    auto empty = open_migrated(empty_target.connection());
    fresh_target other_target{backend};
    auto other = rotated_database(other_target);  // other keys under the same ids

    for (auto* target : {empty.get(), other.get()}) {
      const auto before = snapshot(*target);
      CHECK(import_error(*target, path, wrong_passphrase_text) == "wrong_passphrase");

      auto flipped = good;
      flipped[good.size() - 20] ^= 0x04;
      write_bytes(dir.file("flipped"), flipped);
      CHECK(import_error(*target, dir.file("flipped")) == "export_damaged");

      auto header = good;
      header[30] ^= 0x01;  // the salt
      write_bytes(dir.file("header"), header);
      CHECK(import_error(*target, dir.file("header")) == "export_damaged");

      write_bytes(dir.file("cut"), {good.begin(), good.begin() + 150});
      CHECK(import_error(*target, dir.file("cut")) == "export_truncated");
      write_bytes(dir.file("empty"), {});
      CHECK(import_error(*target, dir.file("empty")) == "export_truncated");
      CHECK(import_error(*target, dir.file("missing")) == "export_io");

      CHECK(snapshot(*target) == before);
    }

    // The empty database did not even get a KEK set up.
    auto salt = empty->setting("kek_salt");
    REQUIRE(salt.ok());
    CHECK_FALSE(salt->has_value());

    // Different keys under the same ids: refused as a whole, naming them.
    const auto before = snapshot(*other);
    auto conflict =
        import_keys(*other, path, secret_of(test_passphrase), test_kek_source(*other), test_actor);
    REQUIRE_FALSE(conflict.ok());
    CHECK(conflict.error().code == "key_conflict");
    CHECK_THAT(conflict.error().message, Catch::Contains("key 1 (fingerprint "));
    CHECK_THAT(conflict.error().message, Catch::Contains("key 2 (fingerprint "));
    CHECK_THAT(conflict.error().message, Catch::Contains("Nothing was imported"));
    CHECK(snapshot(*other) == before);
  }
}

TEST_CASE("an import keeps the database's own active key", "[keys][admin]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(backend) {
    temp_dir dir;
    // Source: one key under id 50 (as if from a database with a long history).
    fresh_target source_target{backend};
    auto source = open_migrated(source_target.connection());
    auto source_kek = test_kek(*source);
    auto key = crypto::secret_bytes::random(crypto::key_bytes);
    storage::key_row row;
    row.id = 50;
    row.created_ms = 1700000000000;
    row.status = "active";
    row.kek_provider = passphrase_kek_provider_name;
    row.fingerprint = crypto::key_fingerprint(key);
    auto wrapped = crypto::wrap_key(source_kek, key, master_key_context(row.fingerprint));
    REQUIRE(wrapped.ok());
    row.wrapped = *wrapped;
    REQUIRE(source->import_key(row).ok());
    const auto path = dir.file("keys.cckeyx");
    export_all(*source, path);

    fresh_target target{backend};
    auto db = rotated_database(target);  // keys 1 (retired), 2 (active)
    auto done =
        import_keys(*db, path, secret_of(test_passphrase), test_kek_source(*db), test_actor);
    REQUIRE(done.ok());
    CHECK(done->imported == std::vector<std::int64_t>{50});
    CHECK(done->demoted == std::vector<std::int64_t>{50});
    auto ring = test_keyring(*db);
    CHECK(ring.active_id == 2);
    REQUIRE(ring.find(50) != nullptr);
    CHECK(std::memcmp(ring.find(50)->data(), key.data(), crypto::key_bytes) == 0);
    auto keys = list_keys(*db, key_admin_now_ms());
    REQUIRE(keys.ok());
    CHECK(keys->back().id == 50);
    CHECK(keys->back().status == "retired");
    auto audit = db->audit();
    REQUIRE(audit.ok());
    CHECK(audit->back().detail == "imported 50 from " + path +
                                      "; already present: none; imported as retired, as this "
                                      "database has its own active key: 50");
  }
}
