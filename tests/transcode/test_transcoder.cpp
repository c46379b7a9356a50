// The transcoder on real files and a real database: what it writes decodes
// to exactly the audio `ccrec play` renders from the raw recording; the row
// follows; the source goes only after; compression ratio and speed.
#include <unistd.h>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <catch2/catch.hpp>

#include "actors/audio_codec.hpp"
#include "actors/recordings.hpp"
#include "actors/transcoder.hpp"
#include "tests/transcode/fixture.hpp"

namespace {

using namespace ccrec;
using namespace ccrec::test;
namespace fs = std::filesystem;

transcode_options options_for(const data_fixture& f) {
  transcode_options opts;
  opts.recordings_dir = f.recordings_dir();
  return opts;
}

// Transcodes one row and checks the invariants every success must hold.
transcode_outcome transcode_and_check(data_fixture& f, const storage::recording_row& row,
                                      const transcode_options& opts) {
  auto done = transcode_recording(f.db(), row, f.keys(), opts);
  INFO((done ? std::string{} : done.error().message));
  REQUIRE(done.ok());
  CHECK_FALSE(fs::exists(f.abs(row.path)));
  CHECK(fs::exists(f.abs(done->output_path)));
  CHECK_FALSE(fs::exists(f.abs(done->output_path) + ".tmp"));

  auto after = f.db().recording(row.id);
  REQUIRE(after.ok());
  REQUIRE(after->has_value());
  const auto& r = **after;
  CHECK(r.path == done->output_path);
  CHECK(r.form == "compressed");
  CHECK(r.encryption == "ccenx");
  CHECK(r.key_id == f.ring().active_id);
  CHECK(r.replaced_path.empty());
  CHECK(r.settled_ms > 0);
  CHECK(r.bytes == static_cast<std::int64_t>(fs::file_size(f.abs(done->output_path))));
  CHECK(r.status == row.status);

  auto header = crypto::read_ccenx_header(f.abs(done->output_path));
  REQUIRE(header.ok());
  CHECK(header->content_type == static_cast<std::uint8_t>(crypto::ccenx_content::compressed_audio));
  return *done;
}

std::string figures(const transcode_outcome& d, std::size_t wav_bytes) {
  const double seconds = static_cast<double>(d.frames) / audio::telephony_rate;
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << seconds << " s of audio: raw file " << d.source_bytes
      << " B -> compressed " << d.output_bytes << " B (ratio "
      << static_cast<double>(d.source_bytes) / static_cast<double>(d.output_bytes)
      << " : 1; 16-bit stereo WAV " << wav_bytes << " B, ratio "
      << static_cast<double>(wav_bytes) / static_cast<double>(d.output_bytes) << " : 1); "
      << std::setprecision(0) << seconds / d.cpu_seconds
      << " audio seconds per CPU second (encode + verify)";
  return out.str();
}

TEST_CASE("a transcoded real call decodes to exactly the audio of the raw recording",
          "[transcode]") {
  data_fixture f;
  for (std::string name : {"call1_pcmu.pcap", "call1_pcma.pcap"}) {
    auto stream = stream_from_capture(name);
    auto row = f.add_raw("real-" + name.substr(6, 4), stream);
    auto before = play_bytes(f.abs(row.path), f.ring(), f.data_dir());
    REQUIRE(before.size() > audio::wav_header_bytes);

    auto done = transcode_and_check(f, row, options_for(f));
    auto after = play_bytes(f.abs(done.output_path), f.ring(), f.data_dir());
    CHECK(after == before);
    CHECK(done.frames == (before.size() - audio::wav_header_bytes) / 4);
    CHECK(done.render_passes == 1);
    std::cout << "[transcode] " << name << ": " << figures(done, before.size()) << "\n";
  }
}

TEST_CASE("ten minutes of real speech: compression ratio and transcoding speed",
          "[transcode][figures]") {
  data_fixture f;
  auto stream = stream_from_capture("call1_pcmu.pcap", 51);  // about 10 minutes
  auto row = f.add_raw("long-call", stream);
  auto before = play_bytes(f.abs(row.path), f.ring(), f.data_dir());

  auto done = transcode_and_check(f, row, options_for(f));
  CHECK(play_bytes(f.abs(done.output_path), f.ring(), f.data_dir()) == before);
  CHECK(done.frames > 8000u * 600);
  // FLAC must actually compress the decoded G.711 (both legs, 16-bit).
  CHECK(static_cast<double>(before.size()) / static_cast<double>(done.output_bytes) > 1.5);
  std::cout << "[transcode] 10-minute call: " << figures(done, before.size()) << "\n";
}

TEST_CASE("reordered and overlapping records render identically in one pass or in slices",
          "[transcode]") {
  data_fixture f;
  for (int reorder : {1, 12, 200}) {
    auto stream = synthetic_stream(42 + static_cast<std::uint64_t>(reorder), 20, reorder);
    std::string id = "synth-" + std::to_string(reorder);
    auto one = f.add_raw(id + "-one", stream);
    auto sliced = f.add_raw(id + "-sliced", stream);
    auto before = play_bytes(f.abs(one.path), f.ring(), f.data_dir());

    auto whole = transcode_and_check(f, one, options_for(f));
    CHECK(whole.render_passes == 1);
    CHECK(play_bytes(f.abs(whole.output_path), f.ring(), f.data_dir()) == before);

    // A memory bound below the stream's reordering (every stream here has
    // records placed over 1000 frames behind the furthest end) forces slices.
    auto opts = options_for(f);
    opts.max_window_frames = 500;
    auto parts = transcode_and_check(f, sliced, opts);
    CHECK(parts.render_passes == (whole.frames + 499) / 500);
    CHECK(play_bytes(f.abs(parts.output_path), f.ring(), f.data_dir()) == before);
  }
}

TEST_CASE("a raw recording written plain (encryption was off) is transcoded and encrypted",
          "[transcode]") {
  data_fixture f;
  auto stream = synthetic_stream(9, 5, 4);
  auto row = f.add_raw("plain-raw", stream, false);
  auto before = play_bytes(f.abs(row.path), f.ring(), f.data_dir());
  auto done = transcode_and_check(f, row, options_for(f));
  CHECK(crypto::has_ccenx_magic(f.abs(done.output_path)));
  CHECK(play_bytes(f.abs(done.output_path), f.ring(), f.data_dir()) == before);
}

TEST_CASE("an interrupted raw recording keeps what authenticates", "[transcode]") {
  data_fixture f;
  auto stream = synthetic_stream(5, 8, 1);
  auto row = f.add_raw("cut", stream, true, "interrupted");
  // Cut the file after its second chunk: a crash before the final chunk.
  auto bytes = read_file(f.abs(row.path));
  const std::size_t chunk = crypto::ccenx_default_chunk + crypto::ccenx_chunk_overhead;
  REQUIRE(bytes.size() > crypto::ccenx_header_size + 2 * chunk);
  bytes.resize(crypto::ccenx_header_size + 2 * chunk);
  fs::remove(f.abs(row.path));
  write_file(f.abs(row.path), bytes);
  auto before = play_bytes(f.abs(row.path), f.ring(), f.data_dir());

  auto done = transcode_and_check(f, row, options_for(f));
  CHECK(play_bytes(f.abs(done.output_path), f.ring(), f.data_dir()) == before);
  auto after = f.db().recording(row.id);
  CHECK((*after)->status == "interrupted");
}

TEST_CASE("a plain WAV from the plain-WAV method becomes an encrypted FLAC, plaintext gone",
          "[transcode]") {
  data_fixture f;
  std::vector<std::int16_t> pcm;
  for (int i = 0; i < 8000 * 7; ++i) {
    pcm.push_back(static_cast<std::int16_t>((i * 37) % 2000 - 1000));
    pcm.push_back(static_cast<std::int16_t>(i % 400 < 200 ? 0 : (i * 11) % 3000));
  }
  auto row = f.add_plain_wav("spooled", pcm);
  CHECK(row.form == "plain_wav");
  CHECK(row.method == "plain_wav");
  auto before = read_file(f.abs(row.path));

  auto done = transcode_and_check(f, row, options_for(f));
  CHECK(done.source_form == "plain_wav");
  CHECK(done.output_path == "2025/12/04/spooled.flac.ccenx");
  CHECK(done.frames == pcm.size() / 2);
  CHECK(play_bytes(f.abs(done.output_path), f.ring(), f.data_dir()) == before);
  auto plain = f.db().recordings_in_form("plain_wav");
  REQUIRE(plain.ok());
  CHECK(plain->empty());
}

TEST_CASE("the queue is the database: finished raw recordings only, oldest first", "[transcode]") {
  data_fixture f;
  auto stream = synthetic_stream(3, 2, 1);
  f.add_raw("a-complete", stream, true, "complete");
  f.add_raw("b-recording", stream, true, "recording");
  f.add_raw("c-failed", stream, true, "failed");
  f.add_raw("d-interrupted", stream, true, "interrupted");
  auto queue = f.db().recordings_to_transcode();
  REQUIRE(queue.ok());
  std::vector<std::string> ids;
  for (const auto& r : *queue)
    ids.push_back(r.id);
  CHECK(ids == std::vector<std::string>{"a-complete", "d-interrupted"});

  // A new process (a restart) sees the same queue; a backlog run empties it.
  auto db2 = storage::database::open(f.db_uri());
  REQUIRE(db2.ok());
  auto done = transcode_backlog(**db2, f.keys(), options_for(f));
  REQUIRE(done.ok());
  CHECK(done->done.size() == 2);
  CHECK(done->failed.empty());
  auto empty = f.db().recordings_to_transcode();
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("a damaged source is left alone with its row", "[transcode]") {
  data_fixture f;
  auto row = f.add_raw("damaged", synthetic_stream(4, 3, 1));
  auto bytes = read_file(f.abs(row.path));
  bytes[crypto::ccenx_header_size + 100] ^= 0x01;
  fs::remove(f.abs(row.path));
  write_file(f.abs(row.path), bytes);

  auto done = transcode_recording(f.db(), row, f.keys(), options_for(f));
  REQUIRE_FALSE(done.ok());
  CHECK(done.error().code == "source_damaged");
  CHECK(read_file(f.abs(row.path)) == bytes);
  CHECK(list_files(f.recordings_dir()) == std::vector<std::string>{row.path});
  auto after = f.db().recording(row.id);
  CHECK((*after)->form == "raw");
  CHECK((*after)->path == row.path);
}

TEST_CASE("without an active key the transcoder refuses: it only writes encrypted files",
          "[transcode]") {
  data_fixture f;
  auto row = f.add_raw("no-key", synthetic_stream(6, 1, 1));
  transcode_keys none;
  auto done = transcode_recording(f.db(), row, none, options_for(f));
  REQUIRE_FALSE(done.ok());
  CHECK(done.error().code == "encryption_disabled");
  CHECK(fs::exists(f.abs(row.path)));
}

}  // namespace
