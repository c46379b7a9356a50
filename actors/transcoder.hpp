// transcoder — turns finished recordings into compressed, encrypted files.
//
// A raw recording (the CCRAW record stream, in CCENX or, when encryption
// was off, plain) or a plain WAV from the plain-WAV recording method becomes
// one stereo FLAC stream (caller left, agent right), encrypted as CCENX
// (content compressed_audio) as it is encoded: the compressed plaintext and
// the rendered PCM exist only in memory. Crash-safe order, one recording at
// a time (docs/transcoding.md):
//
//   1. write <final>.tmp in the final directory, seal, fdatasync
//   2. decrypt and decode it again; the PCM digest must equal the encoder's
//   3. rename it to <final>, fsync the directory
//   4. point the row at it (only if the row still names the source), and
//      remember the source in replaced_path
//   5. unlink the source, fsync its directory, clear replaced_path
//
// A kill at any point leaves the source, or a verified compressed file the
// row points at; a rerun redoes steps 1-3 (removing a stale .tmp) or
// finishes step 5. The queue is derived from the database (finished audio
// rows still in form raw or plain_wav), so it survives restarts.
//
// The functions below block on files and the database: call them from a
// thread of their own or from a command-line tool. The actor never blocks:
//
// Owns:      a db_worker (its own session on its own thread, supervised) that
//            runs one job at a time: write the policy notes, finish replaced
//            files, then convert at most one recording; the notes not yet
//            written.
// Takes:     (transcode_atom, recording_done)  queue a policy note
//            (tick_atom)                       internal: look for work
//            (done_atom, id) / (deadline_atom, id)  internal: the job ended /
//                                              its progress check
//            (flush_atom)                      -> int64 notes still pending,
//                                              after one attempt (at stop)
//            (status_atom)                     -> transcoder_status
// Sends:     key requests (active_atom, key_atom) to the key cache.
// Failure:   a job that fails (database away) is retried at the next tick; a
//            job without progress for `timeout` (a frozen database or disk)
//            is abandoned, its thread left to finish or die with the process,
//            so neither this actor nor the engine's stop ever waits on it.
//            Whatever a job was doing is crash-safe (the steps above). A
//            recording that fails (unknown key, damaged source) keeps its
//            file and row, is logged at warning and not retried by this run.
//            With encryption disabled it notes policies and converts nothing.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "actors/keyring.hpp"
#include "common/result.hpp"
#include "crypto/secret.hpp"
#include "storage/database.hpp"

namespace ccrec {

// Frames a one-pass render may hold (16 MiB of PCM, about 8.7 minutes of
// reordering); a stream that needs more is rendered in slices, one pass each.
inline constexpr std::uint64_t default_max_window_frames = std::uint64_t{1} << 22;

// The master keys a run uses: the active one seals new files, `find` opens
// existing ones (nullptr when unknown).
struct transcode_keys {
  std::int64_t active_id = 0;
  std::shared_ptr<const crypto::secret_bytes> active;
  std::function<std::shared_ptr<const crypto::secret_bytes>(std::int64_t)> find;
};

transcode_keys keys_from_keyring(const keyring& ring);

// The steps above, in order; a test hook may stop the process after any.
enum class transcode_step {
  output_sealed = 1,
  output_verified,
  output_renamed,
  row_updated,
  source_removed
};
inline constexpr int transcode_step_count = 5;

struct transcode_options {
  std::string recordings_dir;
  std::uint64_t max_window_frames = default_max_window_frames;
  // Called after each step (tests inject crashes here).
  std::function<void(const std::string& recording_id, transcode_step)> after_step;
  // Bumped after each step and each block of audio, for a supervisor that
  // tells slow work from a hung disk or database (db_worker's steps).
  std::atomic<std::uint64_t>* heartbeat = nullptr;
};

struct transcode_outcome {
  std::string recording_id;
  std::string source_path;  // relative to the recordings directory
  std::string source_form;
  std::string output_path;
  std::uint64_t frames = 0;
  std::int64_t source_bytes = 0;
  std::int64_t output_bytes = 0;
  std::uint64_t render_passes = 0;  // stream passes after the scan
  double cpu_seconds = 0;           // encoding and verification, both threads
};

// Converts one recording (a row from recordings_to_transcode()). Fails with
// "encryption_disabled" (no active key), "unknown_key", "source_missing",
// "source_damaged", "not_plain_wav", "verify_failed", "row_changed", or an
// I/O or database error; the source and its row are then left as they were.
result<transcode_outcome> transcode_recording(storage::database& db,
                                              const storage::recording_row& row,
                                              const transcode_keys& keys,
                                              const transcode_options& opts);

// Finishes step 5 for rows a crash left with replaced_path set; returns how
// many files it removed.
result<std::size_t> remove_replaced_files(storage::database& db, const std::string& recordings_dir);

struct backlog_result {
  std::vector<transcode_outcome> done;
  std::vector<std::pair<std::string, error>> failed;  // recording id, why
  std::size_t replaced_removed = 0;
};

// remove_replaced_files, then every recording waiting, oldest first.
// `progress(done, total)` is called after each.
result<backlog_result> transcode_backlog(
    storage::database& db, const transcode_keys& keys, const transcode_options& opts,
    const std::function<void(std::size_t, std::size_t)>& progress = {});

// "<day>/<id>.flac.ccenx": where a recording's compressed file goes.
std::string compressed_relative_path(const storage::recording_row& row);

// Decrypts and decodes a compressed file completely; returns the frames it
// holds. Fails with the CCENX reader's code, or "codec_*".
result<std::uint64_t> check_compressed(const std::string& path, const transcode_keys& keys);

// --- the engine's actor ------------------------------------------------------

struct transcoder_args {
  std::string db_uri;
  std::string recordings_dir;
  bool encrypt = true;
  caf::actor key_cache;                     // the active key, asked before each job
  std::shared_ptr<const keyring> ring;      // keys to read existing files with
  std::chrono::milliseconds timeout{3000};  // a job that shows no progress this long is abandoned
  std::int64_t interval_ms = 5000;          // how often to look for work when idle
  std::int64_t delay_ms = 0;                // a recording waits this long after it ended
  std::uint64_t max_window_frames = default_max_window_frames;
  // Set by the engine when it stops: the actor finishes the recording in
  // hand and takes no other.
  std::shared_ptr<std::atomic<bool>> stop = std::make_shared<std::atomic<bool>>(false);
};

caf::behavior transcoder(caf::event_based_actor* self, transcoder_args args);

}  // namespace ccrec
