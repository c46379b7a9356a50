#include "actors/metadata_writer.hpp"

#include <algorithm>
#include <deque>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "actors/db_worker.hpp"
#include "actors/row_conversion.hpp"
#include "storage/database.hpp"

namespace ccrec {

namespace {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

constexpr milliseconds first_backoff{500};
constexpr milliseconds max_backoff{10000};
// While an abandoned call may still land, wait before writing again.
constexpr milliseconds predecessor_poll{500};
constexpr milliseconds max_predecessor_wait{30000};
constexpr std::size_t max_stuck_writes = 4;
constexpr std::size_t max_batch_rows = 64;
constexpr std::uint64_t compact_threshold_bytes = 64 * 1024;
constexpr int journal_format_version = 1;

result<void> upsert(storage::database& db, const metadata_row& row) {
  if (auto c = std::get_if<call_info>(&row))
    return db.upsert_call(to_row(*c));
  return db.upsert_recording(to_row(std::get<recording_info>(row)));
}

std::string row_name(const metadata_row& row) {
  if (auto c = std::get_if<call_info>(&row))
    return "call " + c->call_id;
  return "recording " + std::get<recording_info>(row).id;
}

struct queued_row {
  std::uint64_t seq = 0;  // 0: not journaled (journal broken)
  metadata_row row;
  bool replayed = false;  // a previous run journaled it
};

struct writer_state {
  metadata_writer_args args;
  milliseconds deadline{3000};
  std::vector<metadata_row> staged;  // arrived, not yet journaled
  bool commit_scheduled = false;
  std::deque<queued_row> queue;  // journaled, not yet in the database
  std::unique_ptr<db_worker> worker;
  std::size_t in_flight = 0;  // rows at the queue's head the current job writes
  std::uint64_t steps_at_arm = 0;
  steady::time_point abandoned_at{};
  std::uint64_t retry_gen = 0;  // only the newest retry tick counts
  bool retry_scheduled = false;
  milliseconds backoff{first_backoff};
  std::vector<caf::response_promise> flush_waiters;
  std::int64_t written = 0;
  std::int64_t replayed = 0;
  std::string last_error;
  bool warned = false;  // one warning per outage
  bool journal_warned = false;
};

using state_ptr = std::shared_ptr<writer_state>;

void kick(caf::event_based_actor* self, const state_ptr& st);

void answer_flush(writer_state& st) {
  for (auto& rp : st.flush_waiters)
    rp.deliver(static_cast<std::int64_t>(st.queue.size() + st.staged.size()));
  st.flush_waiters.clear();
}

void schedule_retry(caf::event_based_actor* self, writer_state& st, milliseconds delay) {
  st.retry_scheduled = true;
  self->delayed_send(self, delay, tick_atom::value, ++st.retry_gen);
}

// ---------------------------------------------------------------------------
// Journal side
// ---------------------------------------------------------------------------

// Journals the staged rows with one fdatasync, then queues them.
void commit(caf::event_based_actor* self, const state_ptr& st) {
  st->commit_scheduled = false;
  if (st->staged.empty())
    return;

  std::uint64_t first = 0;
  auto& journal = st->args.journal;
  if (journal) {
    std::vector<std::string> payloads;
    payloads.reserve(st->staged.size());
    for (const auto& row : st->staged)
      payloads.push_back(encode_metadata(row));
    auto appended = journal->append(payloads);
    if (appended) {
      first = *appended;
    } else if (!st->journal_warned) {
      st->journal_warned = true;
      spdlog::error(
          "metadata journal: {}; rows are kept in memory only until the database "
          "takes them, and are lost if the engine stops first",
          appended.error().message);
    }
  }

  for (std::size_t i = 0; i < st->staged.size(); ++i)
    st->queue.push_back(queued_row{first == 0 ? 0 : first + i, std::move(st->staged[i]), false});
  st->staged.clear();
  kick(self, st);
}

// The first `n` queued rows are in the database: drop them, and say so in
// the journal.
void settle(writer_state& st, std::size_t n) {
  std::uint64_t last_seq = 0;
  for (std::size_t i = 0; i < n && !st.queue.empty(); ++i) {
    const auto& head = st.queue.front();
    if (head.seq != 0)
      last_seq = head.seq;
    st.replayed += head.replayed ? 1 : 0;
    st.queue.pop_front();
    ++st.written;
  }
  auto& journal = st.args.journal;
  if (!journal || last_seq == 0)
    return;
  if (auto ok = journal->mark_applied(last_seq); !ok)
    spdlog::warn(
        "metadata journal: {} (those rows may be written once more after a restart, "
        "which is harmless)",
        ok.error().message);
  if (st.queue.empty() && journal->depth() == 0 &&
      journal->file_bytes() > compact_threshold_bytes) {
    if (auto ok = journal->compact(); !ok)
      spdlog::warn("metadata journal: {}", ok.error().message);
  }
}

// ---------------------------------------------------------------------------
// Database side
// ---------------------------------------------------------------------------

void on_failure(caf::event_based_actor* self, const state_ptr& st, const std::string& why) {
  st->last_error = why;
  if (!st->warned)
    spdlog::warn(
        "metadata writer: database write failed, {} rows kept in the journal, "
        "retrying: {}",
        st->queue.size(), why);
  st->warned = true;
  answer_flush(*st);
  schedule_retry(self, *st, st->backoff);
  st->backoff = std::min(st->backoff * 2, max_backoff);
}

void on_success(caf::event_based_actor* self, const state_ptr& st) {
  st->last_error.clear();
  st->backoff = first_backoff;
  if (st->queue.empty()) {
    if (st->warned)
      spdlog::info(
          "metadata writer: database writes resumed, journal applied ({} rows written, "
          "{} of them from a previous run)",
          st->written, st->replayed);
    st->warned = false;
    answer_flush(*st);
  }
  kick(self, st);
}

// A predecessor abandoned by a deadline may still be inside a statement.
// Writing again before it returns could let its older row land last.
bool wait_for_predecessor(caf::event_based_actor* self, const state_ptr& st) {
  auto stuck = st->worker->stuck();
  if (stuck == 0)
    return false;
  auto waited = steady::now() - st->abandoned_at;
  if (waited < max_predecessor_wait || stuck >= max_stuck_writes) {
    schedule_retry(self, *st, predecessor_poll);
    return true;
  }
  return false;
}

void post_batch(caf::event_based_actor* self, const state_ptr& st) {
  auto n = std::min(st->queue.size(), max_batch_rows);
  std::vector<metadata_row> rows;
  rows.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    rows.push_back(st->queue[i].row);

  st->in_flight = n;
  st->steps_at_arm = 0;
  auto id = st->worker->post(
      [rows = std::move(rows)](storage::database& db, std::atomic<std::uint64_t>& steps) {
        for (const auto& row : rows) {
          if (auto ok = upsert(db, row); !ok)
            return result<void>{ok.error().with_context("while writing " + row_name(row))};
          ++steps;
        }
        return result<void>{};
      });
  self->delayed_send(self, st->deadline, deadline_atom::value, id);
}

void kick(caf::event_based_actor* self, const state_ptr& st) {
  if (st->queue.empty() || st->worker->busy() || st->retry_scheduled)
    return;
  if (wait_for_predecessor(self, st))
    return;
  post_batch(self, st);
}

void on_done(caf::event_based_actor* self, const state_ptr& st, std::uint64_t id) {
  auto& w = *st->worker;
  if (id != w.job_id() || !w.job() || !w.job()->finished)
    return;
  auto job = w.job();
  settle(*st, static_cast<std::size_t>(job->steps.load()));
  st->in_flight = 0;
  if (job->outcome)
    on_success(self, st);
  else
    on_failure(self, st, job->outcome.error().message);
}

void on_deadline(caf::event_based_actor* self, const state_ptr& st, std::uint64_t id) {
  auto& w = *st->worker;
  if (id != w.job_id() || !w.busy())
    return;
  auto job = w.job();
  auto steps = job->steps.load();
  if (steps > st->steps_at_arm) {
    // Slow but moving: each statement gets its own deadline.
    st->steps_at_arm = steps;
    self->delayed_send(self, st->deadline, deadline_atom::value, id);
    return;
  }

  // The rows counted were answered; the one in flight is in doubt and is
  // written again by the next job (an upsert: harmless).
  settle(*st, static_cast<std::size_t>(steps));
  st->in_flight = 0;
  w.abandon();
  st->abandoned_at = steady::now();
  on_failure(self, st,
             "no answer from the database within " + seconds_text(st->deadline) +
                 "; the call was abandoned, a new connection will be tried");
}

metadata_status make_status(const writer_state& st) {
  metadata_status s;
  s.pending = static_cast<std::int64_t>(st.queue.size() + st.staged.size());
  if (st.args.journal) {
    s.journal_bytes = static_cast<std::int64_t>(st.args.journal->file_bytes());
    s.applied_seq = static_cast<std::int64_t>(st.args.journal->applied());
    s.last_seq = static_cast<std::int64_t>(st.args.journal->last_seq());
    s.journal_ok = !st.args.journal->broken();
  } else {
    s.journal_ok = false;
  }
  s.written = st.written;
  s.replayed = st.replayed;
  s.last_error = st.last_error;
  s.stuck_calls = static_cast<std::int64_t>(st.worker->stuck());
  return s;
}

// Queues what a previous run journaled but never wrote, ahead of anything new.
void load_pending(writer_state& st) {
  for (auto& entry : st.args.pending) {
    auto row = decode_metadata(entry.payload);
    if (!row) {
      spdlog::warn("metadata journal: entry {} skipped: {}", entry.seq, row.error().message);
      continue;
    }
    st.queue.push_back(queued_row{entry.seq, std::move(*row), true});
  }
  if (!st.queue.empty())
    spdlog::info("metadata journal: replaying {} rows that did not reach the database before",
                 st.queue.size());
  st.args.pending.clear();
}

void on_flush(caf::event_based_actor* self, const state_ptr& st) {
  auto rp = self->make_response_promise();
  commit(self, st);
  if (st->queue.empty()) {
    rp.deliver(std::int64_t{0});
    return;
  }
  st->flush_waiters.push_back(rp);

  // Try now rather than after the backoff.
  st->retry_scheduled = false;
  ++st->retry_gen;
  kick(self, st);
  if (!st->worker->busy())
    answer_flush(*st);
}

}  // namespace

caf::behavior metadata_writer(caf::event_based_actor* self, metadata_writer_args args) {
  auto st = std::make_shared<writer_state>();
  st->args = std::move(args);
  st->deadline = db_step_deadline(st->args.db_uri, st->args.timeout);
  st->worker = make_db_worker(self, st->args.db_uri);
  load_pending(*st);
  kick(self, st);

  auto stage = [self, st](metadata_row row) {
    st->staged.push_back(std::move(row));
    if (st->commit_scheduled)
      return;
    // Behind every upsert already in the mailbox: they share one fdatasync.
    st->commit_scheduled = true;
    self->send(self, write_atom::value);
  };

  return {
      [stage](upsert_atom, call_info& c) { stage(std::move(c)); },
      [stage](upsert_atom, recording_info& r) { stage(std::move(r)); },
      [self, st](write_atom) { commit(self, st); },
      [self, st](done_atom, std::uint64_t id) { on_done(self, st, id); },
      [self, st](deadline_atom, std::uint64_t id) { on_deadline(self, st, id); },
      [self, st](tick_atom, std::uint64_t gen) {
        if (gen != st->retry_gen)
          return;
        st->retry_scheduled = false;
        kick(self, st);
      },
      [self, st](const db_state& state) {
        if (!state.up)
          return;
        st->backoff = first_backoff;
        st->retry_scheduled = false;
        ++st->retry_gen;
        kick(self, st);
      },
      [self, st](flush_atom) { on_flush(self, st); },
      [st](status_atom) { return make_status(*st); },
  };
}

// ---------------------------------------------------------------------------
// Journal payloads
// ---------------------------------------------------------------------------

// A journal entry is a JSON object of the row's fields, by their names, plus
// "v" (the format version) and "type". Reading one, a missing or mistyped
// field throws, and decode_metadata turns that into an error.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(call_info, call_id, direction, from_number, to_number, agent,
                                   queue, offered_ms, answered_ms, ended_ms, state, decision,
                                   schedule)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(recording_info, id, call_id, kind, path, key_id, encryption,
                                   schedule, agent, started_ms, ended_ms, status, bytes, packets,
                                   retention_days)

std::string encode_metadata(const metadata_row& row) {
  auto c = std::get_if<call_info>(&row);
  nlohmann::json j = c ? nlohmann::json(*c) : nlohmann::json(std::get<recording_info>(row));
  j["v"] = journal_format_version;
  j["type"] = c ? "call" : "recording";
  return j.dump();
}

result<metadata_row> decode_metadata(const std::string& payload) {
  try {
    auto j = nlohmann::json::parse(payload);
    if (j.at("v").get<int>() != journal_format_version)
      return make_error("journal_bad_entry",
                        "journal entry version " + j.at("v").dump() + " is not supported");
    auto type = j.at("type").get<std::string>();
    if (type == "call")
      return metadata_row{j.get<call_info>()};
    if (type != "recording")
      return make_error("journal_bad_entry", "journal entry of unknown type '" + type + "'");
    return metadata_row{j.get<recording_info>()};
  } catch (const nlohmann::json::exception& e) {
    return make_error("journal_bad_entry",
                      std::string{"journal entry is not a metadata row: "} + e.what());
  }
}

}  // namespace ccrec
