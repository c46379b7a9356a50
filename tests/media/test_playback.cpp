#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "media/g711.hpp"
#include "media/playback.hpp"
#include "media/rtp.hpp"
#include "tests/support/temp_dir.hpp"

using namespace ccrec::media;
namespace fs = std::filesystem;

namespace {

using bytes = std::vector<std::uint8_t>;
constexpr std::size_t header_bytes = 44;

raw_record audio(std::uint8_t leg, std::uint8_t pt, std::uint64_t offset, bytes payload) {
  raw_record r;
  r.type = record_type::audio;
  r.leg = leg;
  r.payload_type = pt;
  r.offset = offset;
  r.payload = std::move(payload);
  return r;
}

bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(in), {});
}

// Sample of `channel` (0 left, 1 right) at `frame` in a 16-bit stereo WAV.
std::int16_t sample_at(const bytes& wav, std::uint64_t frame, int channel) {
  const std::size_t at = header_bytes + frame * 4 + channel * 2;
  return static_cast<std::int16_t>(wav.at(at) | (wav.at(at + 1) << 8));
}

std::size_t entries(const std::string& dir) {
  return static_cast<std::size_t>(
      std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("two legs land in their channels at exact positions", "[playback]") {
  ccrec::test::temp_dir dir;
  const std::string out = dir.file("call.wav");
  wav_renderer w(out);
  raw_record meta;
  meta.type = record_type::metadata;
  const std::string json = R"({"call_id":"c-7"})";
  meta.payload.assign(json.begin(), json.end());
  w.add(meta);
  // Leg 1 first: order of records does not matter.
  w.add(audio(1, pt_pcma, 12, {0x2A, 0xAA}));
  w.add(audio(0, pt_pcmu, 10, {0x00, 0x80, 0xFF}));
  auto stats = w.finish();
  REQUIRE(stats.ok());
  CHECK(stats->frames == 14);
  CHECK(stats->audio_records == 2);
  CHECK(stats->leg_samples[0] == 3);
  CHECK(stats->leg_samples[1] == 2);
  CHECK(stats->metadata_json == json);

  const bytes wav = read_file(out);
  REQUIRE(wav.size() == header_bytes + 14 * 4);
  const bytes expected_header = {'R',  'I',  'F', 'F', 92,  0,   0,   0,  // 36 + 56 data bytes
                                 'W',  'A',  'V', 'E', 'f', 'm', 't', ' ',
                                 16,   0,    0,   0,  // fmt chunk of 16
                                 1,    0,    2,   0,  // PCM, 2 channels
                                 0x40, 0x1F, 0,   0,  // 8000 Hz
                                 0x00, 0x7D, 0,   0,  // 32000 bytes/s
                                 4,    0,    16,  0,  // block align, bits
                                 'd',  'a',  't', 'a', 56,  0,   0,   0};
  CHECK(bytes(wav.begin(), wav.begin() + header_bytes) == expected_header);

  for (std::uint64_t f = 0; f < 10; ++f) {
    CHECK(sample_at(wav, f, 0) == 0);
    CHECK(sample_at(wav, f, 1) == 0);
  }
  CHECK(sample_at(wav, 10, 0) == -32124);
  CHECK(sample_at(wav, 11, 0) == 32124);
  CHECK(sample_at(wav, 12, 0) == 0);
  CHECK(sample_at(wav, 13, 0) == 0);
  CHECK(sample_at(wav, 10, 1) == 0);
  CHECK(sample_at(wav, 11, 1) == 0);
  CHECK(sample_at(wav, 12, 1) == -32256);
  CHECK(sample_at(wav, 13, 1) == 32256);
  CHECK(entries(dir.path()) == 1);  // no temporary file left behind
}

TEST_CASE("where records overlap on one leg the later record wins", "[playback]") {
  ccrec::test::temp_dir dir;
  wav_renderer w(dir.file("o.wav"));
  w.add(audio(0, pt_pcma, 0, bytes(4, 0xD5)));  // +8
  w.add(audio(0, pt_pcma, 2, bytes(4, 0x55)));  // -8, covers 2..5
  w.add(audio(1, pt_pcma, 3, bytes(1, 0xAA)));  // other leg untouched by overlap
  REQUIRE(w.finish().ok());
  const bytes wav = read_file(dir.file("o.wav"));
  CHECK(sample_at(wav, 0, 0) == 8);
  CHECK(sample_at(wav, 1, 0) == 8);
  CHECK(sample_at(wav, 2, 0) == -8);
  CHECK(sample_at(wav, 5, 0) == -8);
  CHECK(sample_at(wav, 3, 1) == 32256);
  CHECK(sample_at(wav, 2, 1) == 0);
}

TEST_CASE("records far apart and out of order are placed exactly", "[playback]") {
  ccrec::test::temp_dir dir;
  wav_renderer w(dir.file("far.wav"));
  // Crosses the renderer's internal block size (16384 frames), jumps ahead a
  // minute, then comes back to a block already written.
  bytes ramp;
  for (int i = 0; i < 160; ++i)
    ramp.push_back(static_cast<std::uint8_t>(i));
  w.add(audio(0, pt_pcmu, 16300, ramp));
  w.add(audio(1, pt_pcmu, 480000, ramp));
  w.add(audio(1, pt_pcmu, 16350, ramp));
  w.add(audio(0, pt_pcma, 100, {0xAA}));
  auto stats = w.finish();
  REQUIRE(stats.ok());
  CHECK(stats->frames == 480160);

  const bytes wav = read_file(dir.file("far.wav"));
  REQUIRE(wav.size() == header_bytes + 480160u * 4);
  for (int i = 0; i < 160; ++i) {
    const auto code = static_cast<std::uint8_t>(i);
    CHECK(sample_at(wav, 16300 + i, 0) == ulaw_to_linear(code));
    CHECK(sample_at(wav, 16350 + i, 1) == ulaw_to_linear(code));
    CHECK(sample_at(wav, 480000 + i, 1) == ulaw_to_linear(code));
    CHECK(sample_at(wav, 480000 + i, 0) == 0);
  }
  CHECK(sample_at(wav, 100, 0) == 32256);
  CHECK(sample_at(wav, 16299, 0) == 0);
  CHECK(sample_at(wav, 16349, 1) == 0);
  CHECK(sample_at(wav, 16460, 0) == 0);
  CHECK(sample_at(wav, 240000, 0) == 0);
}

TEST_CASE("screen, marker and out-of-range legs make no sound", "[playback]") {
  ccrec::test::temp_dir dir;
  wav_renderer w(dir.file("s.wav"));
  raw_record screen;
  screen.type = record_type::screen;
  screen.offset = 5;
  screen.payload = bytes(100, 0xAA);
  w.add(screen);
  raw_record marker;
  marker.type = record_type::marker;
  marker.payload = {'h', 'o', 'l', 'd'};
  w.add(marker);
  w.add(audio(2, pt_pcma, 0, bytes(8, 0xAA)));
  auto stats = w.finish();
  REQUIRE(stats.ok());
  CHECK(stats->frames == 0);
  CHECK(stats->audio_records == 0);
  CHECK(read_file(dir.file("s.wav")).size() == header_bytes);
}

TEST_CASE("a stream beyond what RIFF can describe fails cleanly", "[playback]") {
  ccrec::test::temp_dir dir;
  const std::string out = dir.file("long.wav");
  wav_renderer w(out);
  w.add(audio(0, pt_pcmu, 0, bytes(160, 0x00)));
  // (2^32 - 1 - 36) / 4 frames fit: one sample more must be refused.
  const std::uint64_t max_frames = (0xFFFFFFFFull - 36) / 4;
  w.add(audio(0, pt_pcmu, max_frames, {0x00}));
  auto r = w.finish();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "wav_too_long");
  CHECK_FALSE(fs::exists(out));
  CHECK(entries(dir.path()) == 0);
}

TEST_CASE("an absurd offset does not overflow", "[playback]") {
  ccrec::test::temp_dir dir;
  wav_renderer w(dir.file("x.wav"));
  w.add(audio(0, pt_pcmu, 0xFFFFFFFFFFFFFFF0ull, bytes(160, 0x00)));
  auto r = w.finish();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "wav_too_long");
}

