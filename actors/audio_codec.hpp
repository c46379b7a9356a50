// audio_codec: compressed audio for stored recordings, in memory only.
//
// FLAC (lossless) through libsndfile's virtual I/O: the encoder hands each
// compressed byte to a callback (the transcoder's CCENX writer) in stream
// order and never seeks back into bytes it already gave away, so no
// compressed plaintext ever touches the disk; the decoder pulls bytes from a
// byte_source (a CCENX file decrypted on a helper thread into a small wiped
// buffer, or a plain file). A digest over the PCM lets the transcoder prove
// that what it decodes is what it encoded. docs/transcoding.md describes the
// stored forms.
//
// Every object here is used by one thread at a time; ccenx_source runs its
// own helper thread internally and joins it on destruction.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "crypto/ccenx.hpp"

namespace ccrec::audio {

inline constexpr int telephony_rate = 8000;  // G.711
inline constexpr int stereo = 2;             // caller left, agent right
inline constexpr std::size_t digest_bytes = 32;

struct pcm_format {
  int rate = telephony_rate;
  int channels = stereo;
};

// BLAKE2b-256 over the interleaved 16-bit samples (little-endian), with the
// frame count: equal digests mean equal audio.
class pcm_digest {
 public:
  explicit pcm_digest(int channels = stereo);
  void add(const std::int16_t* interleaved, std::size_t frames);
  std::array<std::uint8_t, digest_bytes> finish();
  std::uint64_t frames() const { return frames_; }

 private:
  struct state;
  std::shared_ptr<state> state_;
  int channels_;
  std::uint64_t frames_ = 0;
};

// Receives bytes in order; an error stops the producer.
using byte_out = std::function<result<void>(const std::uint8_t* data, std::size_t size)>;
// Receives interleaved 16-bit PCM frames in order.
using pcm_out = std::function<result<void>(const std::int16_t* interleaved, std::size_t frames)>;

// A FLAC stream written through libsndfile into `out`. STREAMINFO keeps
// "length unknown" and no MD5: filling them in would mean seeking back into
// bytes already encrypted. CCENX authenticates the bytes instead, and the
// transcoder compares PCM digests.
class flac_encoder {
 public:
  // `comment` goes into the stream's Vorbis comment (the raw recording's
  // metadata JSON). Fails with "codec_open_failed".
  static result<std::unique_ptr<flac_encoder>> open(pcm_format format, byte_out out,
                                                    const std::string& comment);
  ~flac_encoder();
  flac_encoder(const flac_encoder&) = delete;
  flac_encoder& operator=(const flac_encoder&) = delete;

  // Fails with "codec_write_failed" or the error `out` returned.
  result<void> write(const std::int16_t* interleaved, std::size_t frames);
  // Flushes the encoder. After this the encoder refuses writes.
  result<void> finish();

  std::uint64_t frames() const;
  std::uint64_t bytes_out() const;

  struct impl;  // defined in audio_codec.cpp

