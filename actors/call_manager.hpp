// call_manager — the CTI core: keeps the state of every call and agent,
// applies the recording schedules, and runs one recording session per
// recorded call.
//
// Owns:      the call table (call id -> state, agent, queue, session), the
//            set of logged-in agents, the schedule_policy, the live sessions.
// Takes:     (cti_atom, cti_event)      -> cti_reply; answered once the
//                                          recording (if any) has its ports
//            (event_atom, recording_event)  from sessions; forwarded to
//                                          subscribers
//            (subscribe_atom, actor)    recording_event notifications
//            (status_atom)              -> engine_status (call-side fields)
//            (shutdown_atom)            -> bool; stops every recording and
//                                          answers when all files are final
// Sends:     (upsert_atom, call_info) to the metadata writer; opens and
//            stops recording sessions.
// Failure:   an event that does not fit the call's state is answered with
//            ok=false ("unknown_call", "bad_state") and counted; nothing else
//            changes. A call_offered is also refused with "duplicate_call"
//            when its call id ended recently in this run (the id names one
//            call row; reusing it would rewrite the earlier call's details),
//            and with "too_many_calls" beyond max_calls_in_progress.
// Expiry:    a call with no event for call_expiry_ms is ended as if by
//            call_ended, its recording stopped with the reason "expired",
//            and a warning logged (a lost call_ended must not keep a call,
//            or a recording, open forever). A session that fails to start makes the answer
//            ok=false with the reason; the call itself goes on unrecorded.
//
// Call states:
//   offered --answered--> answered <--held/retrieved--> held
//      |                      |                           |
//      +------------------ ended <------------------------+
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/config.hpp"
#include "actors/encryption_policy.hpp"

namespace ccrec {

struct call_manager_args {
  std::vector<schedule> schedules;
  std::uint64_t seed = 0;
  std::string recordings_dir;
  bool encrypt = true;
  std::int64_t flush_interval_ms = 1000;
  caf::actor key_cache;
  caf::actor media_receiver;
  caf::actor metadata_writer;
  encryption_policy policy;                    // how each call's artefacts are written
  caf::actor transcoder;                       // optional: told when a recording's files are final
  std::int64_t max_calls_in_progress = 10000;  // 0: no limit
  std::int64_t call_expiry_ms = 24 * 3600 * 1000;  // 0: calls never expire
};

caf::behavior call_manager(caf::event_based_actor* self, call_manager_args args);

}  // namespace ccrec
