// key_cache — serves master keys to writers and readers from memory.
//
// Owns:      the keyring (master keys unwrapped in guarded memory), loaded
//            at start while the database was up; and, when reloading is
//            configured, a detached loader (key_loader below) that holds the
//            KEK in guarded memory and its own database session.
// Takes:     (active_atom)            -> key_grant   the key new files use
//            (key_atom, int64 id)     -> key_grant   a key for decryption
//            (status_atom)            -> (int64 keys_loaded, int64 active_id)
//            (reload_atom)            -> (int64 keys_loaded, int64 active_id)
//                                        once a reload that began after the
//                                        request has finished
//            (tick_atom)              internal: the periodic reload
// Sends:     (reload_atom) -> key_set to its loader; nothing else.
// Failure:   an unknown id is answered with engine_errc::unknown_key; with
//            no active key (encryption disabled) `active` answers
//            engine_errc::bad_state. The cache itself never touches the
//            database: the loader does, on its own thread, so a reload that
//            blocks or fails never delays an answer. A failed reload is
//            logged once (warning) until one succeeds again, an explicit
//            reload gets engine_errc::db_down (or failed), and the cache
//            keeps serving the keys it has. A rotation in another process
//            (`ccrec keys rotate`) reaches it with the next periodic reload;
//            new files use the new active key from then on.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "actors/keyring.hpp"
#include "crypto/secret.hpp"

namespace ccrec {

struct key_cache_args {
  std::shared_ptr<const keyring> ring;  // the keys loaded at start
  // Reloading: needs both; without them (encryption disabled, a fixed test
  // keyring) the cache serves `ring` until it ends and refuses reloads.
  std::string db_uri;
  std::shared_ptr<const crypto::secret_bytes> kek;
  std::int64_t reload_interval_ms = 5000;  // 0: reload only when asked
};

caf::behavior key_cache(caf::event_based_actor* self, key_cache_args args);

// The key cache's loader, spawned detached and linked by the cache.
// Takes (reload_atom) -> key_set: opens its session on first use (and again
// after a failure), re-reads the key table and unwraps keys it has not seen.
// Fails with engine_errc::db_down when the database cannot be read, failed
// for anything else (a key that does not unwrap).
caf::behavior key_loader(caf::event_based_actor* self, std::string db_uri,
                         std::shared_ptr<const crypto::secret_bytes> kek,
                         std::shared_ptr<const keyring> known);

}  // namespace ccrec
