#include "actors/call_manager.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <deque>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "actors/recording_session.hpp"
#include "actors/schedule_policy.hpp"
#include "common/log_text.hpp"
#include "messages/messages.hpp"

namespace ccrec {

namespace {

constexpr std::size_t max_call_id_in_name = 40;
// The encryption plan's reason names the PBX, which comes from the wire.
constexpr std::size_t max_reason_chars = 256;

// How many ended call ids are remembered to refuse their reuse. A PBX
// reuses a call id only by mistake (or a replayed feed), and typically
// within minutes; 10000 ids cover hours of a busy site at a worst case of
// about 2.5 MiB (256-byte ids), and memory stays bounded however long the
// engine runs.
constexpr std::size_t recently_ended_capacity = 10000;

// How often calls are checked for expiry: a quarter of the expiry time,
// within these bounds, so that a call outlives its expiry by at most 25%.
constexpr std::chrono::milliseconds min_expiry_sweep{10};
constexpr std::chrono::milliseconds max_expiry_sweep{60000};

using sweep_atom = caf::atom_constant<caf::atom("cm_sweep")>;

std::int64_t wall_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The ids of the calls that ended last, oldest first out.
class recent_ids {
 public:
  bool contains(const std::string& id) const { return ids_.count(id) != 0; }

  void add(const std::string& id) {
    if (!ids_.insert(id).second)
      return;
    order_.push_back(id);
    if (order_.size() <= recently_ended_capacity)
      return;
    ids_.erase(order_.front());
    order_.pop_front();
  }

 private:
  std::unordered_set<std::string> ids_;
  std::deque<std::string> order_;
};

struct call_entry {
  call_info info;
  // The engine's clock at the call's last event (steady: the PBX's clock
  // and the wall clock may jump).
  std::chrono::steady_clock::time_point last_event;
  caf::actor session;  // invalid while not recording
  std::string recording_id;
  std::string pbx;  // the integration the call came from (encryption_policy)
  std::string schedule;
  std::vector<media_endpoint> media;  // where the PBX sends the call's streams
};

struct manager_state {
  call_manager_args args;
  schedule_policy policy;
  std::unordered_map<std::string, call_entry> calls;
  recent_ids recently_ended;
  std::set<std::string> agents;
  std::set<caf::actor_addr> live_sessions;
  std::vector<caf::actor> subscribers;
  std::vector<caf::response_promise> shutdown_waiters;
  bool shutting_down = false;
  std::mt19937_64 id_rng;
  engine_status counters;

  explicit manager_state(call_manager_args a)
      : args(std::move(a)), policy(args.schedules, args.seed), id_rng(args.seed ^ 0x9e3779b9) {}
};

using state_ptr = std::shared_ptr<manager_state>;
using event_handler = void (*)(caf::event_based_actor*, const state_ptr&, const cti_event&,
                               caf::response_promise&);

cti_reply ok_reply(std::int64_t seq) {
  cti_reply r;
  r.seq = seq;
  return r;
}

cti_reply error_reply(std::int64_t seq, std::string code, std::string message) {
  cti_reply r;
  r.seq = seq;
  r.ok = false;
  r.error = std::move(code);
  r.message = std::move(message);
  return r;
}

cti_reply recording_reply(std::int64_t seq, const std::string& recording_id,
                          const std::string& schedule, std::vector<media_endpoint> media) {
  auto reply = ok_reply(seq);
  reply.record = true;
  reply.recording_id = recording_id;
  reply.schedule = schedule;
  reply.media = std::move(media);
  return reply;
}

// A file-name-safe, sortable, unique recording id: time, call id, random.
std::string new_recording_id(manager_state& st, const std::string& call_id) {
  auto now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);

  std::string safe;
  for (char c : call_id.substr(0, max_call_id_in_name))
    safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%06llx",
                static_cast<unsigned long long>(st.id_rng() & 0xffffff));
  return std::string{stamp} + "-" + safe + "-" + suffix;
}

