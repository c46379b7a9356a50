// Keys and a running engine, on SQLite and PostgreSQL: disaster recovery
// through an export, rotation reaching a running engine, disabling and
// re-enabling encryption, and the key cache's reloads while the database is
// down or frozen.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <thread>

#include "actors/errors.hpp"
#include "actors/key_cache.hpp"
#include "actors/recordings.hpp"
#include "crypto/ccenx.hpp"
#include "media/raw_format.hpp"
#include "tests/keys/keys_support.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

constexpr std::chrono::seconds reload_deadline{10};

std::int64_t header_key_id(const std::string& path) {
  auto header = crypto::read_ccenx_header(path);
  REQUIRE(header.ok());
  return static_cast<std::int64_t>(header->key_id);
}

std::string file_of(const engine_config& cfg, const storage::recording_row& row) {
  return cfg.recordings_dir() + "/" + row.path;
}

// Waits until the engine's key cache names `id` as its active key.
bool wait_active_key(engine& eng, std::int64_t id) {
  auto deadline = std::chrono::steady_clock::now() + reload_deadline;
  while (std::chrono::steady_clock::now() < deadline) {
    if (eng.status().active_key_id == id)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return false;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// Leaves the shared server running and thawed whatever a test did to it.
struct pg_guard {
  ~pg_guard() {
    auto& pg = shared_pg_server();
    pg.thaw();
    if (!pg.running())
      pg.restart();
  }
};

}  // namespace

TEST_CASE("disaster recovery: export, lose the database, import, every recording plays",
          "[keys][engine]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(backend) {
    temp_dir dir;
    actor_env env;
    fresh_target lost{backend};
    auto cfg = keys_config(dir, lost.connection());

    std::vector<storage::recording_row> rows;
    {
      auto eng = start_engine(env.sys(), cfg);
      rows.push_back(record_call(env.sys(), *eng, cfg, "dr-1", 1));
      rows.push_back(record_call(env.sys(), *eng, cfg, "dr-2", 10));
      eng->stop();
    }
    for (const auto& r : rows) {
      CHECK(r.key_id == 1);
      CHECK(header_key_id(file_of(cfg, r)) == 1);
    }
    const auto backup = dir.file("keys.cckeyx");
    {
      auto db = open_migrated(lost.connection());
      export_all(*db, backup);
    }
    destroy_database(lost);

    fresh_target fresh{backend};
    {
      auto db = open_migrated(fresh.connection());
      auto done =
          import_keys(*db, backup, secret_of(test_passphrase), test_kek_source(*db), test_actor);
      REQUIRE(done.ok());
      CHECK(done->imported == std::vector<std::int64_t>{1});
      auto ring = test_keyring(*db);
      for (std::size_t i = 0; i < rows.size(); ++i)
        require_plays(file_of(cfg, rows[i]), ring, dir.file("dr-" + std::to_string(i) + ".wav"));
    }

    // The engine starts on the new database and goes on with the same key.
    cfg.db = fresh.connection();
    auto eng = start_engine(env.sys(), cfg);
    auto status = eng->status();
    CHECK(status.keys_loaded == 1);
    CHECK(status.active_key_id == 1);
    auto after = record_call(env.sys(), *eng, cfg, "dr-3", 20);
    CHECK(after.key_id == 1);
    eng->stop();
  }
}

