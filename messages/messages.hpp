// The table of contents of the engine: every atom and message payload the
// actors exchange, grouped by the actor that receives it, one line each.
//
// Read this file first. Each actor's own header (actors/*.hpp) opens with a
// card that names the subset it takes and what it sends.
//
// Payloads hold only plain data. Key material travels as a shared pointer to
// guarded memory and is never printed: inspect() shows the key id only.
// Plaintext media travels in write batches whose inspect() shows sizes only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>

namespace ccrec::crypto {
class secret_bytes;  // guarded key memory; defined in crypto/secret.hpp
}

namespace ccrec {

// ---------------------------------------------------------------------------
// Atoms (verbs), at most 10 characters each
// ---------------------------------------------------------------------------

using cti_atom = caf::atom_constant<caf::atom("cti")>;              // a CTI event
using open_atom = caf::atom_constant<caf::atom("open")>;            // open legs / files
using close_atom = caf::atom_constant<caf::atom("close")>;          // close legs / files
using write_atom = caf::atom_constant<caf::atom("write")>;          // append bytes
using flush_atom = caf::atom_constant<caf::atom("flush")>;          // seal a chunk now
using finish_atom = caf::atom_constant<caf::atom("finish")>;        // seal final chunk
using pause_atom = caf::atom_constant<caf::atom("pause")>;          // stop taking media
using resume_atom = caf::atom_constant<caf::atom("resume")>;        // take media again
using stop_atom = caf::atom_constant<caf::atom("stop")>;            // end a recording
using key_atom = caf::atom_constant<caf::atom("key")>;              // ask for a key
using active_atom = caf::atom_constant<caf::atom("active")>;        // the active key
using reload_atom = caf::atom_constant<caf::atom("reload")>;        // re-read keys from db
using upsert_atom = caf::atom_constant<caf::atom("upsert")>;        // write metadata
using probe_atom = caf::atom_constant<caf::atom("probe")>;          // check the db now
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;  // follow changes
using status_atom = caf::atom_constant<caf::atom("status")>;        // report state
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;    // end gracefully
using tick_atom = caf::atom_constant<caf::atom("tick")>;            // internal timer
using event_atom = caf::atom_constant<caf::atom("event")>;          // notification

// ---------------------------------------------------------------------------
// call_manager: CTI events in, recording decisions out
// ---------------------------------------------------------------------------

// A leg's media address as the PBX reported it (metadata only).
struct leg_address {
  std::string name;     // "caller" or "agent"
  std::string address;  // "IP:PORT"
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leg_address& x) {
  return f(caf::meta::type_name("leg_address"), x.name, x.address);
}

// One CTI event, decoded and validated (see docs/cti-protocol.md).
struct cti_event {
  std::string type;  // "call_offered", "call_answered", ...
  std::int64_t seq = 0;
  std::int64_t ts_ms = 0;  // event time; receive time if the PBX gave none
  std::string pbx;
  std::string call_id;
  std::string agent;
  std::string extension;
  std::string queue;
  std::string direction;
  std::string from;
  std::string to;
  std::string action;  // recording_control: start, stop, pause, resume
  std::vector<leg_address> legs;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cti_event& x) {
  return f(caf::meta::type_name("cti_event"), x.type, x.seq, x.ts_ms, x.pbx, x.call_id, x.agent,
           x.extension, x.queue, x.direction, x.from, x.to, x.action, x.legs);
}

// Where the PBX must send one media stream.
struct media_endpoint {
  std::string name;  // "caller", "agent" or "screen"
  std::string host;
  std::uint16_t port = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, media_endpoint& x) {
  return f(caf::meta::type_name("media_endpoint"), x.name, x.host, x.port);
}

// The engine's answer to one CTI event.
struct cti_reply {
  std::int64_t seq = 0;
  bool ok = true;
  std::string error;    // "bad_event", "unknown_call", "bad_state", ...
  std::string message;  // what was wrong, for people
  bool record = false;  // a recording started with this event
  std::string recording_id;
  std::string schedule;
  std::vector<media_endpoint> media;  // one per leg, plus "screen"
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cti_reply& x) {
  return f(caf::meta::type_name("cti_reply"), x.seq, x.ok, x.error, x.message, x.record,
           x.recording_id, x.schedule, x.media);
}

// ---------------------------------------------------------------------------
// key_cache: master keys for writers and readers
// ---------------------------------------------------------------------------

// A master key lent to a writer. The pointer keeps the guarded memory alive
// while the writer needs it; the key cache wipes it when the last user
// drops it.
struct key_grant {
  std::int64_t key_id = 0;
  std::shared_ptr<const crypto::secret_bytes> key;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_grant& x) {
  // Only the id: key bytes never reach a log or the wire.
  return f(caf::meta::type_name("key_grant"), x.key_id);
}

// Every usable master key, as a reload read it from the database
// (internal: the key cache's reload thread -> key_cache). Holds
// pointers to guarded memory, so like key_grant it never leaves the process
// and is not registered in add_message_types().
struct key_set {
  std::int64_t active_id = 0;   // 0: no active key
  std::vector<key_grant> keys;  // by id; inactive keys are left out
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_set& x) {
  return f(caf::meta::type_name("key_set"), x.active_id, x.keys);
}

// ---------------------------------------------------------------------------
// file_writer: one encrypted file
// ---------------------------------------------------------------------------

// Bytes of a raw record stream for one file. Plaintext: lives only in
// memory; inspect() shows the size, never the content.
struct write_batch {
  std::vector<std::uint8_t> bytes;
  std::uint64_t packets = 0;  // media packets inside
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_batch& x) {
  auto size = static_cast<std::uint64_t>(x.bytes.size());
  return f(caf::meta::type_name("write_batch"), size, x.packets);
}

// How a file ended.
struct file_summary {
  std::string path;
  std::string status;  // "complete" or "failed"
  std::string error;   // why it failed
  std::uint64_t bytes = 0;
  std::uint64_t packets = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, file_summary& x) {
  return f(caf::meta::type_name("file_summary"), x.path, x.status, x.error, x.bytes, x.packets);
}

// ---------------------------------------------------------------------------
// media_receiver: UDP ports for RTP legs and screen streams
// ---------------------------------------------------------------------------

// Asks for one port per stream, routed to the given writers.
struct open_media {
  std::string recording_id;
  std::vector<std::string> legs;  // names, in channel order
  caf::actor audio_writer;
  caf::actor screen_writer;   // invalid when no screen recording
  std::int64_t start_ns = 0;  // recording start, steady clock
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, open_media& x) {
  return f(caf::meta::type_name("open_media"), x.recording_id, x.legs, x.audio_writer,
           x.screen_writer, x.start_ns);
}

// Per-leg figures when a recording's media is closed.
struct leg_stats {
  std::string name;
  std::uint64_t packets = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t reordered = 0;
  std::uint64_t late = 0;
  std::uint64_t invalid = 0;
  std::uint64_t ssrc_changes = 0;
  std::uint64_t ts_jumps = 0;
  std::uint64_t paused_drops = 0;
  std::uint64_t foreign_ssrc = 0;  // a second stream's packets, dropped
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leg_stats& x) {
  return f(caf::meta::type_name("leg_stats"), x.name, x.packets, x.duplicates, x.reordered, x.late,
           x.invalid, x.ssrc_changes, x.ts_jumps, x.paused_drops, x.foreign_ssrc);
}

// media_receiver's counters since start, over every leg.
struct media_status {
  std::uint64_t packets = 0;       // datagrams received on open legs' ports
  std::uint64_t invalid = 0;       // garbage: not RTP, not a screen frame, truncated
  std::uint64_t after_end = 0;     // arrived on a closed leg's port
  std::uint64_t open_ports = 0;    // bound now (legs, screens, closed legs in grace)
  std::uint64_t late = 0;          // dropped: arrived after their slot was played
  std::uint64_t duplicates = 0;    // dropped: seen before
  std::uint64_t foreign_ssrc = 0;  // dropped: a second stream on a leg's port
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, media_status& x) {
  return f(caf::meta::type_name("media_status"), x.packets, x.invalid, x.after_end, x.open_ports,
           x.late, x.duplicates, x.foreign_ssrc);
}

struct media_closed {
  std::string recording_id;
  std::vector<leg_stats> legs;
  std::uint64_t screen_frames = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, media_closed& x) {
  return f(caf::meta::type_name("media_closed"), x.recording_id, x.legs, x.screen_frames);
}

// ---------------------------------------------------------------------------
// metadata_writer and db_watchdog: the database, off the recording path
// ---------------------------------------------------------------------------

// What the engine knows about a call (mirrors storage::call_row).
struct call_info {
  std::string call_id;
  std::string direction;
  std::string from_number;
  std::string to_number;
  std::string agent;
  std::string queue;
  std::int64_t offered_ms = 0;
  std::int64_t answered_ms = 0;
  std::int64_t ended_ms = 0;
  std::string state;
  std::string decision;
  std::string schedule;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, call_info& x) {
  return f(caf::meta::type_name("call_info"), x.call_id, x.direction, x.from_number, x.to_number,
           x.agent, x.queue, x.offered_ms, x.answered_ms, x.ended_ms, x.state, x.decision,
           x.schedule);
}

// What the engine knows about a recording file (mirrors storage::recording_row).
struct recording_info {
  std::string id;
  std::string call_id;
  std::string kind;  // "audio" or "screen"
  std::string path;  // relative to the recordings directory
  std::int64_t key_id = 0;
  std::string encryption;  // "ccenx" or "none"
  std::string schedule;
  std::string agent;
  std::int64_t started_ms = 0;
  std::int64_t ended_ms = 0;
  std::string status;  // "recording", "complete", "interrupted", "failed", "discarded"
  std::int64_t bytes = 0;
  std::int64_t packets = 0;
  std::int64_t retention_days = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recording_info& x) {
  return f(caf::meta::type_name("recording_info"), x.id, x.call_id, x.kind, x.path, x.key_id,
           x.encryption, x.schedule, x.agent, x.started_ms, x.ended_ms, x.status, x.bytes,
           x.packets, x.retention_days);
}

// Database reachability, published by the watchdog on every change.
struct db_state {
  bool up = false;
  std::string reason;  // why it is down
  std::int64_t since_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_state& x) {
  return f(caf::meta::type_name("db_state"), x.up, x.reason, x.since_ms);
}

// ---------------------------------------------------------------------------
// Subscribers (host processes, status): recording state notifications
// ---------------------------------------------------------------------------

struct recording_event {
  std::string recording_id;
  std::string call_id;
  std::string kind;   // "audio" or "screen"
  std::string state;  // "started", "stopped", "failed"
  std::string detail;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recording_event& x) {
  return f(caf::meta::type_name("recording_event"), x.recording_id, x.call_id, x.kind, x.state,
           x.detail);
}

// ---------------------------------------------------------------------------
// transcoder: finished recordings to compressed, encrypted files
// ---------------------------------------------------------------------------

using transcode_atom = caf::atom_constant<caf::atom("transcode")>;  // a recording finished

// From a recording session when its files are final: the policies that
// applied (see actors/encryption_policy.hpp), for the transcoder to note in
// the recording row before it takes the file.
struct recording_done {
  std::string recording_id;
  std::string method;      // "ccenx", "none", "plain_wav"
  std::string xml_policy;  // "off", "plain", "encrypted"
  std::string xml_path;    // relative to the recordings directory, or ""
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recording_done& x) {
  return f(caf::meta::type_name("recording_done"), x.recording_id, x.method, x.xml_policy,
           x.xml_path);
}

// The transcoder's answer to (status_atom).
struct transcoder_status {
  std::int64_t transcoded = 0;     // recordings converted by this run
  std::int64_t failed = 0;         // recordings it gave up on (kept as they were)
  std::int64_t queued = 0;         // finished recordings still waiting, at the last look
  std::int64_t notes_pending = 0;  // policy notes not yet in the database
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transcoder_status& x) {
  return f(caf::meta::type_name("transcoder_status"), x.transcoded, x.failed, x.queued,
           x.notes_pending);
}

// A snapshot for `ccrec status` and tests.
struct engine_status {
  bool db_up = false;
  std::int64_t active_calls = 0;
  std::int64_t active_recordings = 0;
  std::int64_t recordings_started = 0;
  std::int64_t recordings_failed = 0;
  // CTI messages (docs/cti-protocol.md): `received` counts every message,
  // decodable or not; `events` those that decoded into an event; `rejected`
  // those answered ok=false (malformed ones included), so
  // rejected <= received and received - events = malformed.
  std::int64_t cti_events = 0;
  std::int64_t cti_rejected = 0;
  std::int64_t cti_received = 0;
  std::int64_t keys_loaded = 0;
  std::int64_t active_key_id = 0;
  std::int64_t metadata_pending = 0;
  // Database outages (docs/journal.md): why the database is down, since
  // when, and what the metadata journal holds.
  std::string db_reason;
  std::int64_t db_since_ms = 0;
  std::int64_t journal_bytes = 0;
  bool journal_ok = true;
  std::int64_t metadata_written = 0;
  std::int64_t metadata_replayed = 0;
  std::string metadata_error;
  std::int64_t db_stuck_calls = 0;
  media_status media;  // the media receiver's counters
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, engine_status& x) {
  return f(caf::meta::type_name("engine_status"), x.db_up, x.active_calls, x.active_recordings,
           x.recordings_started, x.recordings_failed, x.cti_events, x.cti_rejected, x.cti_received,
           x.keys_loaded, x.active_key_id, x.metadata_pending, x.db_reason, x.db_since_ms,
           x.journal_bytes, x.journal_ok, x.metadata_written, x.metadata_replayed, x.metadata_error,
           x.db_stuck_calls, x.media);
}

// ---------------------------------------------------------------------------
// Database outages: supervised database jobs and the metadata journal
// ---------------------------------------------------------------------------

// Internal (metadata_writer, db_watchdog): a job on a db_worker thread
// ended, or its deadline passed. Both carry the job's id.
using done_atom = caf::atom_constant<caf::atom("done")>;
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;

// The metadata writer's answer to (status_atom).
struct metadata_status {
  std::int64_t pending = 0;        // rows not yet in the database
  std::int64_t journal_bytes = 0;  // size of the journal file
  std::int64_t applied_seq = 0;    // highest journal entry in the database
  std::int64_t last_seq = 0;       // highest journal entry written
  std::int64_t written = 0;        // rows written to the database by this run
  std::int64_t replayed = 0;       // of which a previous run had journaled
  bool journal_ok = true;          // false: journal broken, rows in memory only
  std::string last_error;          // the last failed write, "" once one succeeds
  std::int64_t stuck_calls = 0;    // abandoned database calls not yet returned
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metadata_status& x) {
  return f(caf::meta::type_name("metadata_status"), x.pending, x.journal_bytes, x.applied_seq,
           x.last_seq, x.written, x.replayed, x.journal_ok, x.last_error, x.stuck_calls);
}

// Registers every payload above with an actor system configuration, so that
// they can cross process boundaries (CAF remote actors) and print in logs.
inline void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<leg_address>("ccrec::leg_address");
  cfg.add_message_type<cti_event>("ccrec::cti_event");
  cfg.add_message_type<media_endpoint>("ccrec::media_endpoint");
  cfg.add_message_type<std::vector<media_endpoint>>("std::vector<ccrec::media_endpoint>");
  cfg.add_message_type<cti_reply>("ccrec::cti_reply");
  cfg.add_message_type<file_summary>("ccrec::file_summary");
  cfg.add_message_type<open_media>("ccrec::open_media");
  cfg.add_message_type<leg_stats>("ccrec::leg_stats");
  cfg.add_message_type<media_closed>("ccrec::media_closed");
  cfg.add_message_type<call_info>("ccrec::call_info");
  cfg.add_message_type<recording_info>("ccrec::recording_info");
  cfg.add_message_type<db_state>("ccrec::db_state");
  cfg.add_message_type<recording_event>("ccrec::recording_event");
  cfg.add_message_type<recording_done>("ccrec::recording_done");
  cfg.add_message_type<transcoder_status>("ccrec::transcoder_status");
  cfg.add_message_type<engine_status>("ccrec::engine_status");
  cfg.add_message_type<metadata_status>("ccrec::metadata_status");
  cfg.add_message_type<media_status>("ccrec::media_status");
}

}  // namespace ccrec
