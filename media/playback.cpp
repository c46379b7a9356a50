#include "media/playback.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "media/g711.hpp"
#include "media/rtp.hpp"

namespace ccrec::media {
namespace {

constexpr std::size_t wav_header_bytes = 44;
constexpr std::uint16_t wav_channels = 2;
constexpr std::uint16_t wav_bits = 16;
constexpr std::uint16_t wav_format_pcm = 1;
constexpr std::uint32_t wav_fmt_chunk_bytes = 16;
constexpr std::uint32_t bytes_per_sample = wav_bits / 8;
constexpr std::uint32_t bytes_per_frame = wav_channels * bytes_per_sample;
// RIFF size = everything after the 8-byte RIFF chunk header: 36 + data.
constexpr std::uint64_t riff_size_overhead = wav_header_bytes - 8;
constexpr std::uint64_t max_riff_size = 0xFFFFFFFFull;
constexpr std::uint64_t max_wav_frames = (max_riff_size - riff_size_overhead) / bytes_per_frame;
// One cached block of interleaved frames, about 2 s: both legs arrive close
// together in time, so nearly every record lands in the cached block.
constexpr std::uint64_t block_frames = 16384;
constexpr std::size_t block_bytes = block_frames * bytes_per_frame;
constexpr std::size_t leg_count = 2;

void put_u16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}

void put_u32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

void wav_header(std::uint8_t* h, std::uint64_t frames) {
  const auto data_bytes = static_cast<std::uint32_t>(frames * bytes_per_frame);
  std::memcpy(h, "RIFF", 4);
  put_u32(h + 4, static_cast<std::uint32_t>(riff_size_overhead + data_bytes));
  std::memcpy(h + 8, "WAVE", 4);
  std::memcpy(h + 12, "fmt ", 4);
  put_u32(h + 16, wav_fmt_chunk_bytes);
  put_u16(h + 20, wav_format_pcm);
  put_u16(h + 22, wav_channels);
  put_u32(h + 24, g711_rate);
  put_u32(h + 28, g711_rate * bytes_per_frame);
  put_u16(h + 32, bytes_per_frame);
  put_u16(h + 34, wav_bits);
  std::memcpy(h + 36, "data", 4);
  put_u32(h + 40, data_bytes);
}

error io_error(const std::string& what, const std::string& path) {
  return make_error("wav_io_failed", what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

struct wav_renderer::impl {
  explicit impl(std::string out) : out_path_(std::move(out)) {}
  ~impl();

  void add(const raw_record& rec);
  result<render_stats> finish();

 private:
  result<void> open_temp();
  result<void> load_block(std::uint64_t index);
  result<void> flush_block();
  result<void> write_at(const std::uint8_t* data, std::size_t size, std::uint64_t pos);
  result<void> place(const raw_record& rec);
  void discard_temp();

  std::string out_path_;
  std::string tmp_path_;
  int fd_ = -1;
  bool finished_ = false;
  bool have_metadata_ = false;
  std::optional<error> failure_;  // first failure; add() cannot return it
  render_stats stats_;

  // Write-back cache of one block; the rest of the audio lives in the file.
  std::vector<std::uint8_t> block_;
  bool block_valid_ = false;
  bool block_dirty_ = false;
  std::uint64_t block_index_ = 0;
  std::uint64_t file_frames_ = 0;  // frames the file already holds
};

wav_renderer::impl::~impl() {
  discard_temp();
}

void wav_renderer::impl::add(const raw_record& rec) {
  if (failure_ || finished_)
    return;
  if (rec.type == record_type::metadata) {
    // The first metadata record describes the call; a repeat is ignored.
    if (have_metadata_)
      return;
    have_metadata_ = true;
    stats_.metadata_json.assign(rec.payload.begin(), rec.payload.end());
    return;
  }
  // Screen frames and markers have no sound; a leg beyond the two channels
  // has nowhere to go.
  if (rec.type != record_type::audio || rec.leg >= leg_count)
    return;

  auto r = place(rec);
  if (!r.ok())
    failure_ = r.error();
}

result<void> wav_renderer::impl::place(const raw_record& rec) {
  const std::uint64_t n = rec.payload.size();
  if (rec.offset > max_wav_frames || n > max_wav_frames - rec.offset) {
    return make_error("wav_too_long", "audio record at sample " + std::to_string(rec.offset) +
                                          " ends past the " + std::to_string(max_wav_frames) +
                                          " frames a WAV file can describe");
  }
  if (fd_ < 0) {
    auto r = open_temp();
    if (!r.ok())
      return r;
  }

  // Later records overwrite earlier ones where they overlap on one leg.
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t frame = rec.offset + i;
    if (!block_valid_ || frame / block_frames != block_index_) {
      auto r = load_block(frame / block_frames);
      if (!r.ok())
        return r;
    }
    const std::size_t at = (frame % block_frames) * bytes_per_frame + rec.leg * bytes_per_sample;
    const auto pcm = static_cast<std::uint16_t>(g711_to_linear(rec.payload_type, rec.payload[i]));
    put_u16(block_.data() + at, pcm);
    block_dirty_ = true;
  }

  ++stats_.audio_records;
  stats_.leg_samples[rec.leg] += n;
  stats_.frames = std::max(stats_.frames, rec.offset + n);
  return {};
}

result<void> wav_renderer::impl::open_temp() {
  std::string pattern = out_path_ + ".tmp-XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  // mkstemp creates the file 0600: decoded audio is for the requester only.
  fd_ = mkstemp(name.data());
  if (fd_ < 0)
    return io_error("cannot create temporary file for", out_path_);
  tmp_path_ = name.data();
  block_.assign(block_bytes, 0);
  return {};
}

result<void> wav_renderer::impl::load_block(std::uint64_t index) {
  auto r = flush_block();
  if (!r.ok())
    return r;

  std::fill(block_.begin(), block_.end(), 0);
  block_index_ = index;
  block_valid_ = true;
  const std::uint64_t first = index * block_frames;
  if (first >= file_frames_)
    return {};  // nothing written there yet: silence

  const std::uint64_t pos = wav_header_bytes + first * bytes_per_frame;
  std::size_t got = 0;
  while (got < block_bytes) {
    const ssize_t n =
        pread(fd_, block_.data() + got, block_bytes - got, static_cast<off_t>(pos + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return io_error("cannot read back", tmp_path_);
    if (n == 0)
      break;  // past the end: the zeros stay
    got += static_cast<std::size_t>(n);
  }
  return {};
}

result<void> wav_renderer::impl::flush_block() {
  if (!block_valid_ || !block_dirty_)
    return {};
  const std::uint64_t first = block_index_ * block_frames;
  auto r = write_at(block_.data(), block_bytes, wav_header_bytes + first * bytes_per_frame);
  if (!r.ok())
    return r;
  block_dirty_ = false;
  file_frames_ = std::max(file_frames_, first + block_frames);
  return {};
}

result<void> wav_renderer::impl::write_at(const std::uint8_t* data, std::size_t size,
                                          std::uint64_t pos) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = pwrite(fd_, data + done, size - done, static_cast<off_t>(pos + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return io_error("cannot write", tmp_path_);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

result<render_stats> wav_renderer::impl::finish() {
  if (finished_)
    return make_error("wav_finished", "finish() called twice for " + out_path_);
  finished_ = true;
  if (failure_) {
    discard_temp();
    return failure_->with_context("while rendering " + out_path_);
  }
  if (fd_ < 0) {
    auto r = open_temp();
    if (!r.ok())
      return r.error();
  }

  // The last block may run past the final frame; truncate to the exact size.
  std::uint8_t header[wav_header_bytes];
  wav_header(header, stats_.frames);
  auto r = flush_block();
  if (r.ok())
    r = write_at(header, sizeof header, 0);
  const auto total = static_cast<off_t>(wav_header_bytes + stats_.frames * bytes_per_frame);
  if (r.ok() && ftruncate(fd_, total) != 0)
    r = io_error("cannot size", tmp_path_);
  if (r.ok() && fsync(fd_) != 0)
    r = io_error("cannot sync", tmp_path_);
  if (!r.ok()) {
    discard_temp();
    return r.error();
  }

  close(fd_);
  fd_ = -1;
  if (std::rename(tmp_path_.c_str(), out_path_.c_str()) != 0) {
    auto e = io_error("cannot rename " + tmp_path_ + " to", out_path_);
    discard_temp();
    return e;
  }
  tmp_path_.clear();
  return stats_;
}

void wav_renderer::impl::discard_temp() {
  if (fd_ >= 0)
    close(fd_);
  fd_ = -1;
  if (!tmp_path_.empty())
    unlink(tmp_path_.c_str());
  tmp_path_.clear();
}

wav_renderer::wav_renderer(std::string out_path)
    : impl_(std::make_unique<impl>(std::move(out_path))) {}

wav_renderer::~wav_renderer() = default;

void wav_renderer::add(const raw_record& rec) {
  impl_->add(rec);
}

result<render_stats> wav_renderer::finish() {
  return impl_->finish();
}

}  // namespace ccrec::media