void save_call(const state_ptr& st, const call_entry& entry) {
  caf::anon_send(st->args.metadata_writer, upsert_atom::value, entry.info);
}

// Finds the call an event names, or answers "unknown_call".
call_entry* find_call(const state_ptr& st, const cti_event& ev, caf::response_promise& rp) {
  auto it = st->calls.find(ev.call_id);
  if (it != st->calls.end()) {
    it->second.last_event = std::chrono::steady_clock::now();
    return &it->second;
  }
  ++st->counters.cti_rejected;
  rp.deliver(error_reply(
      ev.seq, "unknown_call",
      ev.type + ": call '" + log_safe(ev.call_id) + "' is not known (no call_offered seen)"));
  return nullptr;
}

void start_recording(caf::event_based_actor* self, const state_ptr& st, call_entry& entry,
                     const record_decision& decision, std::int64_t seq, caf::response_promise rp) {
  session_args a;
  a.call = entry.info;
  a.recording_id = new_recording_id(*st, entry.info.call_id);
  a.schedule = decision.schedule;
  a.screen = decision.screen;
  a.min_seconds = decision.min_seconds;
  a.max_seconds = decision.max_seconds;
  a.retention_days = decision.retention_days;
  a.recordings_dir = st->args.recordings_dir;
  a.encrypt = st->args.encrypt;
  a.flush_interval_ms = st->args.flush_interval_ms;
  a.key_cache = st->args.key_cache;
  a.media_receiver = st->args.media_receiver;
  a.metadata_writer = st->args.metadata_writer;
  a.notify = caf::actor_cast<caf::actor>(self);
  a.pbx = entry.pbx;
  a.plan = st->args.policy.decide(entry.pbx, decision.schedule);
  a.transcoder = st->args.transcoder;
  if (a.plan.method == method_plain_wav || a.plan.xml_policy != xml_off)
    spdlog::info("call {}: encryption exception applies: {}", log_safe(entry.info.call_id),
                 log_safe(a.plan.reason, max_reason_chars));

  auto session = self->spawn(recording_session, a);
  self->monitor(session);
  st->live_sessions.insert(session.address());
  entry.session = session;
  entry.recording_id = a.recording_id;
  ++st->counters.recordings_started;

  entry.schedule = decision.schedule;
  entry.media.clear();
  auto call_id = entry.info.call_id;
  auto rid = a.recording_id;
  // The schedule is kept here: a pipelined call_ended may have removed the
  // call before the session answers.
  self->request(session, caf::infinite, open_atom::value)
      .then(
          [st, rp, seq, call_id, rid,
           schedule = decision.schedule](std::vector<media_endpoint>& media) mutable {
            auto it = st->calls.find(call_id);
            if (it != st->calls.end() && it->second.recording_id == rid)
              it->second.media = media;
            rp.deliver(recording_reply(seq, rid, schedule, std::move(media)));
          },
          [st, rp, seq, call_id, rid](caf::error& err) mutable {
            auto it = st->calls.find(call_id);
            if (it != st->calls.end() && it->second.recording_id == rid) {
              it->second.session = caf::actor{};
              it->second.recording_id.clear();
              it->second.info.decision = "record_failed";
              save_call(st, it->second);
            }
            auto code =
                err.code() == static_cast<std::uint8_t>(engine_errc::busy) ? "busy" : "internal";
            rp.deliver(error_reply(seq, code, "recording could not start: " + describe(err)));
          });
}

void stop_recording(caf::event_based_actor* self, call_entry& entry, const std::string& reason) {
  if (!entry.session)
    return;
  // A request, so the session's answer (its final status) is expected here
  // rather than arriving as an unexpected message.
  self->request(entry.session, caf::infinite, stop_atom::value, reason)
      .then([](const std::string&) {}, [](const caf::error&) {});
  entry.session = caf::actor{};
  entry.recording_id.clear();
  entry.media.clear();
}