TEST_CASE("an unwritable directory is reported", "[playback]") {
  ccrec::test::temp_dir dir;
  wav_renderer w(dir.file("missing/sub/x.wav"));
  w.add(audio(0, pt_pcmu, 0, {0x00}));
  auto r = w.finish();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "wav_io_failed");
  CHECK(r.error().message.find("missing/sub/x.wav") != std::string::npos);
}

TEST_CASE("finish twice is refused, abandoning leaves nothing", "[playback]") {
  ccrec::test::temp_dir dir;
  {
    wav_renderer w(dir.file("a.wav"));
    REQUIRE(w.finish().ok());
    auto again = w.finish();
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == "wav_finished");
  }
  {
    wav_renderer w(dir.file("b.wav"));
    w.add(audio(0, pt_pcmu, 0, {0x00}));
  }
  CHECK(entries(dir.path()) == 1);
  CHECK(fs::exists(dir.file("a.wav")));
}

TEST_CASE("a one-hour two-leg call renders in bounded memory", "[playback][long]") {
  ccrec::test::temp_dir dir;
  constexpr std::uint64_t hour_frames = 3600ull * 8000;
  constexpr std::uint64_t frame = 160;
  rusage before{};
  getrusage(RUSAGE_SELF, &before);

  wav_renderer w(dir.file("hour.wav"));
  raw_record r = audio(0, pt_pcmu, 0, bytes(frame, 0));
  for (std::uint64_t at = 0; at < hour_frames; at += frame) {
    // Leg 1 runs 30 ms behind leg 0, as a real far end would.
    for (std::uint8_t leg = 0; leg < 2; ++leg) {
      r.leg = leg;
      r.offset = at + leg * 240;
      std::fill(r.payload.begin(), r.payload.end(), static_cast<std::uint8_t>(at / frame));
      w.add(r);
    }
  }
  auto stats = w.finish();
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  REQUIRE(stats.ok());
  CHECK(stats->frames == hour_frames + 240);
  CHECK(stats->audio_records == 2 * hour_frames / frame);
  // ru_maxrss is in KiB: the 115 MB of output must not pass through memory.
  CHECK(after.ru_maxrss - before.ru_maxrss < 8 * 1024);
  CHECK(fs::file_size(dir.file("hour.wav")) == header_bytes + (hour_frames + 240) * 4);

  // Spot checks across the hour, in both channels.
  std::ifstream in(dir.file("hour.wav"), std::ios::binary);
  for (std::uint64_t pkt : {0ull, 1ull, 12345ull, 179999ull}) {
    const std::uint64_t f = pkt * frame + 7;
    std::uint8_t b[2];
    in.seekg(static_cast<std::streamoff>(header_bytes + f * 4));
    in.read(reinterpret_cast<char*>(b), 2);
    CHECK(static_cast<std::int16_t>(b[0] | (b[1] << 8)) ==
          ulaw_to_linear(static_cast<std::uint8_t>(pkt)));
    in.seekg(static_cast<std::streamoff>(header_bytes + (f + 240) * 4 + 2));
    in.read(reinterpret_cast<char*>(b), 2);
    CHECK(static_cast<std::int16_t>(b[0] | (b[1] << 8)) ==
          ulaw_to_linear(static_cast<std::uint8_t>(pkt)));
  }
}
