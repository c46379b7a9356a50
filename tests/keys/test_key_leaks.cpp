// No key byte anywhere it should not be: after a full key life cycle
// (engine start, recordings, rotation, reloads, export, import, refusals),
// search every master key and both KEKs, raw and as hex, in the database
// files (SQLite file and WAL) or every row (PostgreSQL), the export file,
// every file under the data directory, the captured log and the error
// messages.
#include <catch2/catch.hpp>

#include <sodium.h>
#include <chrono>
#include <filesystem>
#include <thread>

#include "tests/keys/keys_support.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

// Every row of every ccrec table as text, key material hex-encoded.
std::string dump_postgresql(const fresh_target& target) {
  auto sql = target.raw_session();
  std::string out;
  const char* queries[] = {
      "SELECT id || ' ' || created_ms || ' ' || status || ' ' || encode(wrapped, 'hex') || ' ' "
      "|| kek_provider || ' ' || fingerprint FROM keys",
      "SELECT name || '=' || value FROM settings",
      "SELECT actor || ' ' || event || ' ' || detail FROM audit",
      "SELECT id || ' ' || path || ' ' || key_id || ' ' || encryption FROM recordings",
      "SELECT call_id || ' ' || agent || ' ' || schedule FROM calls"};
  for (const char* q : queries) {
    soci::rowset<std::string> rows = (sql->prepare << q);
    for (const auto& r : rows)
      out += r + "\n";
  }
  return out;
}

std::string sqlite_file(const fresh_target& target) {
  return target.connection().substr(std::string{"sqlite:"}.size());
}

// The database's own bytes: the SQLite file, WAL and shared memory, or a
// dump of every row.
std::string database_bytes(const fresh_target& target) {
  if (target.backend() == "postgresql")
    return dump_postgresql(target);
  std::string out;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    auto bytes = read_bytes(sqlite_file(target) + suffix);
    out.append(bytes.begin(), bytes.end());
  }
  return out;
}

}  // namespace

TEST_CASE("no key byte appears in the database, files, logs or error messages", "[keys][leaks]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(backend) {
    temp_dir dir;
    actor_env env;
    fresh_target target{backend};
    fresh_target restored{backend};
    auto cfg = keys_config(dir, target.connection());
    const auto backup = dir.file("keys.cckeyx");
    std::vector<std::string> errors;
    std::string log;
    std::string db_while_running;
    {
      log_capture capture;
      {
        auto eng = start_engine(env.sys(), cfg);
        record_call(env.sys(), *eng, cfg, "leak-1", 1);
        auto db = open_migrated(target.connection());
        auto rotated = rotate_key(*db, test_kek(*db), test_actor);
        REQUIRE(rotated.ok());
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
        while (eng->status().active_key_id != rotated->new_id &&
               std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(std::chrono::milliseconds{20});
        record_call(env.sys(), *eng, cfg, "leak-2", 10);
        errors.push_back(deactivate_key(*db, 1, test_actor, key_admin_now_ms()).error().message);
        db_while_running = database_bytes(target);
        eng->stop();
      }
      auto db = open_migrated(target.connection());
      export_all(*db, backup);
      auto other = open_migrated(restored.connection());
      for (const char* pass : {wrong_passphrase_text, test_passphrase}) {
        auto done =
            import_keys(*other, backup, secret_of(pass), test_kek_source(*other), test_actor);
        if (!done)
          errors.push_back(done.error().message);
      }
      auto wrong_kek = crypto::secret_bytes::random(crypto::key_bytes);
      auto refused = export_keys(*db, wrong_kek, secret_of(test_passphrase), dir.file("x"),
                                 crypto::export_kdf_limits::for_tests(), test_actor);
      errors.push_back(refused.error().message);
      log = capture.text();
    }
    REQUIRE(errors.size() == 3);

    // The needles: both master keys and both databases' KEKs.
    auto db = open_migrated(target.connection());
    auto other = open_migrated(restored.connection());
    auto ring = test_keyring(*db);
    REQUIRE(ring.keys.size() == 2);
    std::vector<std::string> needles;
    for (const auto& [id, key] : ring.keys) {
      auto forms = leak_forms(*key);
      needles.insert(needles.end(), forms.begin(), forms.end());
    }
    for (auto* d : {db.get(), other.get()}) {
      auto forms = leak_forms(test_kek(*d));
      needles.insert(needles.end(), forms.begin(), forms.end());
    }
    REQUIRE(needles.size() == 12);

    // The search works: it finds a key where one was put on purpose, and
    // the capture really holds the engine's log.
    CHECK(contains_any("x" + needles[1] + "y", needles));
    CHECK(contains_any(needles[0], needles));
    CHECK_THAT(log, Catch::Contains("key cache: 1 master key(s) loaded, active key 1"));
    CHECK_THAT(log, Catch::Contains("key cache: active master key is now 2 (was 1)"));
    CHECK_FALSE(db_while_running.empty());
    write_bytes(dir.file("planted"), {needles[4].begin(), needles[4].end()});
    CHECK(files_containing(dir.path(), needles) == std::vector<std::string>{dir.file("planted")});
    std::filesystem::remove(dir.file("planted"));

    CHECK_FALSE(contains_any(log, needles));
    for (const auto& e : errors) {
      INFO(e);
      CHECK_FALSE(contains_any(e, needles));
    }
    CHECK_FALSE(contains_any(db_while_running, needles));
    CHECK_FALSE(contains_any(database_bytes(target), needles));
    CHECK_FALSE(contains_any(database_bytes(restored), needles));
    auto exported = read_bytes(backup);
    REQUIRE(exported.size() > crypto::key_export_header_size);
    CHECK_FALSE(contains_any(std::string(exported.begin(), exported.end()), needles));
    // The data directory: recordings, the export, any temporary or journal
    // file the engine or the tools left.
    CHECK(files_containing(dir.path(), needles).empty());
    CHECK(files_under(cfg.recordings_dir()).size() == 2);
    if (backend == "sqlite") {
      auto db_dir = std::filesystem::path{sqlite_file(target)}.parent_path().string();
      CHECK(files_containing(db_dir, needles).empty());
    }
  }
}
