#include "actors/db_watchdog.hpp"

#include <chrono>
#include <vector>

#include <spdlog/spdlog.h>

#include "messages/messages.hpp"
#include "storage/database.hpp"

namespace ccrec {

namespace {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

struct watchdog_state {
  std::string uri;
  std::unique_ptr<storage::database> db;
  db_state state;
  bool probed = false;
  std::vector<caf::actor> subscribers;
};

result<void> probe(watchdog_state& st) {
  if (!st.db) {
    auto db = storage::database::open(st.uri);
    if (!db)
      return db.error();
    st.db = std::move(*db);
  }
  return st.db->ping();
}

void probe_and_publish(caf::event_based_actor* self, watchdog_state& st) {
  auto ok = probe(st);
  bool up = ok.ok();
  if (st.probed && up == st.state.up)
    return;

  st.probed = true;
  st.state = db_state{up, up ? "" : ok.error().message, now_ms()};
  if (up)
    spdlog::info("database is reachable");
  else
    spdlog::warn("database is unreachable: {}", st.state.reason);
  for (auto& s : st.subscribers)
    self->send(s, st.state);
}

}  // namespace

caf::behavior db_watchdog(caf::event_based_actor* self, std::string db_uri,
                          std::int64_t interval_ms) {
  auto st = std::make_shared<watchdog_state>();
  st->uri = std::move(db_uri);
  auto interval = std::chrono::milliseconds{interval_ms};
  self->send(self, tick_atom::value);

  return {
      [self, st](subscribe_atom, caf::actor& who) {
        st->subscribers.push_back(who);
        if (st->probed)
          self->send(who, st->state);
      },
      [self, st](probe_atom) { probe_and_publish(self, *st); },
      [self, st, interval](tick_atom) {
        probe_and_publish(self, *st);
        self->delayed_send(self, interval, tick_atom::value);
      },
      [st](status_atom) { return st->state; },
  };
}

}  // namespace ccrec
