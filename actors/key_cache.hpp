// key_cache — serves master keys to writers and readers from memory.
//
// Owns:      the keyring (master keys unwrapped in guarded memory), loaded
//            at start while the database was up; and, when reloading is
//            configured, the loader's state: the KEK (guarded memory), a
//            database session of its own and the keys it read last.
// Takes:     (active_atom)            -> key_grant   the key new files use
//            (key_atom, int64 id)     -> key_grant   a key for decryption
//            (status_atom)            -> (int64 keys_loaded, int64 active_id)
//            (reload_atom)            -> (int64 keys_loaded, int64 active_id)
//                                        once a reload that began after the
//                                        request has finished
//            (reload_atom, key_set)   internal: a reload thread's keys
//            (reload_atom, error)     internal: a reload thread failed
//            (tick_atom)              internal: the periodic reload
// Sends:     nothing to other actors.
// Failure:   an unknown id is answered with engine_errc::unknown_key; with
//            no active key (encryption disabled) `active` answers
//            engine_errc::bad_state. The cache itself never touches the
//            database: each reload runs on a plain detached thread (at most
//            one at a time) that reports back by message, so a reload that
//            blocks (a frozen server) or fails never delays an answer, and
//            a stuck thread never holds up the actor system's shutdown. A
//            failed reload is logged once (warning) until one succeeds
//            again, an explicit reload gets engine_errc::db_down (or
//            failed), and the cache keeps serving the keys it has; while a
//            reload is stuck, no other starts. A rotation in another process
//            (`ccrec keys rotate`) reaches the cache with the next periodic
//            reload; new files use the new active key from then on.
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

}  // namespace ccrec