// Stops the call's recording, writes its final row and forgets the call,
// remembering its id so that it cannot be offered again.
void end_call(caf::event_based_actor* self, const state_ptr& st, call_entry& entry,
              std::int64_t ended_ms, const std::string& reason) {
  stop_recording(self, entry, reason);
  entry.info.ended_ms = ended_ms;
  entry.info.state = "ended";
  save_call(st, entry);
  auto id = entry.info.call_id;
  st->recently_ended.add(id);
  st->calls.erase(id);
}

std::chrono::milliseconds expiry_sweep_interval(std::int64_t expiry_ms) {
  return std::clamp(std::chrono::milliseconds{expiry_ms / 4}, min_expiry_sweep, max_expiry_sweep);
}

// Ends every call that had no event for call_expiry_ms, as call_ended would.
void expire_calls(caf::event_based_actor* self, const state_ptr& st) {
  auto expiry = std::chrono::milliseconds{st->args.call_expiry_ms};
  auto now = std::chrono::steady_clock::now();
  std::vector<std::string> stale;
  for (const auto& [id, entry] : st->calls) {
    if (now - entry.last_event >= expiry)
      stale.push_back(id);
  }
  for (const auto& id : stale) {
    auto& entry = st->calls.at(id);
    spdlog::warn("call {}: no event for {} ms while {}; ended as expired (call_ended lost?)",
                 log_safe(id), st->args.call_expiry_ms, entry.info.state);
    end_call(self, st, entry, wall_now_ms(), "expired");
  }
}

// ---------------------------------------------------------------------------
// One function per event type
// ---------------------------------------------------------------------------

void on_agent_login(caf::event_based_actor*, const state_ptr& st, const cti_event& ev,
                    caf::response_promise& rp) {
  st->agents.insert(ev.agent);
  rp.deliver(ok_reply(ev.seq));
}

void on_agent_logout(caf::event_based_actor*, const state_ptr& st, const cti_event& ev,
                     caf::response_promise& rp) {
  st->agents.erase(ev.agent);
  rp.deliver(ok_reply(ev.seq));
}

void on_offered(caf::event_based_actor*, const state_ptr& st, const cti_event& ev,
                caf::response_promise& rp) {
  if (st->calls.count(ev.call_id) != 0) {
    ++st->counters.cti_rejected;
    return rp.deliver(error_reply(
        ev.seq, "bad_state", "call_offered: call '" + log_safe(ev.call_id) + "' already exists"));
  }
  if (st->recently_ended.contains(ev.call_id)) {
    ++st->counters.cti_rejected;
    return rp.deliver(error_reply(ev.seq, "duplicate_call",
                                  "call_offered: call '" + log_safe(ev.call_id) +
                                      "' already ended; a call id names one call"));
  }
  auto limit = st->args.max_calls_in_progress;
  if (limit > 0 && static_cast<std::int64_t>(st->calls.size()) >= limit) {
    ++st->counters.cti_rejected;
    return rp.deliver(error_reply(ev.seq, "too_many_calls",
                                  "call_offered: call '" + log_safe(ev.call_id) +
                                      "' refused: " + std::to_string(limit) +
                                      " calls are in progress (max_calls_in_progress)"));
  }

  call_entry entry;
  entry.info.call_id = ev.call_id;
  entry.info.direction = ev.direction;
  entry.info.from_number = ev.from;
  entry.info.to_number = ev.to;
  entry.info.queue = ev.queue;
  entry.info.offered_ms = ev.ts_ms;
  entry.pbx = ev.pbx;
  entry.info.state = "offered";
  entry.info.decision = "pending";
  entry.last_event = std::chrono::steady_clock::now();
  save_call(st, entry);
  st->calls.emplace(ev.call_id, std::move(entry));
  rp.deliver(ok_reply(ev.seq));
}

