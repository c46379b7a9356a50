// keyring: the engine's master keys, unwrapped in guarded memory.
//
// Master keys are stored in the database wrapped under a key-encrypting key
// (KEK) that the database never sees; the KEK comes from a kek_provider
// (today: Argon2id over the operator secret). open_keyring() is the seam
// where key storage meets the engine: the key cache actor, `ccrec verify`
// and `ccrec play` all start from it.
//
// A keyring is filled once and then only read; reading from several threads
// is safe. Keys are wiped when the last shared pointer to them goes.
//
// Key statuses: "active" (new files use the newest active key), "retired"
// (decryption only, after a rotation), "inactive" (deactivated: kept in the
// database and in exports, never deleted, but no longer unwrapped or
// served). The functions here run on the calling thread and block on the
// database; the key cache calls them from a detached helper.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "crypto/ccenx.hpp"
#include "crypto/key_wrap.hpp"
#include "crypto/secret.hpp"
#include "storage/database.hpp"

namespace ccrec {

struct keyring {
  std::map<std::int64_t, std::shared_ptr<const crypto::secret_bytes>> keys;
  std::int64_t active_id = 0;  // 0: none (encryption disabled)

  const crypto::secret_bytes* find(std::int64_t id) const;
  crypto::key_resolver resolver() const;  // for crypto::read_ccenx
};

struct keyring_options {
  std::string kdf_profile = "moderate";  // used only when the database is new
  bool create_first_key = true;          // make a master key if there is none
  std::string actor = "engine";          // who, for the audit table
};

// Derives the KEK from `secret`, checks it against the one this database was
// set up with (a fingerprint in settings), and unwraps every master key that
// is not inactive. Fails with "kek_secret_missing", "kek_mismatch" (wrong
// secret), or "key_unwrap_failed" naming the key id.
result<keyring> open_keyring(storage::database& db, const crypto::secret_bytes* secret,
                             const keyring_options& opts);

// The first half of open_keyring: the KEK alone, derived from `secret` with
// the salt and cost stored in the database (created there, with
// opts.kdf_profile, when the database is new) and checked against its
// fingerprint. Fails like open_keyring.
result<crypto::secret_bytes> open_kek(storage::database& db, const crypto::secret_bytes* secret,
                                      const keyring_options& opts);

// The second half: unwraps the master keys with a KEK from open_kek. Keys in
// `known` whose id and fingerprint match a row are reused instead of being
// unwrapped again (a reload re-reads the table every few seconds).
result<keyring> load_keyring(storage::database& db, const crypto::secret_bytes& kek,
                             const keyring_options& opts, const keyring* known = nullptr);

// A new master key: random, wrapped under `kek`, stored with `status`
// ("active" or "retired"), audited as "key_created" by opts.actor. Returns
// its id; `out`, when given, receives the key itself.
result<std::int64_t> create_master_key(storage::database& db, const crypto::secret_bytes& kek,
                                       const std::string& status, const keyring_options& opts,
                                       std::shared_ptr<const crypto::secret_bytes>* out = nullptr);

// The associated data a master key is wrapped under: binds the wrapped bytes
// to the key's fingerprint, so wrapped values swapped between rows fail to
// unwrap. Import re-wraps under the same context.
std::string master_key_context(const std::string& fingerprint);

// Why a sealed recording at `path` cannot be opened, worded alike by every
// reader of recordings: "encryption_disabled" when no key is loaded at all
// (encryption is off now), "unknown_key" when its master key `key_id` is not.
error encryption_disabled_error(const std::string& path);
error key_not_loaded_error(const std::string& path, std::uint64_t key_id);

// Name of the one KEK provider there is today (keys.kek_provider).
inline constexpr const char* passphrase_kek_provider_name = "passphrase-argon2id";

}  // namespace ccrec
