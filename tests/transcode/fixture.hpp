// fixture: what the transcoding tests share — a data directory with a real
// SQLite database and a real keyring (test KDF), raw record streams built
// from the real captures or synthesised with a fixed seed, files written the
// way the engine writes them, and readers for what comes out.
//
// Test-thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "actors/keyring.hpp"
#include "actors/transcoder.hpp"
#include "crypto/ccenx.hpp"
#include "storage/database.hpp"
#include "tests/support/temp_dir.hpp"

namespace ccrec::test {

inline constexpr char transcode_test_secret[] = "ccrec transcode test secret";

// A data dir (recordings/ and ccrec.db) with a migrated database and one
// active master key.
class data_fixture {
 public:
  data_fixture();
  const std::string& data_dir() const { return data_dir_; }
  std::string recordings_dir() const { return data_dir_ + "/recordings"; }
  std::string db_uri() const { return "sqlite:" + data_dir_ + "/ccrec.db"; }
  storage::database& db() { return *db_; }
  const keyring& ring() const { return ring_; }
  transcode_keys keys() const { return keys_from_keyring(ring_); }
  std::string abs(const std::string& relative) const { return recordings_dir() + "/" + relative; }

  // Writes `stream` as a recording file at `relative` (CCENX raw_call_audio
  // when `encrypted`, else plain) and its row: finished with `status`.
  storage::recording_row add_raw(const std::string& id, const std::vector<std::uint8_t>& stream,
                                 bool encrypted = true, const std::string& status = "complete");
  // A plain 16-bit stereo WAV in the plaintext spool, as the plain-WAV
  // method leaves it, and its row.
  storage::recording_row add_plain_wav(const std::string& id,
                                       const std::vector<std::int16_t>& interleaved,
                                       const std::string& status = "complete");

 private:
  temp_dir dir_;
  std::string data_dir_;
  std::unique_ptr<storage::database> db_;
  keyring ring_;
};

// The secret as the keyring takes it.
std::shared_ptr<crypto::secret_bytes> transcode_secret();

// A raw record stream (magic, metadata, audio records) from a real capture
// (file name under testdata/pcap), tracked as the engine's leg trackers do;
// `repeat` > 1 repeats the call back to back on the timeline.
std::vector<std::uint8_t> stream_from_capture(const std::string& pcap_name, int repeat = 1);

// A synthetic stream: two legs of speech-like tones and noise in 20 ms
// records, shuffled within `reorder` records, with overlaps and a gap.
std::vector<std::uint8_t> synthetic_stream(std::uint64_t seed, int seconds, int reorder);

// Writes `bytes` as a CCENX file (exclusive create) under `key_id`.
void write_ccenx(const std::string& path, const std::vector<std::uint8_t>& bytes,
                 const keyring& ring, crypto::ccenx_content content);
void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes);
std::vector<std::uint8_t> read_file(const std::string& path);

// Plays `path` with ccrec's playback to a WAV and returns its bytes.
std::vector<std::uint8_t> play_bytes(const std::string& path, const keyring& ring,
                                     const std::string& scratch_dir);

// Regular files under `dir`, relative, sorted.
std::vector<std::string> list_files(const std::string& dir);

}  // namespace ccrec::test