void on_answered(caf::event_based_actor* self, const state_ptr& st, const cti_event& ev,
                 caf::response_promise& rp) {
  auto* entry = find_call(st, ev, rp);
  if (entry == nullptr)
    return;
  if (entry->info.state != "offered") {
    ++st->counters.cti_rejected;
    return rp.deliver(
        error_reply(ev.seq, "bad_state",
                    "call_answered: call '" + log_safe(ev.call_id) + "' is " + entry->info.state));
  }

  entry->info.agent = ev.agent;
  if (!ev.queue.empty())
    entry->info.queue = ev.queue;
  entry->info.answered_ms = ev.ts_ms;
  if (!ev.pbx.empty())
    entry->pbx = ev.pbx;
  entry->info.state = "answered";
  if (entry->session) {
    // Already recording (started on demand before the answer): one call,
    // one recording. Answer with the recording that runs.
    save_call(st, *entry);
    return rp.deliver(recording_reply(ev.seq, entry->recording_id, entry->schedule, entry->media));
  }

  auto decision = st->policy.decide(
      call_facts{entry->info.call_id, entry->info.agent, entry->info.queue, entry->info.direction});
  spdlog::info("call {}: {} ({})", log_safe(ev.call_id),
               decision.record ? "record" : "do not record", decision.reason);
  entry->info.decision = decision.record ? "recorded" : "not_recorded";
  entry->info.schedule = decision.schedule;
  save_call(st, *entry);
  if (!decision.record)
    return rp.deliver(ok_reply(ev.seq));
  start_recording(self, st, *entry, decision, ev.seq, rp);
}

void on_hold_change(caf::event_based_actor*, const state_ptr& st, const cti_event& ev,
                    caf::response_promise& rp) {
  auto* entry = find_call(st, ev, rp);
  if (entry == nullptr)
    return;
  bool hold = ev.type == "call_held";
  auto expected = hold ? "answered" : "held";
  if (entry->info.state != expected) {
    ++st->counters.cti_rejected;
    return rp.deliver(
        error_reply(ev.seq, "bad_state",
                    ev.type + ": call '" + log_safe(ev.call_id) + "' is " + entry->info.state));
  }

  // The recording goes on: a hold is a gap in the RTP, which playback
  // renders as silence at the right place.
  entry->info.state = hold ? "held" : "answered";
  save_call(st, *entry);
  rp.deliver(ok_reply(ev.seq));
}

void on_transferred(caf::event_based_actor*, const state_ptr& st, const cti_event& ev,
                    caf::response_promise& rp) {
  auto* entry = find_call(st, ev, rp);
  if (entry == nullptr)
    return;

  // The recording continues across the transfer; the call row names the
  // agent who has the call now.
  entry->info.agent = ev.agent;
  if (!ev.queue.empty())
    entry->info.queue = ev.queue;
  save_call(st, *entry);
  rp.deliver(ok_reply(ev.seq));
}

void on_ended(caf::event_based_actor* self, const state_ptr& st, const cti_event& ev,
              caf::response_promise& rp) {
  auto* entry = find_call(st, ev, rp);
  if (entry == nullptr)
    return;

  end_call(self, st, *entry, ev.ts_ms, "call_ended");
  rp.deliver(ok_reply(ev.seq));
}

void on_control(caf::event_based_actor* self, const state_ptr& st, const cti_event& ev,
                caf::response_promise& rp) {
  auto* entry = find_call(st, ev, rp);
  if (entry == nullptr)
    return;
  if (ev.action == "start" && !entry->session) {
    auto decision = st->policy.on_demand(call_facts{entry->info.call_id, entry->info.agent,
                                                    entry->info.queue, entry->info.direction});
    entry->info.decision = "recorded";
    entry->info.schedule = decision.schedule;
    save_call(st, *entry);
    return start_recording(self, st, *entry, decision, ev.seq, rp);
  }
  if (ev.action != "start" && !entry->session) {
    ++st->counters.cti_rejected;
    return rp.deliver(error_reply(ev.seq, "bad_state",
                                  "recording_control " + log_safe(ev.action) + ": call '" +
                                      log_safe(ev.call_id) + "' is not being recorded"));
  }

  if (ev.action == "stop")
    stop_recording(self, *entry, "stopped_on_demand");
  else if (ev.action == "pause")
    self->send(entry->session, pause_atom::value);
  else if (ev.action == "resume")
    self->send(entry->session, resume_atom::value);
  if (ev.action == "start")  // already recording: say where its media goes
    return rp.deliver(recording_reply(ev.seq, entry->recording_id, entry->schedule, entry->media));
  rp.deliver(ok_reply(ev.seq));
}

