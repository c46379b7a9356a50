// encrypt-existing without kills: the dry run changes nothing, a run
// encrypts every plain recording in place and updates its rows, a rerun
// skips what is done, and the results play as the originals did.
#include <filesystem>

#include <catch2/catch.hpp>

#include "actors/audio_codec.hpp"
#include "actors/encrypt_existing.hpp"
#include "actors/recordings.hpp"
#include "tests/transcode/fixture.hpp"

namespace {

using namespace ccrec;
using namespace ccrec::test;
namespace fs = std::filesystem;

struct legacy_dir {
  data_fixture f;
  std::string dir = f.recordings_dir() + "/old";
  std::string raw = dir + "/2018/call-1.raw";
  std::string wav = dir + "/call-2.wav";
  std::string sealed = dir + "/call-3.ccenx";
  std::string text = dir + "/readme.txt";
  std::string leftover = dir + "/call-9.raw" + encrypt_temp_suffix;
  std::string foreign_tmp = dir + "/foreign" + encrypt_temp_suffix;
  std::vector<std::uint8_t> raw_bytes = synthetic_stream(11, 4, 2);
  std::vector<std::uint8_t> wav_bytes;

  legacy_dir() {
    fs::create_directories(dir + "/2018");
    write_file(raw, raw_bytes);
    std::vector<std::int16_t> pcm(8000, 300);
    wav_bytes = audio::wav_header(audio::pcm_format{8000, 1}, pcm.size());
    const auto* p = reinterpret_cast<const std::uint8_t*>(pcm.data());
    wav_bytes.insert(wav_bytes.end(), p, p + pcm.size() * 2);
    write_file(wav, wav_bytes);
    write_ccenx(sealed, synthetic_stream(12, 1, 1), f.ring(),
                crypto::ccenx_content::raw_call_audio);
    write_file(text, {'n', 'o', 't', 'e'});
    write_ccenx(leftover, {9, 9, 9}, f.ring(), crypto::ccenx_content::unspecified);
    write_file(foreign_tmp, {'m', 'i', 'n', 'e'});

    storage::recording_row row;
    row.id = "old-1";
    row.call_id = "c1";
    row.kind = "audio";
    row.path = "old/2018/call-1.raw";
    row.encryption = "none";
    row.status = "complete";
    REQUIRE(f.db().upsert_recording(row).ok());
  }

  encrypt_existing_options options(bool dry_run = false) {
    encrypt_existing_options opts;
    opts.dir = dir;
    opts.recordings_dir = f.recordings_dir();
    opts.dry_run = dry_run;
    return opts;
  }
};

TEST_CASE("encrypt-existing --dry-run lists what it would do and changes nothing",
          "[encrypt_existing]") {
  legacy_dir d;
  auto before = list_files(d.dir);
  auto plan = encrypt_existing(&d.f.db(), d.f.keys(), d.options(true));
  REQUIRE(plan.ok());
  CHECK(plan->planned == std::vector<std::string>{d.raw, d.wav});
  CHECK(plan->encrypted == 0);
  CHECK(plan->already_encrypted == 1);
  CHECK(plan->not_recordings == 2);  // the text file and the foreign temp file
  CHECK(plan->leftovers_removed == 1);
  CHECK(list_files(d.dir) == before);
  CHECK(read_file(d.raw) == d.raw_bytes);
  CHECK((*d.f.db().recording("old-1"))->encryption == "none");
}

TEST_CASE("encrypt-existing encrypts in place, updates rows, and a rerun skips what is done",
          "[encrypt_existing]") {
  legacy_dir d;
  auto raw_played = play_bytes(d.raw, d.f.ring(), d.f.data_dir());

  std::vector<std::size_t> progress;
  auto opts = d.options();
  opts.progress = [&](std::size_t done, std::size_t total, std::uint64_t, std::uint64_t) {
    progress.push_back(done * 10 + total);
  };
  auto done = encrypt_existing(&d.f.db(), d.f.keys(), opts);
  REQUIRE(done.ok());
  CHECK(done->failed.empty());
  CHECK(done->encrypted == 2);
  CHECK(done->already_encrypted == 1);
  CHECK(done->leftovers_removed == 1);
  CHECK(done->rows_updated == 1);
  CHECK(done->bytes == d.raw_bytes.size() + d.wav_bytes.size());
  CHECK(progress == std::vector<std::size_t>{12, 22});

  CHECK(crypto::has_ccenx_magic(d.raw));
  CHECK(crypto::has_ccenx_magic(d.wav));
  CHECK_FALSE(fs::exists(d.leftover));
  CHECK(read_file(d.foreign_tmp) == std::vector<std::uint8_t>{'m', 'i', 'n', 'e'});
  CHECK(read_file(d.text) == std::vector<std::uint8_t>{'n', 'o', 't', 'e'});
  auto raw_header = crypto::read_ccenx_header(d.raw);
  REQUIRE(raw_header.ok());
  CHECK(raw_header->content_type ==
        static_cast<std::uint8_t>(crypto::ccenx_content::raw_call_audio));

  auto row = **d.f.db().recording("old-1");
  CHECK(row.encryption == "ccenx");
  CHECK(row.key_id == d.f.ring().active_id);
  CHECK(row.form == "raw");
  CHECK(row.bytes == static_cast<std::int64_t>(fs::file_size(d.raw)));
  CHECK(verify_recording(d.raw, d.f.ring()).ok());
  CHECK(verify_recording(d.wav, d.f.ring()).ok());

  // They play as before: the raw stream renders the same, the WAV is itself.
  CHECK(play_bytes(d.raw, d.f.ring(), d.f.data_dir()) == raw_played);
  CHECK(play_bytes(d.wav, d.f.ring(), d.f.data_dir()) == d.wav_bytes);

  auto again = encrypt_existing(&d.f.db(), d.f.keys(), d.options());
  REQUIRE(again.ok());
  CHECK(again->encrypted == 0);
  CHECK(again->already_encrypted == 3);
  CHECK(again->rows_updated == 0);
}

TEST_CASE("encrypt-existing needs an active key", "[encrypt_existing]") {
  legacy_dir d;
  auto refused = encrypt_existing(&d.f.db(), transcode_keys{}, d.options());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "encryption_disabled");
  CHECK(read_file(d.raw) == d.raw_bytes);
}

}  // namespace
