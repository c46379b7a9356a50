// Start-up gating: an encrypting engine needs its secret and its database;
// one with encryption disabled starts without either and writes plain files.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "actors/recordings.hpp"
#include "crypto/secret.hpp"
#include "tests/actors/engine_harness.hpp"

using namespace ccrec;
using namespace ccrec::test;

TEST_CASE("an encrypting engine without a secret does not start", "[engine][startup]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  cfg.kek_secret = nullptr;
  actor_env env;

  auto e = engine::start(env.sys(), cfg);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().code == "startup_refused");
  CHECK_THAT(e.error().message, Catch::Contains("CCREC_KEK_SECRET"));

  // An empty secret is no secret.
  cfg.kek_secret = std::make_shared<crypto::secret_bytes>();
  auto empty = engine::start(env.sys(), cfg);
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == "startup_refused");
}

TEST_CASE("an encrypting engine without its database does not start", "[engine][startup]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  cfg.db = "postgresql://postgres@127.0.0.1:1/x";
  actor_env env;

  auto began = std::chrono::steady_clock::now();
  auto e = engine::start(env.sys(), cfg);
  auto took = std::chrono::steady_clock::now() - began;
  REQUIRE_FALSE(e.ok());
  CHECK(took < std::chrono::seconds{10});
  CHECK(e.error().code == "startup_refused");
  CHECK_THAT(e.error().message, Catch::StartsWith("the database is unreachable ("));
  CHECK_THAT(e.error().message, Catch::Contains("because its keys live there"));
  CHECK_THAT(e.error().message, Catch::Contains("postgresql://postgres@127.0.0.1:1/x"));
}

TEST_CASE("an engine started with another secret refuses the database", "[engine][startup]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  actor_env env;
  start_engine(env.sys(), cfg)->stop();

  const std::string other = "a different secret";
  cfg.kek_secret = std::make_shared<crypto::secret_bytes>(crypto::secret_bytes::copy_of(
      reinterpret_cast<const std::uint8_t*>(other.data()), other.size()));
  auto e = engine::start(env.sys(), cfg);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().code == "kek_mismatch");
}

TEST_CASE("encryption disabled: starts without a secret and writes plain files",
          "[engine][startup]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  cfg.encryption = false;
  cfg.kek_secret = nullptr;
  actor_env env;
  auto eng = start_engine(env.sys(), cfg);

  caf::scoped_actor self{env.sys()};
  auto cm = eng->call_manager();
  REQUIRE(send_event(self, cm, call_offered(1, "plain-call")).ok);
  auto answered = send_event(self, cm, call_answered(2, "plain-call", "a1"));
  REQUIRE(answered.record);
  REQUIRE(send_event(self, cm, call_event(3, "call_ended", "plain-call")).ok);

  auto row = wait_final_recording(cfg.database_uri(), answered.recording_id);
  REQUIRE(row);
  CHECK(row->status == "complete");
  CHECK(row->encryption == "none");
  CHECK(row->key_id == 0);
  auto path = cfg.recordings_dir() + "/" + row->path;
  CHECK(std::filesystem::path{path}.extension() == ".raw");
  CHECK_FALSE(crypto::has_ccenx_magic(path));
  std::ifstream in{path, std::ios::binary};
  char magic[5] = {};
  in.read(magic, sizeof magic);
  CHECK(std::string(magic, sizeof magic) == "CCRAW");

  auto status = eng->status();
  CHECK(status.keys_loaded == 0);
  CHECK(status.active_key_id == 0);

  // Playable with no keys at all: nothing was encrypted.
  auto played = play_recording(path, keyring{}, dir.file("plain.wav"));
  REQUIRE(played.ok());
  CHECK(played->stats.audio_records == 0);
}

TEST_CASE("a recording left unfinished by a crash is marked interrupted at start",
          "[engine][startup]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  actor_env env;
  std::string id;
  {
    auto eng = start_engine(env.sys(), cfg);
    caf::scoped_actor self{env.sys()};
    auto cm = eng->call_manager();
    REQUIRE(send_event(self, cm, call_offered(1, "crash-call")).ok);
    auto answered = send_event(self, cm, call_answered(2, "crash-call", "a1"));
    REQUIRE(answered.record);
    id = answered.recording_id;
    REQUIRE(send_event(self, cm, call_event(3, "call_ended", "crash-call")).ok);
    REQUIRE(wait_final_recording(cfg.database_uri(), id));
  }

  // What a crash leaves: the row still "recording", the final chunk missing.
  auto row = recording_rows(cfg.database_uri()).at(0);
  auto path = cfg.recordings_dir() + "/" + row.path;
  auto cut = std::filesystem::file_size(path) - 1;
  std::filesystem::resize_file(path, cut);
  {
    auto db = storage::database::open(cfg.database_uri());
    REQUIRE(db.ok());
    row.status = "recording";
    row.ended_ms = 0;
    REQUIRE((*db)->upsert_recording(row).ok());
  }

  // The engine may settle the row as it starts or just after: wait for it.
  auto eng = start_engine(env.sys(), cfg);
  auto settled = wait_final_recording(cfg.database_uri(), id);
  REQUIRE(settled);
  auto after = *settled;
  CHECK(after.status == "interrupted");
  CHECK(after.bytes == static_cast<std::int64_t>(cut));

  // The end is the file's last write, which keeps the row in the
  // transcoder's waiting period like any fresh recording.
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(after.ended_ms == st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000);
  auto ring = open_test_keyring(cfg.database_uri());
  auto verified = verify_recording(path, ring, after.status);
  CHECK_FALSE(verified.ok());
}

TEST_CASE("an engine whose media_host is not an address of this machine does not start",
          "[engine][startup]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  // TEST-NET-1 (RFC 5737): never assigned to a host. Binding only asks the
  // kernel; nothing is sent.
  cfg.media_host = "192.0.2.1";
  actor_env env;
  auto started = engine::start(env.sys(), cfg);
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().code == "media_host");
  CHECK(started.error().message ==
        "media_host 192.0.2.1 cannot be bound on this machine: Cannot assign requested address");
  CHECK_FALSE(std::filesystem::exists(cfg.data_dir + "/ccrec.db"));
}
