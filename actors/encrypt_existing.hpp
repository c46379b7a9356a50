// encrypt_existing: encrypts, in place, recordings written before
// encryption was enabled (`ccrec encrypt-existing DIR`).
//
// For each plain recording under DIR (a raw record stream or a WAV; files
// that are neither are left alone, files already CCENX are skipped):
//
//   1. encrypt it into "<file>.ccenx-tmp" beside it (created exclusively,
//      mode 0600), hashing the plaintext; seal and fdatasync
//   2. decrypt the new file; its plaintext must hash to the same value
//   3. check the original did not change meanwhile, rename(2) the new file
//      over it, fsync the directory
//   4. point the rows that name the file at what it is now (encryption,
//      key, size, form)
//
// A kill at any point leaves the original or its verified encrypted copy
// under the original name, never neither. A rerun removes leftover
// ".ccenx-tmp" files (they are ours: they start with CCENX), encrypts what
// is still plain, and brings the rows of files already encrypted up to
// date, so it finishes what an interrupted run began.
//
// Blocks on files and the database: call it from a command-line tool or a
// thread of its own.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "actors/transcoder.hpp"
#include "common/result.hpp"
#include "storage/database.hpp"

namespace ccrec {

inline constexpr const char* encrypt_temp_suffix = ".ccenx-tmp";

enum class encrypt_step { sealed = 1, verified, renamed, rows_updated };
inline constexpr int encrypt_step_count = 4;

struct encrypt_existing_options {
  std::string dir;             // walked recursively; symlinks are not followed
  std::string recordings_dir;  // rows' paths are relative to it; "" = no rows
  bool dry_run = false;        // list what would be done, change nothing
  // Called after each step of each file (tests inject crashes here).
  std::function<void(const std::string& path, encrypt_step)> after_step;
  // Called after each file: files done, files to do, bytes done, bytes to do.
  std::function<void(std::size_t, std::size_t, std::uint64_t, std::uint64_t)> progress;
};

struct encrypt_existing_summary {
  std::size_t encrypted = 0;          // files encrypted by this run
  std::size_t already_encrypted = 0;  // files that were CCENX already
  std::size_t not_recordings = 0;     // neither raw stream nor WAV: left alone
  std::size_t leftovers_removed = 0;  // temp files of an interrupted run
  std::size_t rows_updated = 0;
  std::uint64_t bytes = 0;           // plaintext bytes encrypted
  std::vector<std::string> planned;  // dry run: the files it would encrypt
  std::vector<std::pair<std::string, error>> failed;
};

// Fails (as a whole) with "encryption_disabled" without an active key, or
// "io" when `opts.dir` cannot be walked; a file that fails is listed in
// `failed` and left as it was. `db` may be null (no rows to update).
result<encrypt_existing_summary> encrypt_existing(storage::database* db, const transcode_keys& keys,
                                                  const encrypt_existing_options& opts);

}  // namespace ccrec
