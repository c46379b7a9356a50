// A SQLite database deleted under a running engine, or before a restart:
// the engine says so and keeps the rows in its journal, offline commands
// refuse instead of creating an empty database, and the next start refuses
// a new key hierarchy beside recordings sealed under the old one.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/engine.hpp"
#include "storage/database.hpp"
#include "tests/actors/engine_harness.hpp"
#include "tests/integrity/integrity_support.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

std::string missing_db_message(const std::string& data_dir) {
  return "no SQLite database at " + data_dir +
         "/ccrec.db (No such file or directory); not creating an empty one in its place";
}

}  // namespace

TEST_CASE("offline commands refuse a missing SQLite database and create none",
          "[integrity][missing-db]") {
  temp_dir dir;
  const auto data = dir.file("data");
  leave_a_recording(data);
  remove_database_files(data);
  const auto db_file = data + "/ccrec.db";
  const auto message = missing_db_message(data);

  auto listed = run_ccrec(dir, {"recordings", "--data-dir", data});
  CHECK(listed.code == 2);
  CHECK(listed.out == "");
  CHECK(listed.err == "ccrec recordings: " + message + "\n");
  CHECK_FALSE(std::filesystem::exists(db_file));

  auto keys = run_ccrec(dir, {"keys", "list", "--data-dir", data});
  CHECK(keys.code == 2);
  CHECK(keys.err == "ccrec keys list: " + message + " [db_missing]\n");
  CHECK_FALSE(std::filesystem::exists(db_file));

  auto rotate = run_ccrec(dir, {"keys", "rotate", "--data-dir", data});
  CHECK(rotate.code == 2);
  CHECK(rotate.err == "ccrec keys rotate: " + message + " [db_missing]\n");
  CHECK_FALSE(std::filesystem::exists(db_file));

  auto verify = run_ccrec(dir, {"verify", "--data-dir", data, data + "/nothing.ccenx"});
  CHECK(verify.code == 2);
  CHECK(verify.err == "ccrec verify: " + message + "\n");
  CHECK_FALSE(std::filesystem::exists(db_file));

  auto report = run_ccrec(dir, {"report", "policies", "--data-dir", data});
  CHECK(report.code == 2);
  CHECK(report.err == "ccrec report policies: " + message + "\n");
  CHECK_FALSE(std::filesystem::exists(db_file));
}

TEST_CASE("an engine refuses new keys beside recordings sealed under lost ones",
          "[integrity][missing-db]") {
  temp_dir dir;
  const auto data = dir.file("data");
  const auto sealed = leave_a_recording(data);
  remove_database_files(data);

  temp_dir unused;
  auto cfg = test_config(unused);
  cfg.data_dir = data;
  actor_env env;
  auto started = engine::start(env.sys(), cfg);
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().code == "db_missing_keys");
  CHECK(started.error().message ==
        "the database " + data +
            "/ccrec.db holds no keys and no recordings, but the data "
            "directory " +
            data + " already has sealed recordings (" + sealed +
            "): the database they belong to is missing or was replaced, and new keys would not "
            "match them. Restore the database from a backup, or `ccrec keys import` the key export "
            "into it, before starting");

  // No key was made: the database still has neither salt nor key.
  auto db = storage::database::open_existing("sqlite:" + data + "/ccrec.db");
  REQUIRE(db.ok());
  auto keys = (*db)->keys();
  REQUIRE(keys.ok());
  CHECK(keys->empty());
  auto salt = (*db)->setting("kek_salt");
  REQUIRE(salt.ok());
  CHECK_FALSE(salt->has_value());
}

TEST_CASE("an engine refuses new keys beside a journal with entries", "[integrity][missing-db]") {
  temp_dir dir;
  const auto data = dir.file("data");
  leave_a_recording(data);
  remove_database_files(data);
  // Only the journal is left to tell of the earlier life.
  std::filesystem::remove_all(data + "/recordings");

  temp_dir unused;
  auto cfg = test_config(unused);
  cfg.data_dir = data;
  actor_env env;
  auto started = engine::start(env.sys(), cfg);
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().code == "db_missing_keys");
  CHECK_THAT(started.error().message,
             Catch::Contains("already has a metadata journal with entries: the database they "
                             "belong to is missing or was replaced"));
}

TEST_CASE("a new installation still starts and makes its first key", "[integrity][missing-db]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  running_engine e{cfg};
  auto s = e.eng->status();
  CHECK(s.keys_loaded == 1);
  CHECK(s.active_key_id == 1);
}

