// The plaintext report: every recording file still in the clear, in which
// state, since when; orphans in the spool too.
#include <filesystem>

#include <catch2/catch.hpp>

#include "actors/plaintext_report.hpp"
#include "actors/transcoder.hpp"
#include "tests/transcode/fixture.hpp"

namespace {

using namespace ccrec;
using namespace ccrec::test;
namespace fs = std::filesystem;

constexpr std::int64_t started_ms = 1764806400000;  // what the fixture's rows say
constexpr std::int64_t three_days_four_hours_ms = (3 * 24 + 4) * 3600 * 1000;

TEST_CASE("the plaintext report lists every plain file with its state and age", "[report]") {
  data_fixture f;
  std::vector<std::int16_t> pcm(8000 * 2, 1000);
  f.add_raw("e1-encrypted", synthetic_stream(1, 1, 1));
  auto p1 = f.add_plain_wav("p1-pending", pcm);
  auto p2 = f.add_plain_wav("p2-running", pcm, "recording");
  auto p3 = f.add_plain_wav("p3-replaced", pcm);
  auto u1 = f.add_raw("u1-unencrypted", synthetic_stream(2, 1, 1), false);

  // p3 was converted, but a crash came before its plaintext was removed.
  auto compressed = compressed_relative_path(p3);
  fs::create_directories(fs::path{f.abs(compressed)}.parent_path());
  write_ccenx(f.abs(compressed), {1, 2, 3}, f.ring(), crypto::ccenx_content::compressed_audio);
  storage::recording_file_change change;
  change.id = p3.id;
  change.expected_path = p3.path;
  change.new_path = compressed;
  change.form = "compressed";
  change.encryption = "ccenx";
  REQUIRE(*f.db().replace_recording_file(change));

  const auto now = started_ms + three_days_four_hours_ms;
  auto listing = list_plaintext(f.db(), f.recordings_dir(), now);
  REQUIRE(listing.ok());
  std::vector<std::tuple<std::string, std::string, std::string>> got;
  for (const auto& item : listing->items)
    got.emplace_back(item.state, item.recording_id, item.path);
  CHECK(got == std::vector<std::tuple<std::string, std::string, std::string>>{
                   {"pending", "p1-pending", p1.path},
                   {"recording", "p2-running", p2.path},
                   {"replaced", "p3-replaced", p3.path},
                   {"unencrypted", "u1-unencrypted", u1.path},
               });
  for (const auto& item : listing->items)
    CHECK(item.age_seconds == three_days_four_hours_ms / 1000);
  CHECK(listing->oldest_age_seconds == three_days_four_hours_ms / 1000);
  CHECK(format_age(listing->oldest_age_seconds) == "3d 04h");
  CHECK(listing->items[0].bytes == static_cast<std::int64_t>(fs::file_size(f.abs(p1.path))));
  CHECK(listing->items[0].method == "plain_wav");
  CHECK(listing->items[3].method == "none");
}

TEST_CASE("the plaintext report finds orphans in the spool", "[report]") {
  data_fixture f;
  auto orphan = std::string{storage::plaintext_spool_dir} + "/2025/12/04/stray.wav";
  fs::create_directories(fs::path{f.abs(orphan)}.parent_path());
  write_file(f.abs(orphan), {'R', 'I', 'F', 'F', 0, 0});
  // An encrypted file in the spool is not plaintext.
  write_ccenx(f.abs(std::string{storage::plaintext_spool_dir} + "/sealed.bin"), {1}, f.ring(),
              crypto::ccenx_content::unspecified);

  auto listing = list_plaintext(f.db(), f.recordings_dir(), 0);
  REQUIRE(listing.ok());
  REQUIRE(listing->items.size() == 1);
  CHECK(listing->items[0].state == "orphan");
  CHECK(listing->items[0].path == orphan);
  CHECK(listing->items[0].recording_id.empty());
  CHECK(listing->items[0].bytes == 6);
  CHECK(listing->total_bytes == 6);
}

TEST_CASE("ages read as people say them", "[report]") {
  CHECK(format_age(0) == "0s");
  CHECK(format_age(59) == "59s");
  CHECK(format_age(61) == "1m 01s");
  CHECK(format_age(3600 * 2 + 5 * 60) == "2h 05m");
  CHECK(format_age(86400 * 10 + 3600) == "10d 01h");
  CHECK(format_age(-5) == "0s");
}

}  // namespace
