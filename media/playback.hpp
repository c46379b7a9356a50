// Rendering a raw record stream to a two-channel PCM WAV file.
//
// Leg 0 goes to the left channel, leg 1 to the right; each G.711 sample is
// decoded and placed at its record's offset; samples no record covers are
// silence (0). Records may come in any order; where two overlap on one leg
// the one added later wins. The WAV is 16-bit, 8 kHz, stereo, with the
// canonical 44-byte header; streams longer than a plain WAV can describe
// fail cleanly. Placement is described in docs/raw-format.md.
//
// Samples go straight into a temporary file beside `out_path` (positioned
// writes through one 64 KiB cache block), so memory stays small however long
// the call; finish() syncs and renames it into place, or removes it.
// One thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "media/raw_format.hpp"

namespace ccrec::media {

struct render_stats {
  std::uint64_t frames = 0;  // stereo sample frames in the WAV
  std::uint64_t audio_records = 0;
  std::uint64_t leg_samples[2] = {0, 0};  // samples decoded per leg
  std::string metadata_json;              // the stream's metadata record
};

// Accepts records, then writes the WAV on finish().
class wav_renderer {
 public:
  explicit wav_renderer(std::string out_path);
  ~wav_renderer();
  // Places one record. Errors (a stream too long for WAV, a failed write)
  // are kept and reported by finish(); later records are then ignored.
  void add(const raw_record& rec);
  // Writes the header and moves the file into place. Fails with
  // "wav_too_long", "wav_io_failed" (naming the path and errno text) or
  // "wav_finished" on a second call.
  result<render_stats> finish();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ccrec::media
