// metadata_writer — writes call and recording rows to the database, off the
// recording path.
//
// Owns:      its own database session (SOCI sessions are not thread-safe)
//            and a FIFO of rows not yet written. Spawned detached, because
//            database calls block.
// Takes:     (upsert_atom, call_info)       queue, then write in order
//            (upsert_atom, recording_info)  queue, then write in order
//            (flush_atom)                   -> int64 rows still pending, after
//                                              one attempt to write them all
//            (status_atom)                  -> int64 rows pending
//            (db_state)                     the watchdog's news; retries at once
//                                           when the database comes back
// Sends:     nothing.
// Failure:   a write that fails leaves the row at the head of the queue, logs
//            one warning per outage, and retries with backoff (1 s doubling
//            to 30 s). Order is kept, so a recording's "complete" never lands
//            before its "recording". Writes are idempotent upserts, so a
//            retry after an ambiguous failure cannot duplicate a row.
//            Known gap: the queue is in memory; a crash during an outage
//            loses what it holds (a crash-safe journal replaces it).
#pragma once

#include <string>

#include <caf/all.hpp>

namespace ccrec {

caf::behavior metadata_writer(caf::event_based_actor* self, std::string db_uri);

}  // namespace ccrec
