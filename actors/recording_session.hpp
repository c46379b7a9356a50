// recording_session — one recorded call, from its first packet to its last
// byte on disk.
//
// Owns:      the call's recording ids, its file writers (audio, and screen
//            when the schedule asks), and the recording rows' state.
// Takes:     (open_atom)                 -> vector<media_endpoint>; grants a
//                                           key, opens files, opens media
//            (stop_atom, string reason)  -> string final status; closes
//                                           media, finishes files, writes
//                                           metadata, then ends the actor
//            (pause_atom) / (resume_atom)   on-demand pause and resume
//            (tick_atom)                 internal: the maximum length is reached
// Sends:     (upsert_atom, recording_info) to the metadata writer;
//            (event_atom, recording_event) to `notify` on start, stop, failure.
// Failure:   any step of opening fails -> the open request gets the error,
//            the recording row is marked "failed" with the reason, and the
//            actor ends. A stop that arrives while opening waits for the
//            open to finish, then stops: quick start/stop never orphans
//            a file.
//
//   (new) --open--> opening --ok--> recording --stop--> stopping --> (end)
//                      |                                   ^
//                      +--stop arrives: remembered---------+
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/encryption_policy.hpp"
#include "messages/messages.hpp"

namespace ccrec {

struct session_args {
  call_info call;
  std::string recording_id;
  std::string schedule;
  bool screen = false;
  std::int64_t min_seconds = 0;
  std::int64_t max_seconds = 0;
  std::int64_t retention_days = 0;
  std::string recordings_dir;  // absolute or relative to the working dir
  bool encrypt = true;
  std::int64_t flush_interval_ms = 1000;
  std::vector<std::string> legs = {"caller", "agent"};
  caf::actor key_cache;
  caf::actor media_receiver;
  caf::actor metadata_writer;
  caf::actor notify;  // the call manager
  // How each artefact is written (encryption_policy): the plain-WAV method
  // and the call-metadata XML; the PBX integration the call came from.
  artefact_plan plan;
  std::string pbx;
  caf::actor transcoder;  // told (recording_done) when the files are final
};

caf::behavior recording_session(caf::event_based_actor* self, session_args args);

// "recordings/2026/12/04/<id>.ccenx": where a recording's file lives,
// relative to the recordings directory.
std::string recording_relative_path(const std::string& recording_id, std::int64_t started_ms,
                                    const std::string& kind, bool encrypted);

}  // namespace ccrec