TEST_CASE("a rotation reaches a running engine: files before and after use different keys",
          "[keys][engine]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(backend) {
    temp_dir dir;
    actor_env env;
    fresh_target target{backend};
    auto cfg = keys_config(dir, target.connection());
    auto eng = start_engine(env.sys(), cfg);
    auto before = record_call(env.sys(), *eng, cfg, "rot-1", 1);

    // Another "process": its own connection, as `ccrec keys rotate` would.
    std::int64_t new_id = 0;
    {
      auto db = open_migrated(target.connection());
      auto rotated = rotate_key(*db, test_kek(*db), test_actor);
      REQUIRE(rotated.ok());
      new_id = rotated->new_id;
    }
    REQUIRE(new_id == 2);
    REQUIRE(wait_active_key(*eng, new_id));
    CHECK(eng->status().keys_loaded == 2);

    auto after = record_call(env.sys(), *eng, cfg, "rot-2", 10);
    eng->stop();
    CHECK(before.key_id == 1);
    CHECK(after.key_id == 2);
    CHECK(header_key_id(file_of(cfg, before)) == 1);
    CHECK(header_key_id(file_of(cfg, after)) == 2);

    auto db = open_migrated(target.connection());
    auto ring = test_keyring(*db);
    require_plays(file_of(cfg, before), ring, dir.file("before.wav"));
    require_plays(file_of(cfg, after), ring, dir.file("after.wav"));
    CHECK(audit_events(*db) == std::vector<std::string>{"key_created|engine",
                                                        "key_created|test:keys",
                                                        "key_rotated|test:keys"});
  }
}

TEST_CASE("disabled encryption writes plain files, and old files play again once re-enabled",
          "[keys][engine]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(backend) {
    temp_dir dir;
    actor_env env;
    fresh_target target{backend};
    auto cfg = keys_config(dir, target.connection());
    storage::recording_row encrypted;
    {
      auto eng = start_engine(env.sys(), cfg);
      encrypted = record_call(env.sys(), *eng, cfg, "enc-1", 1);
      eng->stop();
    }
    CHECK(encrypted.encryption == "ccenx");
    CHECK(crypto::has_ccenx_magic(file_of(cfg, encrypted)));

    auto off = cfg;
    off.encryption = false;
    off.kek_secret = nullptr;  // not needed with encryption off
    storage::recording_row plain;
    std::string log;
    {
      log_capture capture;
      {
        auto eng = start_engine(env.sys(), off);
        plain = record_call(env.sys(), *eng, off, "plain-1", 10);
        CHECK(eng->status().keys_loaded == 0);
        eng->stop();
      }
      log = capture.text();
    }
    CHECK_THAT(log, Catch::Contains("ENCRYPTION IS DISABLED: new recordings are written in "
                                    "plaintext"));
    CHECK_THAT(log, Catch::Contains("encryption OFF"));
    CHECK(plain.encryption == "none");
    CHECK(plain.key_id == 0);
    CHECK(std::filesystem::path{plain.path}.extension() == ".raw");
    auto head = read_bytes(file_of(off, plain));
    REQUIRE(head.size() > 5);
    CHECK(std::string(head.begin(), head.begin() + 5) != "CCENX");
    CHECK_FALSE(crypto::has_ccenx_magic(file_of(off, plain)));

    // With encryption disabled there are no keys (as `ccrec play` opens it).
    keyring none;
    require_plays(file_of(off, plain), none, dir.file("plain.wav"));
    auto refused = play_recording(file_of(cfg, encrypted), none, dir.file("refused.wav"));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == "encryption_disabled");
    CHECK(refused.error().message ==
          file_of(cfg, encrypted) +
              " was recorded while encryption was enabled; encryption is now disabled, so it "
              "cannot be played. Enable encryption again (with the same database and secret) "
              "to play it.");

    // Re-enabled: both play, and new files are encrypted again.
    auto db = open_migrated(target.connection());
    auto ring = test_keyring(*db);
    require_plays(file_of(cfg, encrypted), ring, dir.file("again.wav"));
    require_plays(file_of(off, plain), ring, dir.file("plain-again.wav"));
    auto eng = start_engine(env.sys(), cfg);
    auto later = record_call(env.sys(), *eng, cfg, "enc-2", 20);
    eng->stop();
    CHECK(later.encryption == "ccenx");
    CHECK(later.key_id == 1);
  }
}

