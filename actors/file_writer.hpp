// file_writer — one recording file, encrypted as it is written.
//
// Owns:      the open file and, when encrypting, its CCENX writer (per-file
//            data key wrapped under the granted master key, chunks of
//            chunk_size plaintext bytes).
// Takes:     (write_atom, write_batch)  append raw-stream bytes; seals what is
//                                        buffered once its oldest byte is
//                                        flush_interval_ms old
//            (flush_atom)               seal what is buffered now (the media
//                                        receiver sends it when media stops)
//            (finish_atom)              -> file_summary; seals the final chunk,
//                                        syncs, and ends the actor
//            (event_atom, file_summary) internal: the sync pool is done
// Sends:     nothing unasked.
// Failure:   the first write or sync error is logged once at warning with the
//            path and counted; later batches are dropped and counted; finish
//            answers status "failed" with the reason. A writer never reopens
//            a file: a CCENX stream cannot be appended to safely.
//
// No timer per writer: thousands of writers each waking once a second cost
// more than the writing. Batches arrive every few hundred milliseconds
// while media flows, and the receiver says when it stops.
//
// The last seal and the fdatasync of finish run on a small process-wide
// pool of threads, never on the scheduler's workers: a sync can take tens
// of milliseconds, and the workers also answer the PBX.
//
// Plaintext media reaches it only in memory; with encryption on, only
// ciphertext reaches the disk. With encryption off (an explicit policy), the
// raw stream is written as is and the summary says so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "crypto/ccenx.hpp"
#include "messages/messages.hpp"

namespace ccrec {

// Plaintext per sealed chunk of a live recording. A writer's chunk buffer
// (plaintext plus 21 bytes of framing and tag, in its own mapping) is most
// of what a call costs in memory: sized to fill three 4 KiB pages exactly,
// where 16 KiB of plaintext would spill 21 bytes into a fifth. A G.711 call
// fills it in under a second, about as often as flush_interval_ms seals.
inline constexpr std::size_t live_chunk_pages = 3;
inline constexpr std::size_t page_bytes = 4096;
inline constexpr std::uint32_t live_chunk_bytes =
    static_cast<std::uint32_t>(live_chunk_pages * page_bytes - crypto::ccenx_chunk_overhead);

struct file_writer_args {
  std::string path;  // absolute; created exclusively, mode 0600
  bool encrypt = true;
  key_grant grant;  // master key when encrypting
  crypto::ccenx_content content = crypto::ccenx_content::raw_call_audio;
  std::vector<std::uint8_t> preamble;  // written first (stream magic, metadata)
  std::int64_t flush_interval_ms = 1000;
  std::uint32_t chunk_size = live_chunk_bytes;
};

// Opens the file at spawn; if that fails the actor answers every finish with
// status "failed" and the reason, so the session records the failure.
caf::behavior file_writer(caf::event_based_actor* self, file_writer_args args);

}  // namespace ccrec
