#include "actors/pcm_timeline.hpp"

#include <algorithm>
#include <cstring>

#include <sodium.h>

#include "media/g711.hpp"

namespace ccrec::audio {

namespace {

constexpr std::size_t leg_count = 2;
// Frames emitted at once at least: keeps the encoder fed in sizeable blocks.
constexpr std::uint64_t emit_block_frames = 8192;
constexpr std::size_t bytes_per_frame = leg_count * sizeof(std::int16_t);

}  // namespace

bool is_placed_audio(const media::raw_record& rec) {
  return rec.type == media::record_type::audio && rec.leg < leg_count;
}

void timeline_scanner::add(const media::raw_record& rec) {
  if (rec.type == media::record_type::metadata) {
    if (!have_metadata_)
      scan_.metadata_json.assign(rec.payload.begin(), rec.payload.end());
    have_metadata_ = true;
    return;
  }
  if (!is_placed_audio(rec))
    return;

  // Playback counts an empty record's offset into the length too.
  const std::uint64_t end = rec.offset + rec.payload.size();
  scan_.frames = std::max(scan_.frames, end);
  ++scan_.audio_records;
  scan_.leg_samples[rec.leg] += rec.payload.size();
  if (!rec.payload.empty())
    scan_.window = std::max(scan_.window, scan_.frames - rec.offset);
}

ordered_renderer::ordered_renderer(std::uint64_t first, std::uint64_t last, std::uint64_t window,
                                   pcm_out out)
    : first_(first),
      last_(last),
      capacity_(window + emit_block_frames),
      base_(first),
      out_(std::move(out)),
      ring_(static_cast<std::size_t>(capacity_) * bytes_per_frame) {}

void ordered_renderer::add(const media::raw_record& rec) {
  if (failure_ || !is_placed_audio(rec) || rec.payload.empty())
    return;
  place(rec);
}

void ordered_renderer::place(const media::raw_record& rec) {
  const std::uint64_t start = std::max(rec.offset, first_);
  const std::uint64_t end = std::min(rec.offset + rec.payload.size(), last_);
  if (start >= end)
    return;
  if (start < base_) {
    failure_ = make_error("render_window", "an audio record at frame " + std::to_string(start) +
                                               " reaches behind audio already emitted (frame " +
                                               std::to_string(base_) + ")");
    return;
  }

  // Frames more than a window behind the furthest end are final: no later
  // record can reach them (that is what the scan measured).
  if (end > base_ + capacity_) {
    if (auto ok = emit_until(end - (capacity_ - emit_block_frames)); !ok) {
      failure_ = ok.error();
      return;
    }
  }

  auto* ring = reinterpret_cast<std::int16_t*>(ring_.data());
  for (std::uint64_t frame = start; frame < end; ++frame) {
    const std::uint64_t slot = frame % capacity_;
    ring[slot * leg_count + rec.leg] =
        media::g711_to_linear(rec.payload_type, rec.payload[frame - rec.offset]);
  }
}

result<void> ordered_renderer::emit_until(std::uint64_t frame) {
  auto* ring = reinterpret_cast<std::int16_t*>(ring_.data());
  while (base_ < frame) {
    const std::uint64_t slot = base_ % capacity_;
    const std::uint64_t n = std::min(frame - base_, capacity_ - slot);
    if (auto ok = out_(ring + slot * leg_count, static_cast<std::size_t>(n)); !ok)
      return ok;
    // Emitted frames become silence again for whatever lands there next.
    sodium_memzero(ring + slot * leg_count, static_cast<std::size_t>(n) * bytes_per_frame);
    base_ += n;
  }
  return {};
}

result<void> ordered_renderer::finish() {
  if (failure_)
    return *failure_;
  return emit_until(last_);
}

}  // namespace ccrec::audio
