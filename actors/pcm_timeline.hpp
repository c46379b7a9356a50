// pcm_timeline: a raw record stream rendered to stereo PCM in time order,
// in bounded memory, sample for sample what `ccrec play` writes.
//
// Records in a raw stream come in arrival order and are placed by offset
// (docs/raw-format.md): a record may land before audio already seen, and
// where two overlap on one leg the later one wins. To emit PCM front to back
// without holding the whole call, the transcoder reads the stream twice:
//
// 1. timeline_scanner: the length of the timeline and the *window*, the
//    largest distance between the furthest end seen so far and the start of
//    a later record. A renderer holding that many frames never has to change
//    frames it already emitted.
// 2. ordered_renderer over [first, last): places records into a ring of
//    window frames (guarded memory) and emits frames once no later record
//    can touch them. When the window would exceed the caller's memory bound
//    (a pathological stream), the caller renders the timeline in several
//    slices, one stream pass each; the result is the same.
//
// Pure computation; one object per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "actors/audio_codec.hpp"
#include "crypto/secret.hpp"
#include "media/raw_format.hpp"

namespace ccrec::audio {

struct timeline_scan {
  std::uint64_t frames = 0;  // stereo frames, as `ccrec play` renders them
  std::uint64_t window = 0;  // frames a one-pass ordered render must hold
  std::uint64_t audio_records = 0;
  std::uint64_t leg_samples[2] = {0, 0};
  std::string metadata_json;  // the stream's first metadata record
};

class timeline_scanner {
 public:
  void add(const media::raw_record& rec);
  const timeline_scan& scan() const { return scan_; }

 private:
  timeline_scan scan_;
  bool have_metadata_ = false;
};

class ordered_renderer {
 public:
  // Renders frames [first, last) to `out`, holding `window` frames plus one
  // emission block. For one pass over the whole timeline, `window` must be at
  // least timeline_scan::window; a slice [first, last) needs
  // window >= last - first.
  ordered_renderer(std::uint64_t first, std::uint64_t last, std::uint64_t window, pcm_out out);

  // Places the part of `rec` inside [first, last). Errors (the sink's, or
  // "render_window" if a record reaches behind emitted audio, meaning the
  // window was too small) are kept and returned by finish().
  void add(const media::raw_record& rec);
  // Emits every frame up to `last`.
  result<void> finish();

 private:
  result<void> emit_until(std::uint64_t frame);
  void place(const media::raw_record& rec);

  std::uint64_t first_;
  std::uint64_t last_;
  std::uint64_t capacity_;  // frames in the ring
  std::uint64_t base_;      // first frame not yet emitted
  pcm_out out_;
  crypto::secret_bytes ring_;  // capacity_ stereo frames, 16-bit
  std::optional<error> failure_;
};

// True when the record is audio that `ccrec play` places (legs 0 and 1).
bool is_placed_audio(const media::raw_record& rec);

}  // namespace ccrec::audio
