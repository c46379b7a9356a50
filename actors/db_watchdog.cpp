#include "actors/db_watchdog.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/db_worker.hpp"
#include "actors/errors.hpp"
#include "storage/database.hpp"
#include "storage/file_identity.hpp"

namespace ccrec {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds max_down_backoff{5000};
// Abandoned probes still stuck in the database; beyond this, no new thread
// is started until one returns (a frozen server holds every one of them).
constexpr std::size_t max_stuck_probes = 4;

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

struct watchdog_state {
  db_watchdog_args args;
  milliseconds deadline{3000};
  std::unique_ptr<db_worker> worker;
  db_state state;
  bool probed = false;
  std::vector<caf::actor> subscribers;
  std::uint64_t tick_gen = 0;  // only the newest scheduled tick counts
  milliseconds backoff{0};
  // SQLite: the database file the engine started on. Another file at the
  // path later (restored, or made empty by some tool) is not the one the
  // engine's keys and rows came from: the database stays down until a
  // restart looks at it afresh.
  std::string file;
  std::optional<storage::file_identity> file_id;
};

using state_ptr = std::shared_ptr<watchdog_state>;

void publish(caf::event_based_actor* self, watchdog_state& st, bool up, const std::string& why) {
  if (st.probed && up == st.state.up) {
    if (!up)
      st.state.reason = why;  // the latest reason, for status; no new event
    return;
  }

  auto was_down_since = st.state.since_ms;
  bool had_state = st.probed;
  st.probed = true;
  st.state = db_state{up, up ? "" : why, now_ms()};
  if (up && had_state)
    spdlog::info("database is reachable again after {} s of outage",
                 (st.state.since_ms - was_down_since) / 1000);
  else if (up)
    spdlog::info("database is reachable");
  else
    spdlog::warn("database is unreachable: {}", why);
  for (auto& s : st.subscribers)
    self->send(s, st.state);
}

void schedule_next(caf::event_based_actor* self, watchdog_state& st) {
  milliseconds delay = st.args.interval;
  if (!st.state.up) {
    st.backoff = st.backoff.count() == 0 ? st.args.interval : st.backoff * 2;
    st.backoff = std::min(st.backoff, std::max(max_down_backoff, st.args.interval));
    delay = st.backoff;
  } else {
    st.backoff = milliseconds{0};
  }
  self->delayed_send(self, delay, tick_atom::value, ++st.tick_gen);
}

void start_probe(caf::event_based_actor* self, const state_ptr& st) {
  if (st->worker->busy())
    return;
  ++st->tick_gen;  // this probe replaces whatever tick was pending

  auto stuck = st->worker->stuck();
  if (stuck >= max_stuck_probes) {
    publish(self, *st, false,
            std::to_string(stuck) + " probes are still waiting for the database to answer");
    return schedule_next(self, *st);
  }
  auto id = st->worker->post([](storage::database& db, std::atomic<std::uint64_t>& steps) {
    auto ok = db.ping();
    ++steps;
    return ok;
  });
  self->delayed_send(self, st->deadline, deadline_atom::value, id);
}

void note_file(watchdog_state& st) {
  if (!st.file.empty())
    st.file_id = storage::file_identity::of(st.file);
}

// Why the file at the path is not the one the engine started on, or "".
std::string file_problem(const watchdog_state& st) {
  if (!st.file_id)
    return "";
  switch (st.file_id->at(st.file)) {
    case storage::file_change::same:
      return "";
    case storage::file_change::deleted:
      return "the SQLite database file " + st.file +
             " was deleted while the engine ran; metadata waits in the journal. Restore the "
             "file from a backup and restart the engine";
    case storage::file_change::replaced:
      break;
  }
  return "the SQLite database file " + st.file +
         " was replaced by another file while the engine ran; metadata waits in the "
         "journal. Check the new file and restart the engine";
}

void on_done(caf::event_based_actor* self, const state_ptr& st, std::uint64_t id) {
  auto& w = *st->worker;
  if (id != w.job_id() || !w.job() || !w.job()->finished)
    return;
  const auto& outcome = w.job()->outcome;
  // The file's fate says more than the error a probe on it meets.
  auto problem = file_problem(*st);
  if (problem.empty() && !outcome.ok())
    problem = outcome.error().message;
  if (problem.empty() && !st->file_id)
    note_file(*st);
  publish(self, *st, problem.empty(), problem);
  schedule_next(self, *st);
}

void on_deadline(caf::event_based_actor* self, const state_ptr& st, std::uint64_t id) {
  auto& w = *st->worker;
  if (id != w.job_id() || !w.busy())
    return;

  w.abandon();
  publish(self, *st, false,
          "no answer from the database within " + seconds_text(st->deadline) +
              " (the server may be frozen or the network silent); trying a new connection");
  schedule_next(self, *st);
}

}  // namespace

caf::behavior db_watchdog(caf::event_based_actor* self, db_watchdog_args args) {
  auto st = std::make_shared<watchdog_state>();
  st->args = std::move(args);
  st->deadline = db_step_deadline(st->args.db_uri, st->args.timeout);
  st->file = storage::sqlite_file_path(st->args.db_uri);
  note_file(*st);
  st->worker = make_db_worker(self, st->args.db_uri);
  start_probe(self, st);

  return {
      [self, st](subscribe_atom, caf::actor& who) {
        st->subscribers.push_back(who);
        if (st->probed)
          self->send(who, st->state);
      },
      [self, st](probe_atom) { start_probe(self, st); },
      [st](status_atom) { return st->state; },
      [self, st](done_atom, std::uint64_t id) { on_done(self, st, id); },
      [self, st](deadline_atom, std::uint64_t id) { on_deadline(self, st, id); },
      [self, st](tick_atom, std::uint64_t gen) {
        if (gen == st->tick_gen)
          start_probe(self, st);
      },
  };
}

// ---------------------------------------------------------------------------
// Refusals for operations that need the database
// ---------------------------------------------------------------------------

error db_down_error(const std::string& operation, const std::string& reason) {
  return make_error("db_down", "cannot " + operation + " while the database is down (" + reason +
                                   "); recording and playback go on with the keys in memory; "
                                   "try again once `ccrec status` shows the database up");
}

caf::error db_down_caf_error(const std::string& operation, const db_state& state) {
  return make_engine_error(engine_errc::db_down, db_down_error(operation, state.reason).message);
}

error as_db_down(const error& err, const std::string& operation) {
  if (err.code != "db_unreachable" && err.code != "db_timeout")
    return err;
  return db_down_error(operation, err.message);
}

}  // namespace ccrec
