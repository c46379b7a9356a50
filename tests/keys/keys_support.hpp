// What the key-management tests share: a fresh database on either backend,
// the test KEK, a recorded call through a real engine (real actors, real
// UDP on loopback), spdlog captured in memory, and a search for key bytes
// in files and text. Test thread only; every helper blocks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/engine.hpp"
#include "actors/key_admin.hpp"
#include "actors/keyring.hpp"
#include "crypto/key_export.hpp"
#include "crypto/secret.hpp"
#include "storage/database.hpp"
#include "tests/actors/engine_harness.hpp"
#include "tests/storage/fixture.hpp"

namespace ccrec::test {

inline constexpr char test_passphrase[] = "keys test passphrase, not for production";
inline constexpr char wrong_passphrase_text[] = "keys test passphrase, NOT for production";
inline constexpr char test_actor[] = "test:keys";
inline constexpr std::size_t call_packets = 8;  // per leg

crypto::secret_bytes secret_of(const std::string& text);

// The KEK of `db` from the harness's test secret, at the test cost (set up
// on first use, like an engine's first start).
crypto::secret_bytes test_kek(storage::database& db);

// A keyring from `db` (no key created), failing the test when it cannot.
keyring test_keyring(storage::database& db);

// An engine configuration in `dir` whose database is `db_uri`.
engine_config keys_config(const temp_dir& dir, const std::string& db_uri);

// One answered call with `call_packets` RTP packets per leg, ended and its
// recording row final. Returns the row (status "complete" required).
storage::recording_row record_call(caf::actor_system& sys, engine& eng, const engine_config& cfg,
                                   const std::string& call_id, std::int64_t first_seq);

// Plays `path` with `ring` and requires the exact audio the call sent.
void require_plays(const std::string& path, const keyring& ring, const std::string& wav_out);

// Exports every key of `db` to `path` with the test passphrase and cost.
void export_all(storage::database& db, const std::string& path);

// A kek_source for import_keys over `db` with the test secret.
kek_source test_kek_source(storage::database& db);

// Makes the database of `target` unreachable for good: deletes the SQLite
// file (and its WAL), or drops the PostgreSQL database.
void destroy_database(const fresh_target& target);

std::vector<std::uint8_t> read_bytes(const std::string& path);
void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes);

// Audit events in order, as "event|actor".
std::vector<std::string> audit_events(storage::database& db);

// The default spdlog logger, replaced while it lives by one that writes
// every level into memory. Create and destroy it while no engine runs.
class log_capture {
 public:
  log_capture();
  ~log_capture();
  std::string text() const;

 private:
  std::shared_ptr<std::ostringstream> out_;
  std::shared_ptr<spdlog::logger> previous_;
  spdlog::level::level_enum previous_level_;
};

// The forms a key could leak in: its raw bytes, lower and upper case hex.
std::vector<std::string> leak_forms(const crypto::secret_bytes& key);
bool contains_any(const std::string& haystack, const std::vector<std::string>& needles);
// Regular files under `dir` (recursively) that contain any needle.
std::vector<std::string> files_containing(const std::string& dir,
                                          const std::vector<std::string>& needles);

}  // namespace ccrec::test
