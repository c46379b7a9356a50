// Rendering a raw record stream to a two-channel PCM WAV file.
//
// Leg 0 goes to the left channel, leg 1 to the right; each G.711 sample is
// decoded and placed at its record's offset; samples no record covers are
// silence (0). Records may come in any order. The WAV is 16-bit, 8 kHz,
// stereo; streams longer than a plain WAV can describe fail cleanly.
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
  void add(const raw_record& rec);
  result<render_stats> finish();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ccrec::media
