#include "actors/call_manager.hpp"

#include <chrono>
#include <ctime>
#include <random>
#include <set>
#include <unordered_map>

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

struct call_entry {
  call_info info;
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
  if (it != st->calls.end())
    return &it->second;
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

  stop_recording(self, *entry, "call_ended");
  entry->info.ended_ms = ev.ts_ms;
  entry->info.state = "ended";
  save_call(st, *entry);
  st->calls.erase(ev.call_id);
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
    return rp.deliver(error_reply(ev.seq, "bad_state", ev.type + ": the engine is shutting down"));
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
  };
}

}  // namespace ccrec