TEST_CASE("a database file deleted under a running engine shows as down, rows wait in the journal",
          "[integrity][missing-db]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  cfg.transcode = false;
  running_engine e{cfg};
  auto up = e.eng->status();
  for (int i = 0; i < 50 && !up.db_up; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
    up = e.eng->status();
  }
  REQUIRE(up.db_up);

  remove_database_files(dir.path());
  auto s = wait_status(*e.eng, std::chrono::seconds{10}, [](const engine_status& now) {
             return !now.db_up;
           }).first;
  REQUIRE_FALSE(s.db_up);
  CHECK(s.db_reason == "the SQLite database file " + dir.path() +
                           "/ccrec.db was deleted while the engine ran; metadata waits in the "
                           "journal. Restore the file from a backup and restart the engine");

  // A call while the file is gone: its rows stay pending in the journal,
  // and no empty database appears in the old one's place.
  REQUIRE(send_event(e.self, e.cm, call_offered(1, "after-delete")).ok);
  REQUIRE(send_event(e.self, e.cm, call_event(2, "call_ended", "after-delete")).ok);
  for (int i = 0; i < 50; ++i) {
    s = e.eng->status();
    if (s.metadata_pending >= 2)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  CHECK(s.metadata_pending >= 2);
  CHECK(s.metadata_written == up.metadata_written);
  CHECK_FALSE(s.db_up);
  CHECK_FALSE(std::filesystem::exists(dir.file("ccrec.db")));
}

TEST_CASE("a database file replaced under a running engine shows as down",
          "[integrity][missing-db]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  running_engine e{cfg};
  bool up = false;
  for (int i = 0; i < 50 && !up; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
    up = e.eng->status().db_up;
  }
  REQUIRE(up);

  // Another (empty) database moved into the path, as a tool or a restore
  // would leave it.
  {
    auto other = storage::database::open("sqlite:" + dir.file("other.db"));
    REQUIRE(other.ok());
    REQUIRE((*other)->migrate().ok());
  }
  std::filesystem::rename(dir.file("other.db"), dir.file("ccrec.db"));
  auto s = wait_status(*e.eng, std::chrono::seconds{10}, [](const engine_status& now) {
             return !now.db_up;
           }).first;
  REQUIRE_FALSE(s.db_up);
  CHECK(s.db_reason == "the SQLite database file " + dir.path() +
                           "/ccrec.db was replaced by another file while the engine ran; "
                           "metadata waits in the journal. Check the new file and restart the "
                           "engine");
  // It stays down: the new file is not the one the engine's rows belong to.
  std::this_thread::sleep_for(std::chrono::milliseconds{1500});
  CHECK_FALSE(e.eng->status().db_up);
}

TEST_CASE("storage: open_existing never creates an SQLite file", "[integrity][missing-db]") {
  temp_dir dir;
  auto missing = storage::database::open_existing("sqlite:" + dir.file("none.db"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "db_missing");
  CHECK(missing.error().message == "no SQLite database at " + dir.file("none.db") +
                                       " (No such file or directory); not creating an empty one "
                                       "in its place");
  CHECK_FALSE(std::filesystem::exists(dir.file("none.db")));

  // A session whose file is deleted fails its next statement and does not
  // recreate the file when it reconnects.
  {
    auto made = storage::database::open("sqlite:" + dir.file("a.db"));
    REQUIRE(made.ok());
    REQUIRE((*made)->migrate().ok());
  }
  auto db = storage::database::open_existing("sqlite:" + dir.file("a.db"));
  REQUIRE(db.ok());
  REQUIRE((*db)->ping().ok());
  for (const auto* suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(dir.file(std::string{"a.db"} + suffix));
  auto first = (*db)->ping();
  REQUIRE_FALSE(first.ok());
  CHECK(first.error().code == "db_unreachable");
  CHECK(first.error().message == "while pinging: the SQLite database file " + dir.file("a.db") +
                                     " was deleted while open (No such file or directory); "
                                     "restore it from a backup");
  auto second = (*db)->ping();
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == "db_missing");
  CHECK_FALSE(std::filesystem::exists(dir.file("a.db")));
}

TEST_CASE("the reported case: the database deleted under ccrec serve and the restart after",
          "[integrity][missing-db][cli]") {
  temp_dir dir;
  const auto data = dir.file("data");
  const auto sealed = leave_a_recording(data);
  const auto config = serve_config(dir, data);

  ccrec_process serve{{"serve", "--config", config, "--ready-file", dir.file("ready")},
                      dir.file("serve.log")};
  REQUIRE(wait_until_file(dir.file("ready"), std::chrono::seconds{30}));
  remove_database_files(data);

  // `ccrec status` shows the database down, with the reason.
  nlohmann::json status;
  for (int i = 0; i < 100; ++i) {
    auto run = run_ccrec(dir, {"status", "--data-dir", data, "--json"}, {});
    status = nlohmann::json::parse(run.out, nullptr, false);
    if (!status.is_discarded() && status["database"]["up"] == false)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  REQUIRE_FALSE(status.is_discarded());
  CHECK(status["database"]["up"] == false);
  CHECK(status["database"]["reason"] ==
        "the SQLite database file " + data +
            "/ccrec.db was deleted while the engine ran; metadata waits in the journal. Restore "
            "the file from a backup and restart the engine");

  // A read-only command makes no new database.
  auto listed = run_ccrec(dir, {"recordings", "--data-dir", data});
  CHECK(listed.code == 2);
  CHECK(listed.err == "ccrec recordings: " + missing_db_message(data) + "\n");
  CHECK_FALSE(std::filesystem::exists(data + "/ccrec.db"));
  CHECK(serve.stop() == 0);

  // A restart refuses to make a new master key 1.
  auto restart = run_ccrec(dir, {"serve", "--config", config});
  CHECK(restart.code == 1);
  CHECK(restart.err == "ccrec serve: refusing to start: the database " + data +
                           "/ccrec.db holds no keys and no recordings, but the data directory " +
                           data + " already has sealed recordings (" + sealed +
                           "): the database they belong to is missing or was replaced, and new "
                           "keys would not match them. Restore the database from a backup, or "
                           "`ccrec keys import` the key export into it, before starting\n");
}
