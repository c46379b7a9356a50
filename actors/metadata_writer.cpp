#include "actors/metadata_writer.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <variant>

#include <spdlog/spdlog.h>

#include "messages/messages.hpp"
#include "storage/database.hpp"

namespace ccrec {

namespace {

constexpr std::chrono::milliseconds first_backoff{1000};
constexpr std::chrono::milliseconds max_backoff{30000};

using row = std::variant<call_info, recording_info>;

storage::call_row to_row(const call_info& c) {
  storage::call_row r;
  r.call_id = c.call_id;
  r.direction = c.direction;
  r.from_number = c.from_number;
  r.to_number = c.to_number;
  r.agent = c.agent;
  r.queue = c.queue;
  r.offered_ms = c.offered_ms;
  r.answered_ms = c.answered_ms;
  r.ended_ms = c.ended_ms;
  r.state = c.state;
  r.decision = c.decision;
  r.schedule = c.schedule;
  return r;
}

storage::recording_row to_row(const recording_info& x) {
  storage::recording_row r;
  r.id = x.id;
  r.call_id = x.call_id;
  r.kind = x.kind;
  r.path = x.path;
  r.key_id = x.key_id;
  r.encryption = x.encryption;
  r.schedule = x.schedule;
  r.agent = x.agent;
  r.started_ms = x.started_ms;
  r.ended_ms = x.ended_ms;
  r.status = x.status;
  r.bytes = x.bytes;
  r.packets = x.packets;
  r.retention_days = x.retention_days;
  return r;
}

struct writer_state {
  std::string uri;
  std::unique_ptr<storage::database> db;
  std::deque<row> queue;
  std::chrono::milliseconds backoff{first_backoff};
  bool retry_scheduled = false;
  bool warned = false;  // one warning per outage
};

result<void> ensure_open(writer_state& st) {
  if (st.db)
    return {};
  auto db = storage::database::open(st.uri);
  if (!db)
    return db.error();
  st.db = std::move(*db);
  return {};
}

result<void> write_one(writer_state& st, const row& r) {
  if (auto ok = ensure_open(st); !ok)
    return ok;
  if (auto c = std::get_if<call_info>(&r))
    return st.db->upsert_call(to_row(*c));
  return st.db->upsert_recording(to_row(std::get<recording_info>(r)));
}

// Writes queued rows in order until one fails. Returns true when empty.
bool drain(writer_state& st) {
  while (!st.queue.empty()) {
    if (auto ok = write_one(st, st.queue.front()); !ok) {
      if (!st.warned)
        spdlog::warn("metadata writer: database write failed, {} rows queued, retrying: {}",
                     st.queue.size(), ok.error().message);
      st.warned = true;
      return false;
    }
    st.queue.pop_front();
  }
  if (st.warned)
    spdlog::info("metadata writer: database writes resumed, queue empty");
  st.warned = false;
  st.backoff = first_backoff;
  return true;
}

void drain_or_retry(caf::event_based_actor* self, const std::shared_ptr<writer_state>& st) {
  if (drain(*st) || st->retry_scheduled)
    return;
  st->retry_scheduled = true;
  self->delayed_send(self, st->backoff, tick_atom::value);
  st->backoff = std::min(st->backoff * 2, max_backoff);
}

}  // namespace

caf::behavior metadata_writer(caf::event_based_actor* self, std::string db_uri) {
  auto st = std::make_shared<writer_state>();
  st->uri = std::move(db_uri);

  return {
      [self, st](upsert_atom, call_info& c) {
        st->queue.emplace_back(std::move(c));
        drain_or_retry(self, st);
      },
      [self, st](upsert_atom, recording_info& r) {
        st->queue.emplace_back(std::move(r));
        drain_or_retry(self, st);
      },
      [self, st](tick_atom) {
        st->retry_scheduled = false;
        drain_or_retry(self, st);
      },
      [self, st](const db_state& state) {
        if (state.up)
          drain_or_retry(self, st);
      },
      [self, st](flush_atom) {
        drain_or_retry(self, st);
        return static_cast<std::int64_t>(st->queue.size());
      },
      [st](status_atom) { return static_cast<std::int64_t>(st->queue.size()); },
  };
}

}  // namespace ccrec
