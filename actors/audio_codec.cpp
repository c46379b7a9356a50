#include "actors/audio_codec.hpp"

#include <fcntl.h>
#include <sndfile.h>
#include <sodium.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "common/file_ops.hpp"
#include "crypto/secret.hpp"

namespace ccrec::audio {

namespace {

// libsndfile's compression level runs from 0 (fastest) to 1 (smallest); it
// maps onto FLAC levels 0..8. On decoded G.711 the levels differ by under
// 2 % in size while level 0 is the fastest (docs/transcoding.md).
constexpr double flac_compression_level = 0.0;
// Decrypted plaintext waiting between the CCENX reader thread and the
// decoder: a few chunks, so the reader rarely waits and little is exposed.
constexpr std::size_t pipe_bytes = 256 * 1024;
// Bytes a decoder source keeps from the start of the stream, so libsndfile
// can go back to the start after sniffing the format.
constexpr std::size_t rewind_bytes = 64 * 1024;
constexpr std::size_t decode_block_frames = 4096;
constexpr std::size_t bytes_per_sample = 2;
constexpr std::uint64_t max_riff_size = 0xFFFFFFFFull;
constexpr std::size_t ccenx_frame_bytes = 5;  // chunk length (4) + flags (1)
constexpr std::size_t ccenx_tag_bytes = 16;
constexpr std::uint8_t ccenx_final_flag = 0x01;

using file_ops::io_error;

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void put_le16(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}

void put_le32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

}  // namespace

// ---------------------------------------------------------------------------
// pcm_digest
// ---------------------------------------------------------------------------

struct pcm_digest::state {
  crypto_generichash_state hash;
};

pcm_digest::pcm_digest(int channels) : state_(std::make_shared<state>()), channels_(channels) {
  crypto_generichash_init(&state_->hash, nullptr, 0, digest_bytes);
}

void pcm_digest::add(const std::int16_t* interleaved, std::size_t frames) {
  // Memory order: digests are only ever compared within one process.
  crypto_generichash_update(&state_->hash, reinterpret_cast<const unsigned char*>(interleaved),
                            frames * static_cast<std::size_t>(channels_) * bytes_per_sample);
  frames_ += frames;
}

std::array<std::uint8_t, digest_bytes> pcm_digest::finish() {
  std::array<std::uint8_t, digest_bytes> out{};
  crypto_generichash_final(&state_->hash, out.data(), out.size());
  return out;
}

// ---------------------------------------------------------------------------
// flac_encoder
// ---------------------------------------------------------------------------

// libsndfile writes the FLAC stream through these callbacks. Bytes go to
// `out` once, in order. At the end libFLAC seeks back to rewrite STREAMINFO
// (length, MD5); those rewrites land on bytes already encrypted and are
// dropped, which leaves the header's "unknown length" in place.
struct flac_encoder::impl {
  byte_out out;
  SNDFILE* file = nullptr;
  sf_count_t pos = 0;
  sf_count_t emitted = 0;
  std::uint64_t frames = 0;
  std::optional<error> failure;
  bool finished = false;
  bool discard = false;  // destroyed unfinished: nothing more may go out

  ~impl() {
    discard = true;
    if (file != nullptr)
      sf_close(file);
  }

  static sf_count_t length(void* user) { return static_cast<impl*>(user)->emitted; }
  static sf_count_t tell(void* user) { return static_cast<impl*>(user)->pos; }
  static sf_count_t read(void*, sf_count_t, void*) { return 0; }

  static sf_count_t seek(sf_count_t offset, int whence, void* user) {
    auto* self = static_cast<impl*>(user);
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? self->pos : self->emitted;
    sf_count_t target = base + offset;
    if (target < 0 || target > self->emitted)
      return -1;
    self->pos = target;
    return target;
  }

