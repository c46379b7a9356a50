// The pieces under the transcoder: the timeline scan and ordered render,
// FLAC through libsndfile in memory, the CCENX pull source, content
// sniffing, and playback/verification of compressed files.
#include <filesystem>

#include <catch2/catch.hpp>

#include "actors/audio_codec.hpp"
#include "actors/pcm_timeline.hpp"
#include "actors/recordings.hpp"
#include "actors/transcoder.hpp"
#include "media/g711.hpp"
#include "media/rtp.hpp"
#include "tests/transcode/fixture.hpp"

namespace {

using namespace ccrec;
using namespace ccrec::test;
namespace fs = std::filesystem;

media::raw_record audio_record(std::uint8_t leg, std::uint64_t offset, std::size_t n,
                               std::uint8_t byte) {
  media::raw_record r;
  r.type = media::record_type::audio;
  r.leg = leg;
  r.payload_type = media::pt_pcmu;
  r.offset = offset;
  r.payload.assign(n, byte);
  return r;
}

TEST_CASE("the scan measures the timeline and how far records reach back", "[codec]") {
  audio::timeline_scanner scan;
  scan.add(audio_record(0, 0, 160, 0x10));
  scan.add(audio_record(0, 160, 160, 0x11));
  scan.add(audio_record(1, 40, 160, 0x12));    // starts 280 frames behind the end (320)
  scan.add(audio_record(2, 5000, 160, 0x13));  // a third leg: not played
  scan.add(audio_record(1, 700, 0, 0x14));     // empty: counts for the length only
  CHECK(scan.scan().frames == 700);
  CHECK(scan.scan().window == 280);
  CHECK(scan.scan().audio_records == 4);
  CHECK(scan.scan().leg_samples[0] == 320);
  CHECK(scan.scan().leg_samples[1] == 160);
}

TEST_CASE("the ordered render emits each frame once, later records winning", "[codec]") {
  std::vector<std::int16_t> out;
  audio::ordered_renderer render{0, 400, 200, [&](const std::int16_t* pcm, std::size_t n) {
                                   out.insert(out.end(), pcm, pcm + 2 * n);
                                   return result<void>{};
                                 }};
  render.add(audio_record(0, 100, 100, 0x10));
  render.add(audio_record(1, 0, 300, 0x20));
  render.add(audio_record(0, 150, 10, 0x30));  // overwrites part of the first
  REQUIRE(render.finish().ok());
  REQUIRE(out.size() == 800);
  CHECK(out[2 * 99] == 0);
  CHECK(out[2 * 100] == media::ulaw_to_linear(0x10));
  CHECK(out[2 * 150] == media::ulaw_to_linear(0x30));
  CHECK(out[2 * 160] == media::ulaw_to_linear(0x10));
  CHECK(out[2 * 200] == 0);
  CHECK(out[2 * 299 + 1] == media::ulaw_to_linear(0x20));
  CHECK(out[2 * 300 + 1] == 0);

  // A window too small for the stream is an error, never wrong audio.
  audio::ordered_renderer small{0, 10000, 10,
                                [](const std::int16_t*, std::size_t) { return result<void>{}; }};
  small.add(audio_record(0, 9000, 160, 0x10));
  small.add(audio_record(0, 0, 160, 0x10));
  auto failed = small.finish();
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == "render_window");
}

TEST_CASE("FLAC in memory round-trips exactly, with its comment", "[codec]") {
  std::vector<std::uint8_t> flac;
  auto enc = audio::flac_encoder::open(
      audio::pcm_format{},
      [&](const std::uint8_t* d, std::size_t n) {
        flac.insert(flac.end(), d, d + n);
        return result<void>{};
      },
      R"({"call_id":"c-1"})");
  REQUIRE(enc.ok());
  std::vector<std::int16_t> pcm;
  for (int i = 0; i < 20000; ++i) {
    pcm.push_back(static_cast<std::int16_t>((i * 131) % 6000 - 3000));
    pcm.push_back(static_cast<std::int16_t>(i % 50 == 0 ? 32767 : -(i % 700)));
  }
  REQUIRE((*enc)->write(pcm.data(), 7000).ok());
  REQUIRE((*enc)->write(pcm.data() + 14000, 13000).ok());
  REQUIRE((*enc)->finish().ok());
  CHECK((*enc)->frames() == 20000);
  CHECK((*enc)->bytes_out() == flac.size());
  CHECK(audio::sniff_content(flac.data(), flac.size()) == audio::content_kind::flac);

  auto path = temp_dir{};
  write_file(path.file("x.flac"), flac);
  auto src = audio::open_plain_source(path.file("x.flac"));
  REQUIRE(src.ok());
  std::vector<std::int16_t> back;
  auto decoded = audio::decode_flac(**src, [&](const std::int16_t* p, std::size_t n) {
    back.insert(back.end(), p, p + 2 * n);
    return result<void>{};
  });
  REQUIRE(decoded.ok());
  CHECK(decoded->frames == 20000);
  CHECK(decoded->format.rate == 8000);
  CHECK(decoded->format.channels == 2);
  CHECK(decoded->comment == R"({"call_id":"c-1"})");
  CHECK(back == pcm);
}

