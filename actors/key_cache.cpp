#include "actors/key_cache.hpp"

#include <chrono>
#include <system_error>
#include <thread>
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
// The loader: blocking database work on a thread of its own
// ---------------------------------------------------------------------------

// The loader's session and what it read last. Shared by the cache and at
// most one reload thread at a time; the cache touches it only while no
// thread runs (it starts the next thread only after the last one reported).
struct loader_core {
  std::string db_uri;
  std::shared_ptr<const crypto::secret_bytes> kek;  // guarded; wiped with the last owner
  std::unique_ptr<storage::database> db;
  std::shared_ptr<const keyring> known;
};

bool is_outage(const error& err) {
  return err.code == "db_unreachable" || err.code == "db_open_failed";
}

caf::error as_caf_error(const error& err) {
  return make_engine_error(is_outage(err) ? engine_errc::db_down : engine_errc::failed,
                           err.message);
}

// Runs on the reload thread.
result<key_set> load(loader_core& core) {
  if (!core.db) {
    auto db = storage::database::open_existing(core.db_uri);
    if (!db)
      return db.error();
    core.db = std::move(*db);
  }

  keyring_options opts;
  opts.create_first_key = false;
  auto ring = load_keyring(*core.db, *core.kek, opts, core.known.get());
  if (!ring)
    return ring.error();
  core.known = std::make_shared<const keyring>(std::move(*ring));
  return to_key_set(*core.known);
}

// A plain detached thread rather than a detached actor: a frozen database
// may block it forever, and the actor system waits for its detached actors
// at shutdown but not for this. It holds the cache only by a weak address.
void run_reload(std::shared_ptr<loader_core> core, caf::actor_addr cache) {
  try {
    std::thread([core, cache] {
      auto loaded = load(*core);
      auto to = caf::actor_cast<caf::actor>(cache);
      if (loaded)
        caf::anon_send(to, reload_atom::value, std::move(*loaded));
      else
        caf::anon_send(to, reload_atom::value, as_caf_error(loaded.error()));
    }).detach();
  } catch (const std::system_error& e) {
    caf::anon_send(caf::actor_cast<caf::actor>(cache), reload_atom::value,
                   make_engine_error(engine_errc::failed,
                                     std::string{"cannot start a reload thread: "} + e.what()));
  }
}

// ---------------------------------------------------------------------------
// The cache
// ---------------------------------------------------------------------------

struct cache_state {
  std::shared_ptr<const keyring> ring;
  std::shared_ptr<loader_core> loader;  // null: reloading not configured
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
  run_reload(st->loader, self->address());
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

caf::behavior key_cache(caf::event_based_actor* self, key_cache_args args) {
  auto st = std::make_shared<cache_state>();
  st->ring = args.ring ? std::move(args.ring) : std::make_shared<const keyring>();
  st->interval = std::chrono::milliseconds{args.reload_interval_ms};
  if (!args.db_uri.empty() && args.kek) {
    st->loader = std::make_shared<loader_core>();
    st->loader->db_uri = std::move(args.db_uri);
    st->loader->kek = std::move(args.kek);
    st->loader->known = st->ring;
  }
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
      [self, st](reload_atom, key_set& set) { on_loaded(self, st, set); },
      [self, st](reload_atom, caf::error& err) { on_failed(self, st, err); },
      [self, st](tick_atom) {
        start_reload(self, st);
        schedule_tick(self, st);
      },
  };
}

}  // namespace ccrec