 private:
  explicit flac_encoder(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

// Bytes read in order, from the start.
class byte_source {
 public:
  virtual ~byte_source() = default;
  // Up to `size` bytes; 0 at the end. Fails with "io" naming the file.
  virtual result<std::size_t> read(std::uint8_t* data, std::size_t size) = 0;
  // A guess at the total size, for libraries that ask; never trusted.
  virtual std::uint64_t size_hint() const = 0;
};

// A plain file. Fails with "io".
result<std::unique_ptr<byte_source>> open_plain_source(const std::string& path);

// The plaintext of a CCENX file, decrypted chunk by chunk on a helper thread
// into a bounded buffer that is wiped as it is consumed and on destruction.
// Only authenticated bytes come out; read() returns 0 where the file stops
// authenticating or ends, and report() then says which.
class ccenx_source : public byte_source {
 public:
  // `key` must be the master key the file's header names (resolve it before,
  // on the caller's thread). Fails with "io" when the file cannot be opened.
  static result<std::unique_ptr<ccenx_source>> open(
      const std::string& path, std::shared_ptr<const crypto::secret_bytes> key);
  ~ccenx_source() override;

  result<std::size_t> read(std::uint8_t* data, std::size_t size) override;
  std::uint64_t size_hint() const override { return size_hint_; }
  // The reader's verdict; valid once read() returned 0.
  crypto::ccenx_report report() const;
  // CPU time the decrypting thread used; valid once read() returned 0.
  double cpu_seconds() const;

 private:
  ccenx_source() = default;
  void produce(std::string path);

  std::shared_ptr<const crypto::secret_bytes> key_;
  std::uint64_t key_id_ = 0;
  std::uint64_t size_hint_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  crypto::secret_bytes ring_;  // plaintext in flight (guarded), wiped as consumed
  std::size_t head_ = 0;       // next byte to read
  std::size_t filled_ = 0;     // bytes waiting
  bool done_ = false;
  bool cancel_ = false;
  crypto::ccenx_report report_;
  double cpu_seconds_ = 0;
  std::thread producer_;
};

// CPU time the calling thread has used, in seconds.
double thread_cpu_seconds();

// The plaintext size a CCENX file's framing claims (header and chunk
// lengths only, nothing authenticated): a size hint for decoders.
std::uint64_t ccenx_plaintext_size_hint(const std::string& path);

struct decoded_audio {
  pcm_format format;
  std::uint64_t frames = 0;
  std::string comment;  // the Vorbis comment, if any
};

// Decodes a FLAC stream from `src` to 16-bit PCM; `on_format`, when given,
// learns the format before the first frame. Fails with "codec_open_failed"
// (not FLAC, or damaged), "codec_read_failed", or the error `out` returned.
result<decoded_audio> decode_flac(byte_source& src, const pcm_out& out,
                                  const std::function<void(pcm_format)>& on_format = {});

// What a stored file's plaintext is, from its first bytes.
enum class content_kind { raw_stream, flac, wav, ogg, unknown };
content_kind sniff_content(const std::uint8_t* data, std::size_t size);
const char* to_string(content_kind k);
// Bytes needed by sniff_content.
inline constexpr std::size_t sniff_bytes = 12;

// A byte_source that first replays `prefix`, then reads `rest`: lets a
// caller sniff the first bytes of a stream and still decode all of it.
class replay_source : public byte_source {
 public:
  replay_source(std::vector<std::uint8_t> prefix, byte_source& rest);
  ~replay_source() override;
  result<std::size_t> read(std::uint8_t* data, std::size_t size) override;
  std::uint64_t size_hint() const override { return rest_.size_hint(); }

 private:
  std::vector<std::uint8_t> prefix_;
  std::size_t used_ = 0;
  byte_source& rest_;
};

// Writes a canonical 16-bit PCM WAV (44-byte header) sequentially into a
// temporary file beside `path` (mode 0600), then syncs and renames it into
// place on finish(); removes it if never finished. For decoded playback.
class wav_writer {
 public:
  static result<std::unique_ptr<wav_writer>> create(const std::string& path, pcm_format format);
  ~wav_writer();
  result<void> write(const std::int16_t* interleaved, std::size_t frames);
  // Fails with "wav_too_long" past what a WAV header can describe.
  result<void> finish();
  std::uint64_t frames() const { return frames_; }

 private:
  wav_writer() = default;
  result<void> write_bytes(const std::uint8_t* data, std::size_t size, std::uint64_t at);

  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  pcm_format format_;
  std::uint64_t frames_ = 0;
  bool finished_ = false;
};

// The canonical 44-byte header of a 16-bit PCM WAV holding `frames`.
std::vector<std::uint8_t> wav_header(pcm_format format, std::uint64_t frames);
inline constexpr std::size_t wav_header_bytes = 44;

}  // namespace ccrec::audio
