// journal: a local, append-only, crash-safe log of metadata writes, so that
// no call or recording row is lost while the database is away, nor when the
// engine is killed before the rows reached it.
//
// The metadata writer writes every row here first (write-ahead), then to the
// database; after each successful database write it records the highest
// sequence number applied. On start, the entries above that number are
// replayed in order. The format is in docs/journal.md: a header, then
// entries each length-prefixed, sequence-numbered and CRC32-checked; a torn
// last entry (a crash mid-write) fails its check and is dropped with a
// warning. Entries are opaque bytes here; what they mean is the writer's.
//
// Two files in one directory: metadata.jnl (the log) and metadata.applied
// (the highest sequence known to be in the database, rewritten in place).
// append() and mark_applied() return only after fdatasync, so an entry that
// was accepted survives a crash or SIGKILL.
//
// Not thread-safe: one journal object, used from one thread (the metadata
// writer's). Every call may block on the local disk; keep it off the media
// path. After a failed write or sync the journal refuses further appends
// ("journal_broken") rather than pretend: data after a hole would be lost at
// the next scan anyway.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace ccrec::storage {

// Largest entry payload accepted; a metadata row is a few hundred bytes.
inline constexpr std::size_t journal_max_entry_bytes = 1024 * 1024;
inline constexpr std::size_t journal_header_bytes = 20;
inline constexpr std::size_t journal_entry_overhead = 16;  // length, seq, crc
inline constexpr char journal_file_name[] = "metadata.jnl";
inline constexpr char journal_applied_file_name[] = "metadata.applied";

// CRC-32 (IEEE 802.3, reflected, as zlib computes it) of `size` bytes,
// continuing from `crc` (0 to start).
std::uint32_t crc32(const std::uint8_t* data, std::size_t size, std::uint32_t crc = 0);

struct journal_entry {
  std::uint64_t seq = 0;
  std::string payload;
};

// What open() found on disk.
struct journal_recovery {
  std::vector<journal_entry> pending;  // not yet applied, in sequence order
  std::uint64_t applied = 0;           // highest sequence in the database
  std::uint64_t entries = 0;           // valid entries in the file
  std::uint64_t dropped_bytes = 0;     // cut off after the last valid entry
  bool torn = false;                   // a torn tail was dropped
  bool damaged = false;                // invalid data before the end; copy kept
  std::string damaged_copy;            // where that copy is, when damaged
  std::string warning;                 // for the log, when torn or damaged
};

class journal {
 public:
  // Opens (creating when missing) the journal in `dir`, which is created
  // mode 0700. Scans every entry, truncates a torn tail, and reports what
  // is still to be applied. Fails with "journal_io" (cannot create, read,
  // write), or "journal_corrupt" (the file's header is not a journal's:
  // nothing is changed, an operator must look).
  static result<std::unique_ptr<journal>> open(const std::string& dir, journal_recovery* recovery);
  ~journal();
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  // Appends `payloads` as consecutive entries with one write and one
  // fdatasync; returns the sequence of the first. Accepted only when it
  // returns success. Fails with "journal_entry_too_large" (nothing written),
  // "journal_broken" (an earlier failure), or "journal_io" (this write
  // failed: the file is cut back to where it was, or the journal is broken
  // if even that fails).
  result<std::uint64_t> append(const std::vector<std::string>& payloads);

  // Records that every entry up to `seq` is in the database (fdatasync'd).
  // Sequences only move forward: a lower one is ignored. Fails with
  // "journal_bad_seq" beyond the last entry, or "journal_io".
  result<void> mark_applied(std::uint64_t seq);

  // Rewrites the log empty once every entry is applied (a new file renamed
  // over the old one, so a crash leaves either). Fails with
  // "journal_not_applied" while entries wait, or "journal_io".
  result<void> compact();

  std::uint64_t applied() const { return applied_; }
  std::uint64_t last_seq() const { return next_seq_ - 1; }
  // Entries written but not yet applied.
  std::uint64_t depth() const { return unapplied_seqs_.size(); }
  std::uint64_t file_bytes() const { return file_bytes_; }
  const std::string& dir() const { return dir_; }
  bool broken() const { return broken_; }

 private:
  journal() = default;
  result<void> create_empty(std::uint64_t base_seq);
  result<std::vector<journal_entry>> scan(journal_recovery& out);
  result<void> load_applied();
  result<void> open_for_append();

  std::string dir_;
  std::string path_;
  std::string applied_path_;
  int fd_ = -1;
  int applied_fd_ = -1;
  std::uint64_t base_seq_ = 1;
  std::uint64_t next_seq_ = 1;
  std::uint64_t applied_ = 0;
  std::uint64_t file_bytes_ = 0;
  bool broken_ = false;
  std::deque<std::uint64_t> unapplied_seqs_;  // ascending
};

}  // namespace ccrec::storage