  static sf_count_t write(const void* data, sf_count_t size, void* user) {
    auto* self = static_cast<impl*>(user);
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    sf_count_t rewritten = std::min(size, std::max<sf_count_t>(0, self->emitted - self->pos));
    sf_count_t fresh = size - rewritten;
    self->pos += size;
    if (fresh == 0 || self->discard)
      return size;
    if (self->failure)
      return 0;
    auto ok = self->out(bytes + rewritten, static_cast<std::size_t>(fresh));
    if (!ok) {
      self->failure = ok.error();
      return 0;
    }
    self->emitted += fresh;
    return size;
  }
};

flac_encoder::flac_encoder(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
flac_encoder::~flac_encoder() = default;

result<std::unique_ptr<flac_encoder>> flac_encoder::open(pcm_format format, byte_out out,
                                                         const std::string& comment) {
  auto p = std::make_unique<impl>();
  p->out = std::move(out);
  static SF_VIRTUAL_IO vio{&impl::length, &impl::seek, &impl::read, &impl::write, &impl::tell};
  SF_INFO info{};
  info.samplerate = format.rate;
  info.channels = format.channels;
  info.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
  p->file = sf_open_virtual(&vio, SFM_WRITE, &info, p.get());
  if (p->file == nullptr)
    return make_error("codec_open_failed",
                      std::string{"cannot start a FLAC encoder: "} + sf_strerror(nullptr));

  double level = flac_compression_level;
  sf_command(p->file, SFC_SET_COMPRESSION_LEVEL, &level, sizeof level);
  if (!comment.empty() && sf_set_string(p->file, SF_STR_COMMENT, comment.c_str()) != 0)
    return make_error("codec_open_failed",
                      std::string{"cannot set the FLAC comment: "} + sf_strerror(p->file));
  // The stream header goes out now, so that a recording without audio still
  // becomes a valid (empty) FLAC stream; libsndfile otherwise writes it with
  // the first samples.
  sf_command(p->file, SFC_UPDATE_HEADER_NOW, nullptr, 0);
  return std::unique_ptr<flac_encoder>{new flac_encoder(std::move(p))};
}

result<void> flac_encoder::write(const std::int16_t* interleaved, std::size_t frames) {
  auto& p = *impl_;
  if (p.finished)
    return make_error("codec_write_failed", "the FLAC encoder is already finished");
  auto wrote = sf_writef_short(p.file, interleaved, static_cast<sf_count_t>(frames));
  if (p.failure)
    return *p.failure;
  if (wrote != static_cast<sf_count_t>(frames))
    return make_error("codec_write_failed",
                      std::string{"the FLAC encoder refused audio: "} + sf_strerror(p.file));
  p.frames += frames;
  return {};
}

result<void> flac_encoder::finish() {
  auto& p = *impl_;
  if (p.finished)
    return make_error("codec_write_failed", "the FLAC encoder is already finished");
  p.finished = true;
  int rc = sf_close(p.file);
  p.file = nullptr;
  if (p.failure)
    return *p.failure;
  if (rc != 0)
    return make_error("codec_write_failed",
                      std::string{"the FLAC encoder failed to finish: "} + sf_error_number(rc));
  return {};
}

std::uint64_t flac_encoder::frames() const {
  return impl_->frames;
}

std::uint64_t flac_encoder::bytes_out() const {
  return static_cast<std::uint64_t>(impl_->emitted);
}

// ---------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------

namespace {

class plain_source final : public byte_source {
 public:
  plain_source(int fd, std::string path, std::uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}
  ~plain_source() override { ::close(fd_); }

  result<std::size_t> read(std::uint8_t* data, std::size_t size) override {
    for (;;) {
      ssize_t n = ::read(fd_, data, size);
      if (n >= 0)
        return static_cast<std::size_t>(n);
      if (errno != EINTR)
        return io_error("cannot read", path_);
    }
  }
  std::uint64_t size_hint() const override { return size_; }

 private:
  int fd_;
  std::string path_;
  std::uint64_t size_;
};

// Thrown inside the CCENX reader's callback to stop it when the consumer
// has gone; read_ccenx wipes its buffers as the exception passes.
struct reader_cancelled {};

}  // namespace

result<std::unique_ptr<byte_source>> open_plain_source(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return io_error("cannot open", path);
  off_t size = ::lseek(fd, 0, SEEK_END);
  ::lseek(fd, 0, SEEK_SET);
  return std::unique_ptr<byte_source>{
      new plain_source(fd, path, size < 0 ? 0 : static_cast<std::uint64_t>(size))};
}

std::uint64_t ccenx_plaintext_size_hint(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  in.seekg(static_cast<std::streamoff>(crypto::ccenx_header_size));
  std::uint64_t total = 0;
  std::uint8_t frame[ccenx_frame_bytes];
  while (in.read(reinterpret_cast<char*>(frame), sizeof frame)) {
    std::uint32_t n = be32(frame);
    total += n;
    if ((frame[4] & ccenx_final_flag) != 0)
      break;
    in.seekg(static_cast<std::streamoff>(n + ccenx_tag_bytes), std::ios::cur);
  }
  return total;
}

result<std::unique_ptr<ccenx_source>> ccenx_source::open(
    const std::string& path, std::shared_ptr<const crypto::secret_bytes> key) {
  auto header = crypto::read_ccenx_header(path);
  if (!header)
    return header.error();

  std::unique_ptr<ccenx_source> src{new ccenx_source()};
  src->key_ = std::move(key);
  src->key_id_ = header->key_id;
  src->size_hint_ = ccenx_plaintext_size_hint(path);
  src->ring_ = crypto::secret_bytes{pipe_bytes};
  src->producer_ = std::thread([s = src.get(), path] { s->produce(path); });
  return src;
}

ccenx_source::~ccenx_source() {
  {
    std::lock_guard<std::mutex> lock{mutex_};
    cancel_ = true;
  }
  changed_.notify_all();
  if (producer_.joinable())
    producer_.join();
}

void ccenx_source::produce(std::string path) {
  auto resolve = [this](std::uint64_t id) -> const crypto::secret_bytes* {
    return id == key_id_ ? key_.get() : nullptr;
  };
  auto sink = [this](const std::uint8_t* data, std::size_t size) {
    while (size > 0) {
      std::unique_lock<std::mutex> lock{mutex_};
      changed_.wait(lock, [this] { return cancel_ || filled_ < ring_.size(); });
      if (cancel_)
        throw reader_cancelled{};
      std::size_t tail = (head_ + filled_) % ring_.size();
      std::size_t n = std::min({size, ring_.size() - filled_, ring_.size() - tail});
      std::memcpy(ring_.data() + tail, data, n);
      filled_ += n;
      data += n;
      size -= n;
      changed_.notify_all();
    }
  };

  crypto::ccenx_report report;
  try {
    report = crypto::read_ccenx(path, resolve, sink);
  } catch (const reader_cancelled&) {
    report.state = crypto::ccenx_state::corrupt;
    report.code = "cancelled";
    report.reason = "the reader was closed before the end of " + path;
  }
  std::lock_guard<std::mutex> lock{mutex_};
  report_ = std::move(report);
  cpu_seconds_ = thread_cpu_seconds();
  done_ = true;
  changed_.notify_all();
}

result<std::size_t> ccenx_source::read(std::uint8_t* data, std::size_t size) {
  std::unique_lock<std::mutex> lock{mutex_};
  changed_.wait(lock, [this] { return filled_ > 0 || done_; });
  std::size_t n = std::min({size, filled_, ring_.size() - head_});
  std::memcpy(data, ring_.data() + head_, n);
  sodium_memzero(ring_.data() + head_, n);
  head_ = (head_ + n) % ring_.size();
  filled_ -= n;
  changed_.notify_all();
  return n;
}

crypto::ccenx_report ccenx_source::report() const {
  std::lock_guard<std::mutex> lock{mutex_};
  return report_;
}

double ccenx_source::cpu_seconds() const {
  std::lock_guard<std::mutex> lock{mutex_};
  return cpu_seconds_;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

replay_source::replay_source(std::vector<std::uint8_t> prefix, byte_source& rest)
    : prefix_(std::move(prefix)), rest_(rest) {}

replay_source::~replay_source() {
  sodium_memzero(prefix_.data(), prefix_.size());
}

result<std::size_t> replay_source::read(std::uint8_t* data, std::size_t size) {
  if (used_ < prefix_.size()) {
    std::size_t n = std::min(size, prefix_.size() - used_);
    std::memcpy(data, prefix_.data() + used_, n);
    used_ += n;
    return n;
  }
  return rest_.read(data, size);
}

// ---------------------------------------------------------------------------
// decode_flac
// ---------------------------------------------------------------------------

namespace {

// A forward-only source made seekable enough for libsndfile: it keeps the
// first bytes so the decoder can return to the start after sniffing the
// format, and skips forward by reading.
struct pull_io {
  byte_source& src;
  std::vector<std::uint8_t> start;  // the first rewind_bytes of the stream
  sf_count_t pulled = 0;            // bytes taken from src
  sf_count_t pos = 0;
  std::optional<error> failure;

  explicit pull_io(byte_source& s) : src(s) {}
  ~pull_io() { sodium_memzero(start.data(), start.size()); }

  sf_count_t pull(std::uint8_t* into, sf_count_t size) {
    auto got = src.read(into, static_cast<std::size_t>(size));
    if (!got) {
      failure = got.error();
      return 0;
    }
    auto n = static_cast<sf_count_t>(*got);
    if (static_cast<std::size_t>(pulled) < rewind_bytes) {
      auto keep = std::min<sf_count_t>(n, static_cast<sf_count_t>(rewind_bytes) - pulled);
      start.insert(start.end(), into, into + keep);
    }
    pulled += n;
    return n;
  }

  static sf_count_t length(void* user) {
    auto* self = static_cast<pull_io*>(user);
    return std::max<sf_count_t>(self->pulled, static_cast<sf_count_t>(self->src.size_hint()));
  }
  static sf_count_t tell(void* user) { return static_cast<pull_io*>(user)->pos; }
  static sf_count_t write(const void*, sf_count_t, void*) { return 0; }

  static sf_count_t seek(sf_count_t offset, int whence, void* user) {
    auto* self = static_cast<pull_io*>(user);
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? self->pos : length(user);
    sf_count_t target = base + offset;
    if (target < 0)
      return -1;
    if (target < self->pulled && target > static_cast<sf_count_t>(self->start.size()))
      return -1;  // behind what was kept: a forward-only stream cannot go there
    std::uint8_t scratch[4096];
    while (self->pulled < target) {
      auto n = self->pull(scratch, std::min<sf_count_t>(sizeof scratch, target - self->pulled));
      if (n == 0)
        break;
    }
    self->pos = std::min(target, self->pulled);
    return self->pos;
  }

  static sf_count_t read(void* data, sf_count_t size, void* user) {
    auto* self = static_cast<pull_io*>(user);
    auto* out = static_cast<std::uint8_t*>(data);
    sf_count_t done = 0;
    while (done < size && self->pos < self->pulled) {
      if (self->pos >= static_cast<sf_count_t>(self->start.size()))
        return done;  // cannot happen: seek refuses such positions
      auto n = std::min(size - done, static_cast<sf_count_t>(self->start.size()) - self->pos);
      std::memcpy(out + done, self->start.data() + self->pos, static_cast<std::size_t>(n));
      done += n;
      self->pos += n;
    }
    while (done < size) {
      auto n = self->pull(out + done, size - done);
      if (n == 0)
        break;
      done += n;
      self->pos += n;
    }
    return done;
  }
};

}  // namespace

result<decoded_audio> decode_flac(byte_source& src, const pcm_out& out,
                                  const std::function<void(pcm_format)>& on_format) {
  pull_io io{src};
  SF_VIRTUAL_IO vio{&pull_io::length, &pull_io::seek, &pull_io::read, &pull_io::write,
                    &pull_io::tell};
  SF_INFO info{};
  SNDFILE* file = sf_open_virtual(&vio, SFM_READ, &info, &io);
  if (io.failure)
    return io.failure->with_context("while opening the FLAC stream");
  if (file == nullptr)
    return make_error("codec_open_failed",
                      std::string{"not a readable FLAC stream: "} + sf_strerror(nullptr));
  std::unique_ptr<SNDFILE, int (*)(SNDFILE*)> guard{file, sf_close};
  if ((info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_FLAC || info.channels <= 0)
    return make_error("codec_open_failed", "the stream is not FLAC audio");

  decoded_audio result;
  result.format.rate = info.samplerate;
  result.format.channels = info.channels;
  if (const char* c = sf_get_string(file, SF_STR_COMMENT))
    result.comment = c;
  if (on_format)
    on_format(result.format);

  auto channels = static_cast<std::size_t>(info.channels);
  crypto::secret_bytes block{decode_block_frames * channels * bytes_per_sample};
  auto* pcm = reinterpret_cast<std::int16_t*>(block.data());
  for (;;) {
    auto got = sf_readf_short(file, pcm, static_cast<sf_count_t>(decode_block_frames));
    if (io.failure)
      return io.failure->with_context("while decoding FLAC");
    if (got <= 0)
      break;
    if (auto ok = out(pcm, static_cast<std::size_t>(got)); !ok)
      return ok.error();
    result.frames += static_cast<std::uint64_t>(got);
  }
  if (int rc = sf_error(file); rc != SF_ERR_NO_ERROR)
    return make_error("codec_read_failed",
                      std::string{"the FLAC stream does not decode: "} + sf_error_number(rc));
  return result;
}

// ---------------------------------------------------------------------------
// Sniffing
// ---------------------------------------------------------------------------

content_kind sniff_content(const std::uint8_t* data, std::size_t size) {
  auto starts = [&](const char* magic, std::size_t at = 0) {
    std::size_t n = std::strlen(magic);
    return size >= at + n && std::memcmp(data + at, magic, n) == 0;
  };
  if (starts("CCRAW"))
    return content_kind::raw_stream;
  if (starts("fLaC"))
    return content_kind::flac;
  if (starts("RIFF") && starts("WAVE", 8))
    return content_kind::wav;
  if (starts("OggS"))
    return content_kind::ogg;
  return content_kind::unknown;
}

const char* to_string(content_kind k) {
  switch (k) {
    case content_kind::raw_stream:
      return "raw record stream";
    case content_kind::flac:
      return "FLAC";
    case content_kind::wav:
      return "WAV";
    case content_kind::ogg:
      return "Ogg";
    case content_kind::unknown:
      break;
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// wav_writer
// ---------------------------------------------------------------------------

std::vector<std::uint8_t> wav_header(pcm_format format, std::uint64_t frames) {
  const auto block_align = static_cast<std::uint32_t>(format.channels * bytes_per_sample);
  const auto data_bytes = static_cast<std::uint32_t>(frames * block_align);
  std::vector<std::uint8_t> h(wav_header_bytes, 0);
  std::memcpy(h.data(), "RIFF", 4);
  put_le32(h.data() + 4, static_cast<std::uint32_t>(wav_header_bytes - 8 + data_bytes));
  std::memcpy(h.data() + 8, "WAVEfmt ", 8);
  put_le32(h.data() + 16, 16);  // fmt chunk size for PCM
  put_le16(h.data() + 20, 1);   // PCM
  put_le16(h.data() + 22, static_cast<std::uint32_t>(format.channels));
  put_le32(h.data() + 24, static_cast<std::uint32_t>(format.rate));
  put_le32(h.data() + 28, static_cast<std::uint32_t>(format.rate) * block_align);
  put_le16(h.data() + 32, block_align);
  put_le16(h.data() + 34, bytes_per_sample * 8);
  std::memcpy(h.data() + 36, "data", 4);
  put_le32(h.data() + 40, data_bytes);
  return h;
}

result<std::unique_ptr<wav_writer>> wav_writer::create(const std::string& path, pcm_format format) {
  std::unique_ptr<wav_writer> w{new wav_writer()};
  w->path_ = path;
  w->format_ = format;
  std::string pattern = path + ".tmp-XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  w->fd_ = ::mkstemp(name.data());  // mode 0600: decoded audio is the requester's only
  if (w->fd_ < 0)
    return io_error("cannot create a temporary file for", path);
  w->tmp_ = name.data();
  auto header = wav_header(format, 0);
  if (auto ok = w->write_bytes(header.data(), header.size(), 0); !ok)
    return ok.error();
  return w;
}

wav_writer::~wav_writer() {
  if (fd_ >= 0)
    ::close(fd_);
  if (!finished_ && !tmp_.empty())
    ::unlink(tmp_.c_str());
}

result<void> wav_writer::write_bytes(const std::uint8_t* data, std::size_t size, std::uint64_t at) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return io_error("cannot write", tmp_);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

result<void> wav_writer::write(const std::int16_t* interleaved, std::size_t frames) {
  const std::size_t frame_bytes = static_cast<std::size_t>(format_.channels) * bytes_per_sample;
  const std::uint64_t limit = (max_riff_size - (wav_header_bytes - 8)) / frame_bytes;
  if (frames_ + frames > limit)
    return make_error("wav_too_long", path_ + ": the audio is longer than a WAV file can hold");
  auto ok = write_bytes(reinterpret_cast<const std::uint8_t*>(interleaved), frames * frame_bytes,
                        wav_header_bytes + frames_ * frame_bytes);
  if (!ok)
    return ok;
  frames_ += frames;
  return {};
}

result<void> wav_writer::finish() {
  auto header = wav_header(format_, frames_);
  if (auto ok = write_bytes(header.data(), header.size(), 0); !ok)
    return ok;
  if (::fsync(fd_) != 0)
    return io_error("cannot sync", tmp_);
  ::close(fd_);
  fd_ = -1;
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    return io_error("cannot rename " + tmp_ + " to", path_);
  finished_ = true;
  return {};
}

}  // namespace ccrec::audio
