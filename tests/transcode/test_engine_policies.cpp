// The encryption exceptions through the running engine: real actors, real
// UDP media, a real SQLite file. The plain-WAV method writes a WAV into the
// spool, the row says plaintext is pending, the report lists it, and the
// engine's transcoder (after a restart: the queue is the database) encrypts
// it and removes the plaintext. The XML policy writes nothing, plain XML or
// CCENX XML, and every row says which applied.
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <catch2/catch.hpp>

#include "actors/encryption_policy.hpp"
#include "actors/plaintext_report.hpp"
#include "actors/recordings.hpp"
#include "crypto/ccenx.hpp"
#include "media/g711.hpp"
#include "tests/actors/engine_harness.hpp"
#include "tests/transcode/fixture.hpp"

namespace {

using namespace ccrec;
using namespace ccrec::test;
namespace fs = std::filesystem;

constexpr std::size_t caller_packets = 10;
constexpr std::size_t agent_packets = 5;
constexpr auto settle_timeout = std::chrono::seconds{15};

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

mode_t mode_of(const std::string& path) {
  struct stat sb {};
  REQUIRE(::stat(path.c_str(), &sb) == 0);
  return sb.st_mode & 0777;
}

engine_config policy_config(const temp_dir& dir) {
  auto cfg = test_config(dir);
  cfg.transcode_interval_ms = 100;
  cfg.transcode_delay_ms = 0;
  return cfg;
}

// One call from `pbx`: offered, answered, some RTP on both legs, ended.
// Returns the recording id.
std::string record_call(caf::scoped_actor& self, engine& eng, const std::string& call_id,
                        const std::string& pbx, std::int64_t seq,
                        const std::function<void(const std::string&)>& during = {}) {
  auto offered = call_offered(seq, call_id);
  offered.pbx = pbx;
  REQUIRE(send_event(self, eng.call_manager(), offered).ok);
  auto answered_ev = call_answered(seq + 1, call_id, "agent-7");
  answered_ev.pbx = pbx;
  answered_ev.from = "+15550001";
  auto answered = send_event(self, eng.call_manager(), answered_ev);
  REQUIRE(answered.ok);
  REQUIRE(answered.record);
  auto caller = endpoint_named(answered, "caller");
  auto agent = endpoint_named(answered, "agent");
  REQUIRE(caller);
  REQUIRE(agent);

  udp_sender udp;
  for (std::size_t k = 0; k < caller_packets; ++k)
    udp.send(caller->port, rtp_packet(static_cast<std::uint16_t>(100 + k),
                                      static_cast<std::uint32_t>(k * g711_frame_bytes), 0xabc,
                                      [k](std::size_t j) {
                                        return static_cast<std::uint8_t>(0x20 + k + (j % 2) * 0x80);
                                      }));
  for (std::size_t k = 0; k < agent_packets; ++k)
    udp.send(agent->port, rtp_packet(static_cast<std::uint16_t>(900 + k),
                                     static_cast<std::uint32_t>(k * g711_frame_bytes), 0xdef,
                                     [k](std::size_t j) {
                                       return static_cast<std::uint8_t>(0x30 + k + (j % 2) * 0x80);
                                     }));
  std::this_thread::sleep_for(media_settle);
  if (during)
    during(answered.recording_id);
  REQUIRE(send_event(self, eng.call_manager(), call_event(seq + 2, "call_ended", call_id)).ok);
  return answered.recording_id;
}

// Polls the row until `done` says so, or the deadline passes.
storage::recording_row wait_row(const std::string& db_uri, const std::string& id,
                                const std::function<bool(const storage::recording_row&)>& done) {
  auto db = storage::database::open(db_uri);
  REQUIRE(db.ok());
  auto deadline = std::chrono::steady_clock::now() + settle_timeout;
  storage::recording_row last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto row = (*db)->recording(id);
    if (row && row->has_value()) {
      last = **row;
      if (done(last))
        return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  FAIL("recording " << id << " did not settle: form " << last.form << ", status " << last.status
                    << ", xml_policy '" << last.xml_policy << "'");
  return last;
}

std::size_t non_silent(const std::vector<std::int16_t>& channel) {
  std::size_t n = 0;
  for (auto s : channel)
    n += s != 0 ? 1 : 0;
  return n;
}

TEST_CASE("plain-WAV method: plaintext in the spool, marked pending, encrypted after a restart",
          "[engine][policy]") {
  temp_dir dir;
  auto cfg = policy_config(dir);
  cfg.pbx = {pbx_integration{"shoretel", method_plain_wav, ""}};
  cfg.transcode = false;  // first run: the WAV stays, as behind a busy transcoder
  auto scratch = dir.file("played.wav");
  std::string id;
  std::vector<std::uint8_t> played;
  {
    actor_env env;
    auto eng = start_engine(env.sys(), cfg);
    caf::scoped_actor self{env.sys()};
    id = record_call(self, *eng, "tapi-1", "shoretel", 1, [&](const std::string& rid) {
      // While the call runs: a plain WAV in the spool, private.
      auto spool = cfg.recordings_dir() + "/" + storage::plaintext_spool_dir;
      CHECK(mode_of(spool) == 0700);
      auto files = list_files(spool);
      REQUIRE(files.size() == 1);
      CHECK(fs::path{files[0]}.filename() == rid + ".wav");
      CHECK(mode_of(spool + "/" + files[0]) == 0600);
      CHECK_FALSE(crypto::has_ccenx_magic(spool + "/" + files[0]));
    });
    auto row = wait_row(cfg.database_uri(), id, [](const storage::recording_row& r) {
      return r.status == "complete" && r.xml_policy == xml_off;
    });
    CHECK(row.form == "plain_wav");
    CHECK(row.method == method_plain_wav);
    CHECK(row.encryption == "none");
    CHECK(row.key_id == 0);
    CHECK(row.path.rfind(std::string{storage::plaintext_spool_dir} + "/", 0) == 0);
    CHECK(row.packets == caller_packets + agent_packets);

    // The report lists it, with its age.
    auto db = storage::database::open(cfg.database_uri());
    REQUIRE(db.ok());
    auto listing = list_plaintext(**db, cfg.recordings_dir(), now_ms());
    REQUIRE(listing.ok());
    REQUIRE(listing->items.size() == 1);
    CHECK(listing->items[0].state == "pending");
    CHECK(listing->items[0].recording_id == id);
    CHECK(listing->items[0].method == method_plain_wav);
    CHECK(listing->items[0].bytes ==
          static_cast<std::int64_t>(fs::file_size(cfg.recordings_dir() + "/" + row.path)));
    CHECK(listing->items[0].age_seconds >= 0);
    CHECK(listing->items[0].age_seconds < 60);

    auto wav = read_wav(cfg.recordings_dir() + "/" + row.path);
    CHECK(wav.channels == 2);
    CHECK(wav.rate == 8000);
    CHECK(non_silent(wav.left) == caller_packets * g711_frame_bytes);
    CHECK(non_silent(wav.right) == agent_packets * g711_frame_bytes);
    played = read_file(cfg.recordings_dir() + "/" + row.path);
    eng->stop();
  }

  // Second run, transcoder on: the queue comes from the database.
  cfg.transcode = true;
  actor_env env;
  auto eng = start_engine(env.sys(), cfg);
  auto row = wait_row(cfg.database_uri(), id,
                      [](const storage::recording_row& r) { return r.form == "compressed"; });
  wait_row(cfg.database_uri(), id,
           [](const storage::recording_row& r) { return r.replaced_path.empty(); });
  CHECK(row.method == method_plain_wav);  // the exception stays on record
  CHECK(row.encryption == "ccenx");
  CHECK(list_files(cfg.recordings_dir() + "/" + storage::plaintext_spool_dir).empty());
  auto ring = open_test_keyring(cfg.database_uri());
  CHECK(play_bytes(cfg.recordings_dir() + "/" + row.path, ring, dir.path()) == played);
  auto db = storage::database::open(cfg.database_uri());
  auto listing = list_plaintext(**db, cfg.recordings_dir(), now_ms());
  REQUIRE(listing.ok());
  CHECK(listing->items.empty());
}

TEST_CASE("the engine transcodes a finished raw recording and it plays the same",
          "[engine][policy]") {
  temp_dir dir;
  auto cfg = policy_config(dir);
  actor_env env;
  auto eng = start_engine(env.sys(), cfg);
  caf::scoped_actor self{env.sys()};
  std::vector<std::uint8_t> raw_played;
  auto ring = open_test_keyring(cfg.database_uri());
  auto id = record_call(self, *eng, "plain-1", "test-pbx", 1);
  auto raw = wait_final_recording(cfg.database_uri(), id);
  REQUIRE(raw);
  // The raw file may already be gone: the transcoder takes it at once.
  auto row = wait_row(cfg.database_uri(), id, [](const storage::recording_row& r) {
    return r.form == "compressed" && r.replaced_path.empty();
  });
  CHECK(row.method == method_ccenx);
  CHECK(row.xml_policy == xml_off);
  CHECK_FALSE(fs::exists(cfg.recordings_dir() + "/" + raw->path));
  auto wav = dir.file("out.wav");
  auto played = play_recording(cfg.recordings_dir() + "/" + row.path, ring, wav);
  REQUIRE(played.ok());
  auto samples = read_wav(wav);
  CHECK(non_silent(samples.left) == caller_packets * g711_frame_bytes);
  CHECK(non_silent(samples.right) == agent_packets * g711_frame_bytes);
  CHECK(verify_recording(cfg.recordings_dir() + "/" + row.path, ring).ok());
}

TEST_CASE("metadata XML policy off, plain and encrypted, per PBX integration", "[engine][policy]") {
  temp_dir dir;
  auto cfg = policy_config(dir);
  cfg.transcode = false;
  cfg.pbx = {pbx_integration{"p-off", method_ccenx, xml_off},
             pbx_integration{"p-plain", method_ccenx, xml_plain},
             pbx_integration{"p-enc", method_ccenx, xml_encrypted}};
  cfg.metadata_xml = xml_plain;  // the engine default, overridden by each integration

  auto exceptions = encryption_policy{cfg}.exceptions();
  CHECK(exceptions ==
        std::vector<std::string>{"engine: metadata_xml plain (per-call XML metadata files)",
                                 "pbx 'p-enc': metadata_xml encrypted",
                                 "pbx 'p-plain': metadata_xml plain"});

  actor_env env;
  auto eng = start_engine(env.sys(), cfg);
  caf::scoped_actor self{env.sys()};
  std::map<std::string, std::string> ids;
  std::int64_t seq = 1;
  for (std::string pbx : {"p-off", "p-plain", "p-enc"}) {
    ids[pbx] = record_call(self, *eng, "xml-" + pbx, pbx, seq);
    seq += 3;
  }
  auto noted = [](const storage::recording_row& r) {
    return r.status == "complete" && !r.xml_policy.empty();
  };
  auto ring = open_test_keyring(cfg.database_uri());

  auto off = wait_row(cfg.database_uri(), ids["p-off"], noted);
  CHECK(off.xml_policy == xml_off);
  CHECK(off.xml_path.empty());

  auto plain = wait_row(cfg.database_uri(), ids["p-plain"], noted);
  CHECK(plain.xml_policy == xml_plain);
  CHECK(plain.xml_path == fs::path{plain.path}.parent_path().string() + "/" + plain.id + ".xml");
  auto xml_bytes = read_file(cfg.recordings_dir() + "/" + plain.xml_path);
  std::string xml(xml_bytes.begin(), xml_bytes.end());
  CHECK(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<call id=\"xml-p-plain\">", 0) == 0);
  CHECK_THAT(xml, Catch::Contains("<pbx>p-plain</pbx>"));
  CHECK_THAT(xml, Catch::Contains("<agent>agent-7</agent>"));
  CHECK_THAT(xml, Catch::Contains("<schedule>record-all</schedule>"));
  CHECK_THAT(xml, Catch::Contains("method=\"ccenx\" metadata_xml=\"plain\""));
  CHECK_THAT(xml,
             Catch::Contains("<file kind=\"audio\" status=\"complete\">" + plain.path + "</file>"));
  CHECK(mode_of(cfg.recordings_dir() + "/" + plain.xml_path) == 0600);

  auto enc = wait_row(cfg.database_uri(), ids["p-enc"], noted);
  CHECK(enc.xml_policy == xml_encrypted);
  CHECK(enc.xml_path == fs::path{enc.path}.parent_path().string() + "/" + enc.id + ".xml.ccenx");
  auto enc_path = cfg.recordings_dir() + "/" + enc.xml_path;
  REQUIRE(crypto::has_ccenx_magic(enc_path));
  auto header = crypto::read_ccenx_header(enc_path);
  REQUIRE(header.ok());
  CHECK(header->content_type == static_cast<std::uint8_t>(crypto::ccenx_content::metadata));
  std::string decrypted;
  auto report =
      crypto::read_ccenx(enc_path, ring.resolver(), [&](const std::uint8_t* d, std::size_t n) {
        decrypted.append(reinterpret_cast<const char*>(d), n);
      });
  CHECK(report.state == crypto::ccenx_state::complete);
  CHECK_THAT(decrypted, Catch::Contains("<call id=\"xml-p-enc\">"));
  CHECK_THAT(decrypted, Catch::Contains("metadata_xml=\"encrypted\""));

  // Only the plain XML is plaintext on disk; it is metadata, not audio, and
  // the report of plaintext recordings does not list it.
  auto db = storage::database::open(cfg.database_uri());
  auto listing = list_plaintext(**db, cfg.recordings_dir(), now_ms());
  REQUIRE(listing.ok());
  CHECK(listing->items.empty());
}

}  // namespace
