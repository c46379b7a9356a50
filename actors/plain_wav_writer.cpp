#include "actors/plain_wav_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

#include <spdlog/spdlog.h>

#include "actors/audio_codec.hpp"
#include "media/g711.hpp"
#include "media/raw_format.hpp"

namespace ccrec {

namespace {

constexpr mode_t file_mode = 0600;
constexpr std::uint64_t block_frames = 16384;  // about 2 s: both legs land in it
constexpr std::size_t bytes_per_frame = 4;     // stereo, 16-bit
constexpr std::size_t leg_count = 2;

error io_error(const std::string& what, const std::string& path) {
  return make_error("io", what + " " + path + ": " + std::strerror(errno));
}

struct wav_state {
  std::string path;
  int fd = -1;
  std::optional<media::raw_decoder> decoder;
  std::vector<std::uint8_t> block;  // frames of block_index, little-endian
  std::uint64_t block_index = 0;
  bool block_valid = false;
  bool block_dirty = false;
  std::uint64_t file_frames = 0;  // frames the file holds
  std::uint64_t frames = 0;       // the WAV's length: the last sample placed
  std::uint64_t packets = 0;
  std::string failure;

  ~wav_state() {
    if (fd >= 0)
      ::close(fd);
  }
};

void fail(wav_state& st, const error& err) {
  if (!st.failure.empty())
    return;
  st.failure = err.message;
  spdlog::warn("plain WAV writer {}: {}", st.path, err.message);
}

result<void> write_at(wav_state& st, const std::uint8_t* data, std::size_t size, std::uint64_t at) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pwrite(st.fd, data + done, size - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return io_error("cannot write", st.path);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

result<void> flush_block(wav_state& st) {
  if (!st.block_valid || !st.block_dirty)
    return {};
  const std::uint64_t first = st.block_index * block_frames;
  // Only up to the last placed frame: the file never runs ahead of the WAV.
  const std::uint64_t count = std::min(block_frames, st.frames - first);
  auto ok = write_at(st, st.block.data(), count * bytes_per_frame,
                     audio::wav_header_bytes + first * bytes_per_frame);
  if (!ok)
    return ok;
  st.block_dirty = false;
  st.file_frames = std::max(st.file_frames, first + count);
  return {};
}

result<void> load_block(wav_state& st, std::uint64_t index) {
  if (auto ok = flush_block(st); !ok)
    return ok;
  std::fill(st.block.begin(), st.block.end(), 0);
  st.block_index = index;
  st.block_valid = true;
  const std::uint64_t first = index * block_frames;
  if (first >= st.file_frames)
    return {};
  const std::size_t want =
      static_cast<std::size_t>(std::min(block_frames, st.file_frames - first) * bytes_per_frame);
  ssize_t n = ::pread(st.fd, st.block.data(), want,
                      static_cast<off_t>(audio::wav_header_bytes + first * bytes_per_frame));
  if (n < 0)
    return io_error("cannot read back", st.path);
  return {};
}

void place(wav_state& st, const media::raw_record& rec) {
  if (!st.failure.empty() || rec.type != media::record_type::audio || rec.leg >= leg_count)
    return;
  for (std::size_t i = 0; i < rec.payload.size(); ++i) {
    const std::uint64_t frame = rec.offset + i;
    if (!st.block_valid || frame / block_frames != st.block_index) {
      if (auto ok = load_block(st, frame / block_frames); !ok)
        return fail(st, ok.error());
    }
    const auto pcm =
        static_cast<std::uint16_t>(media::g711_to_linear(rec.payload_type, rec.payload[i]));
    auto* at = st.block.data() + (frame % block_frames) * bytes_per_frame + rec.leg * 2;
    at[0] = static_cast<std::uint8_t>(pcm);
    at[1] = static_cast<std::uint8_t>(pcm >> 8);
    st.block_dirty = true;
    st.frames = std::max(st.frames, frame + 1);
  }
  st.frames = std::max<std::uint64_t>(st.frames, rec.offset + rec.payload.size());
}

result<void> write_header(wav_state& st) {
  auto header = audio::wav_header(audio::pcm_format{}, st.frames);
  return write_at(st, header.data(), header.size(), 0);
}

void feed(wav_state& st, const std::vector<std::uint8_t>& bytes) {
  if (!st.failure.empty())
    return;
  if (auto ok = st.decoder->feed(bytes.data(), bytes.size()); !ok)
    fail(st, ok.error());
}

void flush_file(wav_state& st) {
  if (!st.failure.empty())
    return;
  if (auto ok = flush_block(st); !ok)
    return fail(st, ok.error());
  if (auto ok = write_header(st); !ok)
    fail(st, ok.error());
}

file_summary finish_file(wav_state& st) {
  flush_file(st);
  if (st.failure.empty() && st.fd >= 0 && ::fsync(st.fd) != 0)
    fail(st, io_error("cannot sync", st.path));
  file_summary summary;
  summary.path = st.path;
  summary.status = st.failure.empty() ? "complete" : "failed";
  summary.error = st.failure;
  summary.bytes = audio::wav_header_bytes + st.frames * bytes_per_frame;
  summary.packets = st.packets;
  return summary;
}

}  // namespace

caf::behavior plain_wav_writer(caf::event_based_actor* self, plain_wav_writer_args args) {
  auto st = std::make_shared<wav_state>();
  st->path = args.path;
  st->block.assign(block_frames * bytes_per_frame, 0);
  st->decoder.emplace([raw = st.get()](const media::raw_record& r) { place(*raw, r); });
  st->fd = ::open(args.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, file_mode);
  if (st->fd < 0)
    fail(*st, io_error("cannot create", args.path));
  else if (auto ok = write_header(*st); !ok)
    fail(*st, ok.error());
  feed(*st, args.preamble);

  auto interval = std::chrono::milliseconds{args.flush_interval_ms};
  self->delayed_send(self, interval, flush_atom::value);
  return {
      [st](write_atom, const write_batch& batch) {
        feed(*st, batch.bytes);
        st->packets += batch.packets;
      },
      [self, st, interval](flush_atom) {
        flush_file(*st);
        self->delayed_send(self, interval, flush_atom::value);
      },
      [self, st](finish_atom) {
        auto summary = finish_file(*st);
        self->quit();
        return summary;
      },
  };
}

}  // namespace ccrec
