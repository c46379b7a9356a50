#include "actors/key_cache.hpp"

#include <chrono>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "messages/messages.hpp"
#include "storage/database.hpp"

namespace ccrec {

namespace {

caf::result<key_grant> grant(const keyring& ring, std::int64_t id) {
  auto it = ring.keys.find(id);
  if (it == ring.keys.end())
    return make_engine_error(engine_errc::unknown_key,
                             "master key " + std::to_string(id) + " is not in the key cache");
  return key_grant{id, it->second};
}

caf::message summary(const keyring& ring) {
  return caf::make_message(static_cast<std::int64_t>(ring.keys.size()), ring.active_id);
}

key_set to_key_set(const keyring& ring) {
  key_set out;
  out.active_id = ring.active_id;
  for (const auto& [id, key] : ring.keys)
    out.keys.push_back(key_grant{id, key});
  return out;
}

std::shared_ptr<const keyring> from_key_set(const key_set& set) {
  auto ring = std::make_shared<keyring>();
  ring->active_id = set.active_id;
  for (const auto& g : set.keys)
    ring->keys[g.key_id] = g.key;
  return ring;
}

// ---------------------------------------------------------------------------
// The loader: blocking database work, on its own thread
// ---------------------------------------------------------------------------

struct loader_state {
  std::string db_uri;
  std::shared_ptr<const crypto::secret_bytes> kek;  // guarded; wiped when the loader ends
  std::unique_ptr<storage::database> db;
  std::shared_ptr<const keyring> known;
};

bool is_outage(const error& err) {
  return err.code == "db_unreachable" || err.code == "db_open_failed";
}

caf::result<key_set> load(loader_state& st) {
  if (!st.db) {
    auto db = storage::database::open(st.db_uri);
    if (!db)
      return make_engine_error(engine_errc::db_down, db.error().message);
    st.db = std::move(*db);
  }

  keyring_options opts;
  opts.create_first_key = false;
  auto ring = load_keyring(*st.db, *st.kek, opts, st.known.get());
  if (!ring) {
    auto code = is_outage(ring.error()) ? engine_errc::db_down : engine_errc::failed;
    return make_engine_error(code, ring.error().message);
  }
  st.known = std::make_shared<const keyring>(std::move(*ring));
  return to_key_set(*st.known);
}

// ---------------------------------------------------------------------------
// The cache
// ---------------------------------------------------------------------------

struct cache_state {
  std::shared_ptr<const keyring> ring;
  caf::actor loader;  // invalid: reloading not configured
  std::chrono::milliseconds interval{0};
  bool reloading = false;
  // Explicit reloads answered by the reload in flight, and those that came
  // in after it began (a rotation they announce may be newer than its read).
  std::vector<caf::response_promise> current;
  std::vector<caf::response_promise> next;
  bool warned = false;
};

using cache_ptr = std::shared_ptr<cache_state>;

void start_reload(caf::event_based_actor* self, const cache_ptr& st);

void finish_reload(caf::event_based_actor* self, const cache_ptr& st) {
  st->reloading = false;
  st->current = std::move(st->next);
  st->next.clear();
  if (!st->current.empty())
    start_reload(self, st);
}

void on_loaded(caf::event_based_actor* self, const cache_ptr& st, const key_set& set) {
  auto before = st->ring->active_id;
  st->ring = from_key_set(set);
  if (st->warned)
    spdlog::info("key cache: reloading keys from the database works again");
  st->warned = false;
  if (st->ring->active_id != before)
    spdlog::info("key cache: active master key is now {} (was {}); {} key(s) loaded",
                 st->ring->active_id, before, st->ring->keys.size());
  for (auto& p : st->current)
    p.deliver(static_cast<std::int64_t>(st->ring->keys.size()), st->ring->active_id);
  finish_reload(self, st);
}

void on_failed(caf::event_based_actor* self, const cache_ptr& st, const caf::error& err) {
  if (!st->warned)
    spdlog::warn(
        "key cache: cannot reload keys from the database ({}); still serving the {} "
        "key(s) in memory, active key {}",
        describe(err), st->ring->keys.size(), st->ring->active_id);
  st->warned = true;
  for (auto& p : st->current)
    p.deliver(err);
  finish_reload(self, st);
}

void start_reload(caf::event_based_actor* self, const cache_ptr& st) {
  if (st->reloading)
    return;
  st->reloading = true;
  self->request(st->loader, caf::infinite, reload_atom::value)
      .then([self, st](key_set& set) { on_loaded(self, st, set); },
            [self, st](caf::error& err) { on_failed(self, st, err); });
}

caf::result<std::int64_t, std::int64_t> request_reload(caf::event_based_actor* self,
                                                       const cache_ptr& st) {
  if (!st->loader)
    return make_engine_error(engine_errc::bad_state,
                             "this key cache does not reload (encryption disabled or no database)");
  auto promise = self->make_response_promise();
  (st->reloading ? st->next : st->current).push_back(promise);
  start_reload(self, st);
  return promise;
}

void schedule_tick(caf::event_based_actor* self, const cache_ptr& st) {
  if (st->loader && st->interval.count() > 0)
    self->delayed_send(self, st->interval, tick_atom::value);
}

}  // namespace

caf::behavior key_loader(caf::event_based_actor* self, std::string db_uri,
                         std::shared_ptr<const crypto::secret_bytes> kek,
                         std::shared_ptr<const keyring> known) {
  auto st = std::make_shared<loader_state>();
  st->db_uri = std::move(db_uri);
  st->kek = std::move(kek);
  st->known = std::move(known);
  self->set_default_handler(caf::drop);
  return {
      [st](reload_atom) { return load(*st); },
  };
}

caf::behavior key_cache(caf::event_based_actor* self, key_cache_args args) {
  auto st = std::make_shared<cache_state>();
  st->ring = args.ring ? std::move(args.ring) : std::make_shared<const keyring>();
  st->interval = std::chrono::milliseconds{args.reload_interval_ms};
  if (!args.db_uri.empty() && args.kek)
    st->loader = self->spawn<caf::detached + caf::linked>(key_loader, args.db_uri,
                                                          std::move(args.kek), st->ring);
  schedule_tick(self, st);

  return {
      [st](active_atom) -> caf::result<key_grant> {
        if (st->ring->active_id == 0)
          return make_engine_error(engine_errc::bad_state, "no active master key");
        return grant(*st->ring, st->ring->active_id);
      },
      [st](key_atom, std::int64_t id) { return grant(*st->ring, id); },
      [st](status_atom) { return summary(*st->ring); },
      [self, st](reload_atom) { return request_reload(self, st); },
      [self, st](tick_atom) {
        start_reload(self, st);
        schedule_tick(self, st);
      },
  };
}

}  // namespace ccrec
