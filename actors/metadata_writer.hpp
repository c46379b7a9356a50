// metadata_writer — writes call and recording rows to the database, off the
// recording path, through a crash-safe journal (docs/journal.md).
//
// Owns:      the metadata journal, the queue of journaled rows not yet in the
//            database (in the order they came), and a db_worker: its own
//            session on its own thread, supervised by a deadline. Spawned
//            detached, because journal writes wait for fdatasync.
// Takes:     (upsert_atom, call_info)       journal, then write in order
//            (upsert_atom, recording_info)  journal, then write in order
//            (flush_atom)                   -> int64 rows still pending, once
//                                              an attempt to write them all has
//                                              ended (written, failed, timed out)
//            (status_atom)                  -> metadata_status
//            (db_state)                     the watchdog's news; retries at once
//                                           when the database comes back
//            (write_atom)                   internal: journal the rows that
//                                           arrived together (one fdatasync)
//            (done_atom, uint64)            internal: a write job ended
//            (deadline_atom, uint64)        internal: check a job's progress
//            (tick_atom, uint64)            internal: retry after backoff
// Sends:     nothing.
// Failure:   a row is journaled (fsync'd) before anything else; it then stays
//            at the head of the queue until the database has it. A failed
//            write logs one warning per outage and retries with backoff (0.5 s
//            doubling to 10 s, at once when the watchdog says the database is
//            back). A job that makes no progress within the deadline
//            (db_timeout_ms) is abandoned with its session, never joined; the
//            next try waits (up to 30 s) for the abandoned call to return,
//            so that a late statement cannot overwrite a newer row. Order is
//            kept, and writes are idempotent upserts, so a retry after an
//            ambiguous failure cannot duplicate a row. If the journal itself
//            fails (disk full, I/O error) rows are kept in memory only and an
//            error is logged: recording never stops for metadata.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <caf/all.hpp>

#include "common/result.hpp"
#include "messages/messages.hpp"
#include "storage/journal.hpp"

namespace ccrec {

struct metadata_writer_args {
  std::string db_uri;
  std::chrono::milliseconds timeout{3000};  // per database statement
  // Null: no journal (rows in memory only), for hosts without a data dir.
  std::shared_ptr<storage::journal> journal;
  // What the journal held at start (journal_recovery::pending): replayed
  // first, in order.
  std::vector<storage::journal_entry> pending;
};

caf::behavior metadata_writer(caf::event_based_actor* self, metadata_writer_args args);

// One row as the journal stores it (JSON, see docs/journal.md). No key
// material: recording rows name their key by id.
using metadata_row = std::variant<call_info, recording_info>;
std::string encode_metadata(const metadata_row& row);
// Fails with "journal_bad_entry" naming what is wrong.
result<metadata_row> decode_metadata(const std::string& payload);

}  // namespace ccrec