TEST_CASE(
    "the key cache reloads in the background and keeps serving while the database is "
    "down or frozen",
    "[keys][engine][outage]") {
  pg_guard guard;
  actor_env env;
  fresh_target target{"postgresql"};
  auto db = open_migrated(target.connection());
  auto first = test_keyring(*db);  // no key yet
  REQUIRE(first.keys.empty());
  auto secret = test_secret();
  REQUIRE(open_keyring(*db, secret.get(), keyring_options{"test", true, "engine"}).ok());
  auto kek = std::make_shared<const crypto::secret_bytes>(test_kek(*db));
  auto ring = load_keyring(*db, *kek, keyring_options{"test", false, "engine"});
  REQUIRE(ring.ok());

  log_capture capture;
  key_cache_args args;
  args.ring = std::make_shared<const keyring>(std::move(*ring));
  args.db_uri = target.connection();
  args.kek = kek;
  args.reload_interval_ms = 50;
  auto cache = env.sys().spawn(key_cache, args);
  caf::scoped_actor self{env.sys()};

  auto reload = [&](std::int64_t& keys, std::int64_t& active) {
    std::string failure;
    self->request(cache, std::chrono::seconds{10}, reload_atom::value)
        .receive(
            [&](std::int64_t k, std::int64_t a) {
              keys = k;
              active = a;
            },
            [&](caf::error& err) { failure = describe(err); });
    return failure;
  };
  auto active_id = [&] {
    std::int64_t id = -1;
    self->request(cache, std::chrono::seconds{1}, active_atom::value)
        .receive([&](key_grant& g) { id = g.key_id; }, [](caf::error&) {});
    return id;
  };

  std::int64_t keys = 0;
  std::int64_t active = 0;
  REQUIRE(reload(keys, active).empty());
  CHECK(keys == 1);
  CHECK(active == 1);
  REQUIRE(rotate_key(*db, *kek, test_actor).ok());
  REQUIRE(reload(keys, active).empty());
  CHECK(keys == 2);
  CHECK(active == 2);
  CHECK(active_id() == 2);
  db.reset();

  SECTION("down: reloads fail quietly, warned once, keys still served") {
    shared_pg_server().stop_immediate();
    auto failure = reload(keys, active);
    CHECK_FALSE(failure.empty());
    std::this_thread::sleep_for(std::chrono::milliseconds{500});  // about ten periodic reloads
    CHECK(active_id() == 2);
    std::int64_t old_key = -1;
    self->request(cache, std::chrono::seconds{1}, key_atom::value, std::int64_t{1})
        .receive([&](key_grant& g) { old_key = g.key_id; }, [](caf::error&) {});
    CHECK(old_key == 1);
    CHECK(count_of(capture.text(), "key cache: cannot reload keys from the database") == 1);

    shared_pg_server().restart();
    REQUIRE(reload(keys, active).empty());
    CHECK(keys == 2);
    CHECK(count_of(capture.text(), "reloading keys from the database works again") == 1);
  }

  SECTION("frozen: a reload that blocks delays no answer") {
    shared_pg_server().freeze();
    caf::scoped_actor waiter{env.sys()};
    waiter->send(cache, reload_atom::value);
    std::this_thread::sleep_for(std::chrono::milliseconds{200});

    auto began = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i)
      REQUIRE(active_id() == 2);
    CHECK(std::chrono::steady_clock::now() - began < std::chrono::seconds{1});

    shared_pg_server().thaw();
    bool answered = false;
    waiter->receive([&](std::int64_t k, std::int64_t a) { answered = k == 2 && a == 2; },
                    [&](caf::error&) {}, caf::after(std::chrono::seconds{20}) >> [] {});
    CHECK(answered);
  }
  SECTION("frozen at shutdown: a stuck reload does not hold up the actor system") {
    auto began = std::chrono::steady_clock::now();
    {
      actor_env other;
      auto stuck = other.sys().spawn(key_cache, args);
      shared_pg_server().freeze();
      caf::anon_send(stuck, reload_atom::value);
      std::this_thread::sleep_for(std::chrono::milliseconds{200});
      caf::anon_send_exit(stuck, caf::exit_reason::user_shutdown);
    }
    CHECK(std::chrono::steady_clock::now() - began < std::chrono::seconds{3});
    shared_pg_server().thaw();
  }
  self->send_exit(cache, caf::exit_reason::user_shutdown);
}
