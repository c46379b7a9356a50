// The plain-WAV method's writer, fed the engine's raw-stream batches: the
// WAV it leaves is, byte for byte, what `ccrec play` renders from the same
// stream recorded the normal way; and after a crash (no finish) its header
// has caught up at the last flush and the transcoder reads all of it.
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include "actors/audio_codec.hpp"
#include "actors/engine.hpp"
#include "actors/plain_wav_writer.hpp"
#include "actors/transcoder.hpp"
#include "tests/transcode/fixture.hpp"

namespace {

using namespace ccrec;
using namespace ccrec::test;
namespace fs = std::filesystem;

constexpr std::size_t batch_bytes = 32 * 1024;  // as the media receiver batches
constexpr auto reply_timeout = std::chrono::seconds{10};

struct system_env {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  system_env() : sys((add_engine_types(cfg), cfg)) {}
};

// Sends `stream` in batches; the first bytes (magic and metadata) are the
// writer's preamble, as the session hands them over.
caf::actor start_writer(caf::actor_system& sys, const std::string& path,
                        const std::vector<std::uint8_t>& stream, std::size_t preamble) {
  plain_wav_writer_args args;
  args.path = path;
  args.preamble.assign(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(preamble));
  args.flush_interval_ms = 20;
  auto writer = sys.spawn(plain_wav_writer, std::move(args));
  for (std::size_t at = preamble; at < stream.size(); at += batch_bytes) {
    write_batch batch;
    auto end = std::min(stream.size(), at + batch_bytes);
    batch.bytes.assign(stream.begin() + static_cast<std::ptrdiff_t>(at),
                       stream.begin() + static_cast<std::ptrdiff_t>(end));
    batch.packets = 1;
    caf::anon_send(writer, write_atom::value, batch);
  }
  return writer;
}

std::size_t preamble_size(const std::vector<std::uint8_t>& stream) {
  // Magic (8) and the metadata record: header (16) plus its payload size.
  const std::uint32_t meta = stream[12] | (stream[13] << 8) | (stream[14] << 16) |
                             (static_cast<std::uint32_t>(stream[15]) << 24);
  return 8 + 16 + meta;
}

TEST_CASE("the plain-WAV writer leaves exactly the WAV playback renders from the raw stream",
          "[plain_wav]") {
  data_fixture f;
  system_env env;
  for (int reorder : {1, 40}) {
    auto stream = synthetic_stream(70 + static_cast<std::uint64_t>(reorder), 12, reorder);
    auto row = f.add_raw("ref-" + std::to_string(reorder), stream);
    auto expected = play_bytes(f.abs(row.path), f.ring(), f.data_dir());

    auto path = f.data_dir() + "/method-" + std::to_string(reorder) + ".wav";
    auto writer = start_writer(env.sys, path, stream, preamble_size(stream));
    caf::scoped_actor self{env.sys};
    file_summary summary;
    self->request(writer, reply_timeout, finish_atom::value)
        .receive([&](file_summary& s) { summary = s; },
                 [](caf::error& e) { FAIL(caf::to_string(e)); });
    CHECK(summary.status == "complete");
    CHECK(summary.error.empty());
    CHECK(summary.bytes == expected.size());
    CHECK(read_file(path) == expected);
    struct stat sb {};
    REQUIRE(::stat(path.c_str(), &sb) == 0);
    CHECK((sb.st_mode & 0777) == 0600);
  }
}

TEST_CASE("a plain WAV cut short by a crash is transcoded up to its last flushed sample",
          "[plain_wav]") {
  data_fixture f;
  system_env env;
  auto stream = synthetic_stream(80, 6, 1);
  auto row = f.add_plain_wav("crashed", {});
  fs::remove(f.abs(row.path));
  auto writer = start_writer(env.sys, f.abs(row.path), stream, preamble_size(stream));
  // Let the timer flush everything, then "crash": the actor is killed, no finish.
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  caf::anon_send_exit(writer, caf::exit_reason::kill);
  auto bytes = read_file(f.abs(row.path));
  REQUIRE(bytes.size() > audio::wav_header_bytes);
  const std::uint32_t data_len = bytes[40] | (bytes[41] << 8) | (bytes[42] << 16) |
                                 (static_cast<std::uint32_t>(bytes[43]) << 24);
  CHECK(data_len == bytes.size() - audio::wav_header_bytes);

  transcode_options opts;
  opts.recordings_dir = f.recordings_dir();
  auto done = transcode_recording(f.db(), **f.db().recording("crashed"), f.keys(), opts);
  INFO((done ? "" : done.error().message));
  REQUIRE(done.ok());
  CHECK(done->frames == (bytes.size() - audio::wav_header_bytes) / 4);
  CHECK(play_bytes(f.abs(done->output_path), f.ring(), f.data_dir()) == bytes);
}

}  // namespace
