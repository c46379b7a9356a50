// db_watchdog — knows whether the database is reachable, and says so.
//
// Owns:      its own database session, used only for probes. Spawned
//            detached, because a probe blocks.
// Takes:     (subscribe_atom, actor)  the actor gets every db_state change
//                                     (and the current state at once)
//            (probe_atom)             probe now (also on its own timer)
//            (status_atom)            -> db_state
// Sends:     db_state to subscribers when reachability changes.
// Failure:   a failed probe marks the database down with the reason and
//            reconnects on the next probe. Known gap: a frozen server
//            (not closed, just silent) blocks a probe; the probe is not yet
//            bounded by a timeout.
#pragma once

#include <cstdint>
#include <string>

#include <caf/all.hpp>

namespace ccrec {

caf::behavior db_watchdog(caf::event_based_actor* self, std::string db_uri,
                          std::int64_t interval_ms);

}  // namespace ccrec
