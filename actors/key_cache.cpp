#include "actors/key_cache.hpp"

#include "actors/errors.hpp"
#include "messages/messages.hpp"

namespace ccrec {

namespace {

caf::result<key_grant> grant(const keyring& ring, std::int64_t id) {
  auto it = ring.keys.find(id);
  if (it == ring.keys.end())
    return make_engine_error(engine_errc::unknown_key,
                             "master key " + std::to_string(id) + " is not in the key cache");
  return key_grant{id, it->second};
}

}  // namespace

caf::behavior key_cache(caf::event_based_actor*, std::shared_ptr<const keyring> ring) {
  return {
      [ring](active_atom) -> caf::result<key_grant> {
        if (ring->active_id == 0)
          return make_engine_error(engine_errc::bad_state, "no active master key");
        return grant(*ring, ring->active_id);
      },
      [ring](key_atom, std::int64_t id) { return grant(*ring, id); },
      [ring](status_atom) {
        return caf::make_message(static_cast<std::int64_t>(ring->keys.size()), ring->active_id);
      },
  };
}

}  // namespace ccrec
