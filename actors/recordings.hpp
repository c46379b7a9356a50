// Offline operations on recordings, for `ccrec verify`, `ccrec play` and
// `ccrec recordings`, and for hosts that embed the engine.
//
// No actors: these read files and the database directly on the calling
// thread. Decrypted plaintext exists only in memory on its way to the WAV
// file the caller asked for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "actors/keyring.hpp"
#include "common/result.hpp"
#include "crypto/ccenx.hpp"
#include "media/playback.hpp"
#include "storage/database.hpp"

namespace ccrec {

struct verify_result {
  std::string path;
  crypto::ccenx_report report;
  bool raw_ok = true;     // the decrypted record stream parsed
  std::string raw_error;  // why not
  std::uint64_t records = 0;
  // When the database says this file was complete yet it lacks its final
  // chunk, it was cut short after the fact, not interrupted by a crash.
  std::string db_status;
  // "not found" or "not a file": there was nothing to verify.
  std::string unreadable;

  bool ok() const;
  std::string describe() const;  // one line for people
};

// Verifies every chunk of `path`, and the record stream inside.
verify_result verify_recording(const std::string& path, const keyring& ring,
                               const std::string& db_status = "");

struct play_result {
  media::render_stats stats;
  crypto::ccenx_report report;
};

// Decrypts (or reads, if written plain) `path` and renders it to `wav_out`.
// Fails with "encryption_disabled" when the file is CCENX and `ring` has no
// keys, saying that encryption must be enabled again to play it.
result<play_result> play_recording(const std::string& path, const keyring& ring,
                                   const std::string& wav_out);

}  // namespace ccrec
