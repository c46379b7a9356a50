// plain_wav_writer — the plain-WAV recording method (exception 1 of
// actors/encryption_policy.hpp): one call's audio written in the clear as a
// 16-bit stereo 8 kHz WAV while the call runs, as a third-party PBX library
// would write it. It stands in for that library so the rest of the engine
// (the transcoder that encrypts it later, the reports that list it) can be
// built and tested; it is used only when the policy says so.
//
// Owns:      the open WAV file (created exclusively, mode 0600, in the
//            plaintext spool) and one cached block of frames.
// Takes:     (write_atom, write_batch)  raw-stream bytes: records are decoded
//                                       and their G.711 placed at their offset
//                                       (caller left, agent right)
//            (flush_atom)               write the cached block and the header
//                                       (also on a timer), so a crash leaves
//                                       a WAV the transcoder can read
//            (finish_atom)              -> file_summary; flushes, syncs, ends
// Sends:     nothing unasked.
// Failure:   the first error is logged once at warning with the path; later
//            batches are dropped; finish answers status "failed".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "messages/messages.hpp"

namespace ccrec {

struct plain_wav_writer_args {
  std::string path;                    // absolute; created exclusively, mode 0600
  std::vector<std::uint8_t> preamble;  // the raw stream's magic and metadata record
  std::int64_t flush_interval_ms = 1000;
};

caf::behavior plain_wav_writer(caf::event_based_actor* self, plain_wav_writer_args args);

}  // namespace ccrec
