// The simulator -> engine path on the real captures, over real ZeroMQ and
// UDP on loopback, with the engine in this process so that the test can
// also look at its keys and its log: the decoded audio must equal the
// captured G.711 payloads sample for sample, and neither key bytes nor
// plaintext media may reach the disk or the log.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <sodium.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>

#include "actors/engine.hpp"
#include "actors/keyring.hpp"
#include "actors/recordings.hpp"
#include "crypto/secret.hpp"
#include "simulators/audio_check.hpp"
#include "simulators/call_player.hpp"
#include "simulators/cti_client.hpp"
#include "simulators/pcap_reader.hpp"
#include "storage/database.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using namespace ccrec;
using namespace std::chrono_literals;

constexpr const char* secret_text = "e2e-in-process-secret";

std::shared_ptr<crypto::secret_bytes> make_secret() {
  return std::make_shared<crypto::secret_bytes>(crypto::secret_bytes::copy_of(
      reinterpret_cast<const std::uint8_t*>(secret_text), std::strlen(secret_text)));
}

engine_config config_for(const test::temp_dir& dir) {
  engine_config cfg;
  cfg.data_dir = dir.file("data");
  cfg.kdf_profile = "test";
  cfg.kek_secret = make_secret();
  cfg.cti_endpoint = "tcp://127.0.0.1:*";
  auto base = static_cast<std::uint16_t>(20000 + (getpid() % 200) * 50);
  cfg.media_port_low = base;
  cfg.media_port_high = static_cast<std::uint16_t>(base + 49);
  cfg.random_seed = 7;
  return cfg;
}

std::vector<pbxsim::media_call> real_calls() {
  std::vector<pbxsim::media_call> calls;
  for (auto name : {"call1_pcmu.pcap", "call1_pcma.pcap", "sipp_g711a.pcap"}) {
    auto capture = pbxsim::read_pcap(test::testdata_dir() + "/pcap/" + name);
    REQUIRE(capture.ok());
    for (auto& c : capture->calls)
      calls.push_back(std::move(c));
  }
  return calls;
}

// Every byte of every regular file below `dir`.
std::string everything_under(const std::string& dir) {
  std::string all;
  for (auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file())
      continue;
    std::ifstream in{entry.path(), std::ios::binary};
    all.append(std::istreambuf_iterator<char>(in), {});
  }
  return all;
}

std::string hex(const crypto::secret_bytes& key) {
  std::string out(key.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), key.data(), key.size());
  out.pop_back();
  return out;
}

struct log_capture {
  std::ostringstream text;
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();

  log_capture() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~log_capture() { spdlog::set_default_logger(previous); }
};

}  // namespace

TEST_CASE("the real captures, replayed by the simulator, are recorded sample for sample") {
  test::temp_dir dir;
  log_capture log;
  auto cfg = config_for(dir);
  auto calls = real_calls();
  REQUIRE(calls.size() == 3);

  pbxsim::run_report report;
  {
    caf::actor_system_config sys_cfg;
    add_engine_types(sys_cfg);
    caf::actor_system sys{sys_cfg};
    auto eng = engine::start(sys, cfg);
    if (!eng)
      FAIL(eng.error().message);

    auto cti = pbxsim::cti_client::connect((*eng)->cti_endpoint());
    REQUIRE(cti.ok());
    pbxsim::run_options options;
    options.speed = 8.0;
    report = pbxsim::run_calls(**cti, calls, options);
    (*eng)->stop();
  }
  REQUIRE(report.ok);
  REQUIRE(report.calls.size() == 3);

  auto db = storage::database::open(cfg.database_uri());
  REQUIRE(db.ok());
  auto rows = (*db)->recordings();
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 3);
  auto ring = open_keyring(**db, cfg.kek_secret.get(), keyring_options{"test", false, "test"});
  REQUIRE(ring.ok());
  REQUIRE(ring->keys.size() == 1);

  for (std::size_t i = 0; i < report.calls.size(); ++i) {
    const auto& call = report.calls[i];
    CAPTURE(call.call_id, call.recording_id);
    REQUIRE(call.record);
    auto row = (*db)->recording(call.recording_id);
    REQUIRE(row.ok());
    REQUIRE(row->has_value());
    CHECK((*row)->status == "complete");
    CHECK((*row)->encryption == "ccenx");
    CHECK((*row)->key_id == ring->active_id);

    auto path = cfg.recordings_dir() + "/" + (*row)->path;
    auto verified = verify_recording(path, *ring);
    CHECK(verified.ok());
    auto wav = dir.file(call.recording_id + ".wav");
    auto played = play_recording(path, *ring, wav);
    REQUIRE(played.ok());

    auto checked = pbxsim::check_call_audio(calls[i], wav);
    REQUIRE(checked.ok());
    for (const auto& leg : checked->legs) {
      CAPTURE(leg.name, leg.detail);
      CHECK(leg.ok);
      CHECK(leg.mismatches == 0);
    }
  }

  // Distinct payload samples per leg, duplicates removed, as the captures'
  // provenance states: 592 + 591 packets of 160, 405 + 405 of 160, 236 of 240.
  CHECK(report.calls[0].legs.size() == 2);
  auto sent_samples = [&](std::size_t call, std::size_t leg) {
    auto checked =
        pbxsim::check_call_audio(calls[call], dir.file(report.calls[call].recording_id + ".wav"));
    return checked->legs[leg].expected_samples;
  };
  CHECK(sent_samples(0, 0) + sent_samples(0, 1) == (592 + 591) * 160);
  CHECK(sent_samples(1, 0) == 405 * 160);
  CHECK(sent_samples(1, 1) == 405 * 160);
  CHECK(sent_samples(2, 0) == 236 * 240);

  SECTION("no plaintext media and no key material reach the disk or the log") {
    auto scan = pbxsim::scan_for_plaintext(cfg.data_dir, calls);
    CHECK(scan.files >= 4);  // three recordings and the database
    CHECK(scan.needles > 1000);
    CHECK(scan.hits.empty());

    auto disk = everything_under(cfg.data_dir);
    auto logged = log.text.str();
    CHECK_FALSE(logged.empty());
    for (const auto& [id, key] : ring->keys) {
      std::string raw(reinterpret_cast<const char*>(key->data()), key->size());
      CHECK(disk.find(raw) == std::string::npos);
      CHECK(disk.find(hex(*key)) == std::string::npos);
      CHECK(logged.find(hex(*key)) == std::string::npos);
      CHECK(logged.find(raw) == std::string::npos);
    }
    CHECK(logged.find(secret_text) == std::string::npos);
    CHECK(disk.find(secret_text) == std::string::npos);
  }
}
