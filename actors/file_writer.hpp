// file_writer — one recording file, encrypted as it is written.
//
// Owns:      the open file and, when encrypting, its CCENX writer (per-file
//            data key wrapped under the granted master key).
// Takes:     (write_atom, write_batch)  append raw-stream bytes
//            (flush_atom)               seal what is buffered (also on a timer)
//            (finish_atom)              -> file_summary; seals the final chunk,
//                                        syncs, and ends the actor
// Sends:     nothing unasked.
// Failure:   the first write or sync error is logged once at warning with the
//            path and counted; later batches are dropped and counted; finish
//            answers status "failed" with the reason. A writer never reopens
//            a file: a CCENX stream cannot be appended to safely.
//
// Plaintext media reaches it only in memory; with encryption on, only
// ciphertext reaches the disk. With encryption off (an explicit policy), the
// raw stream is written as is and the summary says so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "crypto/ccenx.hpp"
#include "messages/messages.hpp"

namespace ccrec {

struct file_writer_args {
  std::string path;                 // absolute; created exclusively, mode 0600
  bool encrypt = true;
  key_grant grant;                  // master key when encrypting
  crypto::ccenx_content content = crypto::ccenx_content::raw_call_audio;
  std::vector<std::uint8_t> preamble;  // written first (stream magic, metadata)
  std::int64_t flush_interval_ms = 1000;
};

// Opens the file at spawn; if that fails the actor answers every finish with
// status "failed" and the reason, so the session records the failure.
caf::behavior file_writer(caf::event_based_actor* self, file_writer_args args);

}  // namespace ccrec
