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
// set up with (a fingerprint in settings), and unwraps every master key.
// Fails with "kek_secret_missing", "kek_mismatch" (wrong secret), or
// "key_unwrap_failed" naming the key id.
result<keyring> open_keyring(storage::database& db, const crypto::secret_bytes* secret,
                             const keyring_options& opts);

}  // namespace ccrec