TEST_CASE("the CCENX pull source delivers what authenticates and says how it ended", "[codec]") {
  data_fixture f;
  std::vector<std::uint8_t> plain(300000);
  for (std::size_t i = 0; i < plain.size(); ++i)
    plain[i] = static_cast<std::uint8_t>(i * 31);
  auto path = f.data_dir() + "/x.ccenx";
  write_ccenx(path, plain, f.ring(), crypto::ccenx_content::unspecified);
  CHECK(audio::ccenx_plaintext_size_hint(path) == plain.size());

  auto read_all = [&](const std::string& p) {
    auto src = audio::ccenx_source::open(p, f.ring().keys.at(f.ring().active_id));
    REQUIRE(src.ok());
    std::vector<std::uint8_t> got(1000);
    std::vector<std::uint8_t> all;
    for (;;) {
      auto n = (*src)->read(got.data(), got.size());
      REQUIRE(n.ok());
      if (*n == 0)
        break;
      all.insert(all.end(), got.begin(), got.begin() + static_cast<std::ptrdiff_t>(*n));
    }
    return std::make_pair(all, (*src)->report());
  };
  auto [all, report] = read_all(path);
  CHECK(all == plain);
  CHECK(report.state == crypto::ccenx_state::complete);

  // Cut after four chunks: an interrupted file yields those four chunks.
  auto bytes = read_file(path);
  const std::size_t chunk = crypto::ccenx_default_chunk + crypto::ccenx_chunk_overhead;
  bytes.resize(crypto::ccenx_header_size + 4 * chunk);
  write_file(path + ".cut", bytes);
  auto [part, cut_report] = read_all(path + ".cut");
  CHECK(cut_report.state == crypto::ccenx_state::interrupted);
  CHECK(part == std::vector<std::uint8_t>(plain.begin(), plain.begin() + 4 * 65536));

  // A consumer that stops early is fine: the helper thread is cancelled.
  auto src = audio::ccenx_source::open(path, f.ring().keys.at(f.ring().active_id));
  REQUIRE(src.ok());
  std::uint8_t one[10];
  CHECK(*(*src)->read(one, sizeof one) == 10);
}

TEST_CASE("content sniffing", "[codec]") {
  auto kind = [](const std::string& s) {
    return audio::sniff_content(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  CHECK(kind(std::string{"CCRAW\x01\0\0", 8}) == audio::content_kind::raw_stream);
  CHECK(kind("fLaC\0\0\0\"") == audio::content_kind::flac);
  CHECK(kind(std::string{"RIFF\x24\0\0\0WAVE", 12}) == audio::content_kind::wav);
  CHECK(kind(std::string{"RIFF\x24\0\0\0AVI ", 12}) == audio::content_kind::unknown);
  CHECK(kind("OggS") == audio::content_kind::ogg);
  CHECK(kind("") == audio::content_kind::unknown);
}

TEST_CASE("a compressed recording verifies, a damaged one does not, and plays only with keys",
          "[codec]") {
  data_fixture f;
  auto row = f.add_raw("v1", synthetic_stream(21, 3, 1));
  transcode_options opts;
  opts.recordings_dir = f.recordings_dir();
  auto done = transcode_recording(f.db(), row, f.keys(), opts);
  REQUIRE(done.ok());
  auto path = f.abs(done->output_path);

  auto ok = verify_recording(path, f.ring(), "complete");
  CHECK(ok.ok());
  CHECK(ok.records == done->frames);
  CHECK_THAT(ok.describe(), Catch::StartsWith("OK " + path + ": complete"));

  auto bytes = read_file(path);
  bytes[bytes.size() / 2] ^= 0x40;
  write_file(path + ".bad", bytes);
  auto bad = verify_recording(path + ".bad", f.ring());
  CHECK_FALSE(bad.ok());
  CHECK(bad.report.code == "chunk_auth_failed");
  auto played = play_recording(path + ".bad", f.ring(), f.data_dir() + "/bad.wav");
  REQUIRE_FALSE(played.ok());
  CHECK(played.error().code == "chunk_auth_failed");
  CHECK_FALSE(fs::exists(f.data_dir() + "/bad.wav"));

  auto locked = play_recording(path, keyring{}, f.data_dir() + "/locked.wav");
  REQUIRE_FALSE(locked.ok());
  CHECK(locked.error().code == "encryption_disabled");
}

TEST_CASE("a recording without audio transcodes to an empty FLAC that plays the same", "[codec]") {
  data_fixture f;
  std::vector<std::uint8_t> stream;
  media::append_raw_magic(stream);
  const std::string meta = R"({"format":"ccraw"})";
  media::append_raw_record(stream, media::record_type::metadata, 0, 0, 0, 0,
                           reinterpret_cast<const std::uint8_t*>(meta.data()), meta.size());
  auto row = f.add_raw("silent", stream);
  auto before = play_bytes(f.abs(row.path), f.ring(), f.data_dir());
  CHECK(before.size() == audio::wav_header_bytes);
  transcode_options opts;
  opts.recordings_dir = f.recordings_dir();
  auto done = transcode_recording(f.db(), row, f.keys(), opts);
  INFO((done ? "" : done.error().message));
  REQUIRE(done.ok());
  CHECK(done->frames == 0);
  CHECK(play_bytes(f.abs(done->output_path), f.ring(), f.data_dir()) == before);
}

}  // namespace
