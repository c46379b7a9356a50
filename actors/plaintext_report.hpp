// plaintext_report: every recording file still on disk in the clear, with
// its age, for `ccrec report plaintext` (and for `ccrec status`, which may
// call list_plaintext() directly).
//
// What it lists (docs/transcoding.md):
// - "recording": a plain-WAV recording whose call is still running;
// - "pending": a finished plain-WAV recording waiting for the transcoder;
// - "replaced": converted already, the plaintext source not yet removed
//   (a crash between the database update and the unlink);
// - "unencrypted": a raw recording written while encryption was disabled;
// - "orphan": a file in the plaintext spool that no row names.
//
// Reads the database and the file system on the calling thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "storage/database.hpp"

namespace ccrec {

struct plaintext_item {
  std::string path;              // relative to the recordings directory
  std::string recording_id;      // "" for an orphan
  std::string state;             // recording, pending, replaced, unencrypted, orphan
  std::string method;            // the recording method that applied
  std::int64_t since_ms = 0;     // plaintext on disk since (recording start, or mtime)
  std::int64_t age_seconds = 0;  // now - since_ms
  std::int64_t bytes = 0;        // on disk now; -1 when the file is missing
};

struct plaintext_listing {
  std::vector<plaintext_item> items;  // oldest first
  std::int64_t oldest_age_seconds = 0;
  std::int64_t total_bytes = 0;
};

// Fails only when the database cannot be read.
result<plaintext_listing> list_plaintext(storage::database& db, const std::string& recordings_dir,
                                         std::int64_t now_ms);

// "3d 04h", "2h 05m", "42s": an age for people.
std::string format_age(std::int64_t seconds);

}  // namespace ccrec
