// key_cache — serves master keys to writers and readers from memory.
//
// Owns:      the keyring (master keys unwrapped in guarded memory), loaded
//            once at start while the database was up.
// Takes:     (active_atom)            -> key_grant   the key new files use
//            (key_atom, int64 id)     -> key_grant   a key for decryption
//            (status_atom)            -> (int64 keys_loaded, int64 active_id)
// Sends:     nothing on its own.
// Failure:   an unknown id is answered with engine_errc::unknown_key; with
//            no active key (encryption disabled) `active` answers
//            engine_errc::bad_state. It never touches the database, so it
//            keeps serving while the database is down.
#pragma once

#include <memory>

#include <caf/all.hpp>

#include "actors/keyring.hpp"

namespace ccrec {

caf::behavior key_cache(caf::event_based_actor* self, std::shared_ptr<const keyring> ring);

}  // namespace ccrec
