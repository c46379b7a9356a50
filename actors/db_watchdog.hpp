// db_watchdog — knows whether the database is reachable, and says so.
//
// Owns:      a db_worker (its own session on its own thread), used only for
//            probes, and the current db_state. Spawned detached; it never
//            blocks itself, because every probe runs on the worker thread.
// Takes:     (subscribe_atom, actor)  the actor gets every db_state change
//                                     (and the current state at once)
//            (probe_atom)             probe now (also on its own timer)
//            (status_atom)            -> db_state
//            (done_atom, uint64)      internal: a probe ended
//            (deadline_atom, uint64)  internal: a probe's deadline passed
//            (tick_atom, uint64)      internal: time for the next probe
// Sends:     db_state to subscribers when reachability changes.
// Failure:   a failed probe (refused, dropped, an error) marks the database
//            down with the reason. A probe that does not answer within the
//            deadline (db_timeout_ms) marks it down as "no answer within N
//            s" (a frozen server, a black-holed network): the worker and its
//            session are abandoned, never joined, and the next probe starts
//            a fresh session. While down it probes with backoff (the probe
//            interval, doubling, at most 5 s); when up, every interval.
//
//            start --ok--> up --fails / no answer--> down --ok--> up
//                                                     ^  |
//                                                     +--+ backoff
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/all.hpp>

#include "common/result.hpp"
#include "messages/messages.hpp"

namespace ccrec {

struct db_watchdog_args {
  std::string db_uri;
  std::chrono::milliseconds interval{2000};  // between probes while up
  std::chrono::milliseconds timeout{3000};   // a probe's deadline
};

caf::behavior db_watchdog(caf::event_based_actor* self, db_watchdog_args args);

// For operations that need the database (key rotation, deactivation): the
// refusal while it is down. Code "db_down"; the message names the
// operation, why the database is down, and that recording goes on.
error db_down_error(const std::string& operation, const std::string& reason);
// The same as an actor's error (engine_errc::db_down).
caf::error db_down_caf_error(const std::string& operation, const db_state& state);
// `err` as "db_down" when it says the database could not be reached
// ("db_unreachable", "db_timeout"); otherwise `err` unchanged.
error as_db_down(const error& err, const std::string& operation);

}  // namespace ccrec