const std::unordered_map<std::string, event_handler>& handlers() {
  static const std::unordered_map<std::string, event_handler> table = {
      {"agent_login", on_agent_login},      {"agent_logout", on_agent_logout},
      {"call_offered", on_offered},         {"call_answered", on_answered},
      {"call_held", on_hold_change},        {"call_retrieved", on_hold_change},
      {"call_transferred", on_transferred}, {"call_ended", on_ended},
      {"recording_control", on_control},
  };
  return table;
}

void handle_event(caf::event_based_actor* self, const state_ptr& st, const cti_event& ev) {
  auto rp = self->make_response_promise();
  ++st->counters.cti_events;
  if (st->shutting_down) {
    ++st->counters.cti_rejected;
    return rp.deliver(
        error_reply(ev.seq, "bad_state", log_safe(ev.type) + ": the engine is shutting down"));
  }
  auto it = handlers().find(ev.type);
  if (it == handlers().end()) {
    ++st->counters.cti_rejected;
    return rp.deliver(
        error_reply(ev.seq, "bad_event", "unknown event type '" + log_safe(ev.type) + "'"));
  }
  it->second(self, st, ev, rp);
}

void maybe_finish_shutdown(const state_ptr& st) {
  if (!st->shutting_down || !st->live_sessions.empty())
    return;
  for (auto& rp : st->shutdown_waiters)
    rp.deliver(true);
  st->shutdown_waiters.clear();
}

void begin_shutdown(caf::event_based_actor* self, const state_ptr& st) {
  st->shutdown_waiters.push_back(self->make_response_promise());
  st->shutting_down = true;
  for (auto& [id, entry] : st->calls)
    stop_recording(self, entry, "engine_shutdown");
  maybe_finish_shutdown(st);
}

}  // namespace

caf::behavior call_manager(caf::event_based_actor* self, call_manager_args args) {
  auto st = std::make_shared<manager_state>(std::move(args));
  self->set_down_handler([st](caf::down_msg& msg) {
    st->live_sessions.erase(msg.source);
    maybe_finish_shutdown(st);
  });
  if (st->args.call_expiry_ms > 0)
    self->delayed_send(self, expiry_sweep_interval(st->args.call_expiry_ms), sweep_atom::value);

  return {
      [self, st](cti_atom, const cti_event& ev) { handle_event(self, st, ev); },
      [self, st](event_atom, const recording_event& ev) {
        if (ev.state == "failed")
          ++st->counters.recordings_failed;
        for (auto& s : st->subscribers)
          self->send(s, event_atom::value, ev);
      },
      [st](subscribe_atom, caf::actor& who) { st->subscribers.push_back(who); },
      [st](status_atom) {
        auto status = st->counters;
        status.active_calls = static_cast<std::int64_t>(st->calls.size());
        status.active_recordings = static_cast<std::int64_t>(st->live_sessions.size());
        return status;
      },
      [self, st](shutdown_atom) { begin_shutdown(self, st); },
      [self, st](sweep_atom) {
        if (st->shutting_down)
          return;
        expire_calls(self, st);
        self->delayed_send(self, expiry_sweep_interval(st->args.call_expiry_ms), sweep_atom::value);
      },
  };
}

}  // namespace ccrec
