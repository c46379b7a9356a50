// key_admin: the master keys' life cycle for operators and auditors —
// list, rotate, deactivate, export and import — as plain functions over a
// database and the KEK, so that `ccrec keys` and a host process share them.
//
// Every change writes an audit row (time, actor, what) in the same call:
// "key_created", "key_rotated", "key_deactivated",
// "key_deactivate_refused", "key_delete_refused", "keys_exported",
// "keys_imported". No function here deletes a key; the database refuses it
// too (docs/database.md).
//
// Blocking: every call talks to the database, and export/import run
// Argon2id. Call them from a plain thread (a CLI, a host's admin thread) or a
// detached actor, never from an actor on the scheduler. Not thread-safe
// beyond the database object's own rules (one database per thread).
//
// A running engine learns about a rotation through its key cache's periodic
// reload (key_reload_interval_ms) or a (reload_atom) sent to it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "crypto/key_export.hpp"
#include "crypto/secret.hpp"
#include "storage/database.hpp"

namespace ccrec {

inline constexpr std::int64_t ms_per_day = 24LL * 60 * 60 * 1000;
// Shorter export passphrases are refused: the file leaves the building.
inline constexpr std::size_t min_export_passphrase_bytes = 12;

// Wall-clock now, Unix epoch milliseconds.
std::int64_t key_admin_now_ms();

// A recording is "kept" while its retention has not run out (0 days: kept
// forever; counted from its end, or its start while it runs) and it was not
// discarded. A kept recording's key must stay usable.
bool is_kept(const storage::recording_row& row, std::int64_t now_ms);

struct key_info {
  std::int64_t id = 0;
  std::int64_t created_ms = 0;
  std::string status;  // "active", "retired", "inactive"
  std::string fingerprint;
  std::string kek_provider;
  std::int64_t files = 0;  // recording rows naming this key
  std::int64_t kept = 0;   // of which still kept (see is_kept)
};

// Every key, by id, with how many recordings use it. No KEK needed.
// Known cost: reads every recording row; a count per key in SQL would scale
// better on very large databases.
result<std::vector<key_info>> list_keys(storage::database& db, std::int64_t now_ms);

struct rotation {
  std::int64_t new_id = 0;
  std::string fingerprint;
  std::vector<std::int64_t> retired;  // keys that were active until now
};

// Makes a new active master key (wrapped under `kek`, from open_kek) and
// retires the keys that were active; they stay for decryption. Audits
// "key_created" and "key_rotated".
result<rotation> rotate_key(storage::database& db, const crypto::secret_bytes& kek,
                            const std::string& actor);

// Sets key `id` to "inactive" once no kept recording uses it. Fails with
// "not_found", "key_active" (the key new files use: rotate first) or
// "key_in_use" naming how many kept recordings use it (audited as
// "key_deactivate_refused"). Deactivating an inactive key changes nothing
// and succeeds. Audits "key_deactivated".
result<void> deactivate_key(storage::database& db, std::int64_t id, const std::string& actor,
                            std::int64_t now_ms);

// Keys are never deleted: audits the attempt as "key_delete_refused" and
// always fails with "key_delete_refused" (or the audit's own error).
result<void> refuse_key_delete(storage::database& db, std::int64_t id, const std::string& actor);

struct export_summary {
  std::vector<std::int64_t> ids;  // every key, inactive ones included
};

// Writes every master key, unwrapped with `kek` and sealed under
// `passphrase`, to a new file `path` (crypto/key_export.hpp; an existing
// file is never replaced). Fails with "passphrase_too_short" below
// min_export_passphrase_bytes, "key_unwrap_failed", the export's own codes,
// or the database's. Audits "keys_exported"; if that audit cannot be
// written the file is removed again, so no export exists unrecorded.
result<export_summary> export_keys(storage::database& db, const crypto::secret_bytes& kek,
                                   const crypto::secret_bytes& passphrase, const std::string& path,
                                   const crypto::export_kdf_limits& limits,
                                   const std::string& actor);

struct import_summary {
  std::vector<std::int64_t> imported;
  std::vector<std::int64_t> skipped;  // already present: same id, same fingerprint
  std::vector<std::int64_t> demoted;  // imported "active" as "retired" (see import_keys)
};

// Supplies the KEK, called only once the export file has authenticated and
// some key is to be imported (deriving it may set up a new database).
using kek_source = std::function<result<crypto::secret_bytes>()>;

// Reads export file `path` and opens it with `passphrase`: the keys it
// holds, or why not ("wrong_passphrase", "export_damaged", ... with the
// path). `ccrec keys import` calls it alone first, so that a bad file fails
// before anything is created.
result<std::vector<crypto::exported_key>> open_export_file(const std::string& path,
                                                           const crypto::secret_bytes& passphrase);

// Restores the keys of export file `path` under their own ids, each
// re-wrapped under this database's KEK. Keys already present (same id and
// fingerprint) are skipped, so importing twice changes nothing. When the
// database already has an active key, imported active keys become
// "retired": an import never changes which key new files use.
// Checks everything before the first write: a wrong passphrase
// ("wrong_passphrase"), a damaged or truncated file ("export_damaged",
// "export_truncated", ...), or an id that holds a different key here
// ("key_conflict", naming the ids) leave the database untouched. Audits
// "keys_imported".
result<import_summary> import_keys(storage::database& db, const std::string& path,
                                   const crypto::secret_bytes& passphrase, const kek_source& kek,
                                   const std::string& actor);

}  // namespace ccrec
