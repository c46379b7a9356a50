// Acceptance: the engine (the real `ccrec serve`, a child process) is
// SIGKILLed during a database outage and restarted after the database is
// back. The journal is replayed, nothing is lost, the recordings the kill
// cut off are marked interrupted and are readable up to the kill, and
// `ccrec status`, `ccrec verify` and `ccrec play` say so.
#include <catch2/catch.hpp>

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "tests/outage/outage_harness.hpp"
#include "tests/support/pg_server.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

constexpr int calls_before = 20;
constexpr int ended_during = 5;
constexpr int started_during = 5;
constexpr std::uint16_t child_ports = 200;
constexpr milliseconds ready_limit{30000};
constexpr milliseconds state_limit{20000};
// Long enough for the last media batch and its chunk to be sealed (batches
// every 250 ms, chunks every 200 ms in the test config).
constexpr milliseconds seal_margin{1500};
constexpr int exit_killed = 128 + SIGKILL;

std::string endpoint_from(const std::string& ready_file) {
  auto text = read_file(ready_file);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  return text;
}

struct started_call {
  std::string recording_id;
  std::uint16_t caller_port = 0;
  std::uint16_t agent_port = 0;
};

started_call start_call(cti_client& cti, rtp_pump& pump, const std::string& id) {
  auto offered = cti.offered(id);
  REQUIRE(offered.value("ok", false));
  auto answered = cti.answered(id, "agent-" + id);
  INFO(answered.dump());
  REQUIRE(answered.value("ok", false));
  REQUIRE(answered.value("record", false));
  started_call out;
  out.recording_id = answered.at("recording_id").get<std::string>();
  out.caller_port = answered.at("media").at("caller").at("port").get<std::uint16_t>();
  out.agent_port = answered.at("media").at("agent").at("port").get<std::uint16_t>();
  pump.start_call(id, out.caller_port, out.agent_port);
  return out;
}

}  // namespace

TEST_CASE("an engine killed during an outage replays its journal and marks what it cut off",
          "[outage][kill][postgresql]") {
  auto& pg = shared_pg_server();
  auto uri = fresh_database("outage_kill");
  temp_dir dir;
  auto [low, high] = media_ports(child_ports, 1);
  auto config = write_engine_config(dir, uri, low, high);
  auto data_dir = dir.file("data");
  auto ready = dir.file("ready");
  const std::vector<std::string> serve = {ccrec_binary(), "serve",        "--config",
                                          config,         "--ready-file", ready};

  auto engine = std::make_unique<child_process>(serve, dir.file("engine-1.log"));
  REQUIRE(wait_for_file(ready, ready_limit));
  cti_client cti{endpoint_from(ready)};
  rtp_pump pump;

  std::map<std::string, std::string> recording_of;
  std::vector<std::string> first;
  for (int i = 0; i < calls_before; ++i) {
    first.push_back(call_name("kill", i));
    recording_of[first.back()] = start_call(cti, pump, first.back()).recording_id;
  }
  std::this_thread::sleep_for(seconds{2});

  pg.stop_immediate();
  auto [down, seen_down] = wait_status_file(data_dir, state_limit, [](const nlohmann::json& j) {
    return !j.at("database").at("up").get<bool>();
  });
  REQUIRE(seen_down);

  // During the outage: some calls end (their final rows exist only in the
  // journal), new ones start (their every row exists only in the journal).
  std::map<std::string, std::uint32_t> sent;
  for (int i = 0; i < ended_during; ++i)
    sent[first[i]] = pump.stop_call(first[i])[0];
  std::this_thread::sleep_for(pump_settle);
  for (int i = 0; i < ended_during; ++i)
    REQUIRE(cti.ended(first[i]).value("ok", false));
  std::vector<std::string> second;
  for (int i = 0; i < started_during; ++i) {
    second.push_back(call_name("late", i));
    recording_of[second.back()] = start_call(cti, pump, second.back()).recording_id;
  }
  std::this_thread::sleep_for(seconds{2});

  auto shown = run_ccrec({"status", "--config", config}, dir);
  INFO(shown.output);
  CHECK(shown.status == 0);
  CHECK(contains(shown.output, "DOWN since"));
  CHECK(contains(shown.output, "serving from memory while the database is down"));
  auto [waiting, seen_waiting] = wait_status_file(
      data_dir, state_limit,
      [](const nlohmann::json& j) { return j.at("journal").at("depth").get<int>() > 0; });
  CHECK(seen_waiting);

  // Media pauses, every byte received is sealed, then the kill.
  std::vector<std::string> cut_off(first.begin() + ended_during, first.end());
  cut_off.insert(cut_off.end(), second.begin(), second.end());
  for (const auto& id : cut_off)
    sent[id] = pump.stop_call(id)[0];
  std::this_thread::sleep_for(seal_margin);
  auto journal_copy = read_file(data_dir + "/journal/metadata.jnl");
  CHECK(contains(journal_copy, "\"late-00\""));
  engine->signal(SIGKILL);
  REQUIRE(engine->wait_exit(seconds{10}) == exit_killed);

  auto gone = run_ccrec({"status", "--config", config}, dir);
  CHECK(gone.status == 1);
  CHECK(contains(gone.output, "is gone"));

  // The database returns; then the engine.
  pg.restart();
  std::filesystem::remove(ready);
  engine = std::make_unique<child_process>(serve, dir.file("engine-2.log"));
  REQUIRE(wait_for_file(ready, ready_limit));
  auto [settled, seen_settled] =
      wait_status_file(data_dir, state_limit, [](const nlohmann::json& j) {
        return j.at("database").at("up").get<bool>() && j.at("journal").at("depth") == 0;
      });
  INFO(settled.dump(2));
  REQUIRE(seen_settled);
  CHECK(settled.at("journal").at("replayed").get<int>() > 0);
  auto restarted_log = read_file(dir.file("engine-2.log"));
  CHECK(contains(restarted_log, "was left unfinished by a previous run: marked interrupted"));
  CHECK(contains(restarted_log, "metadata journal: replaying"));

  auto up = run_ccrec({"status", "--config", config}, dir);
  CHECK(up.status == 0);
  CHECK(contains(up.output, "up since"));
  CHECK(contains(up.output, "0 row(s) waiting"));

  engine->signal(SIGTERM);
  REQUIRE(engine->wait_exit(seconds{30}) == 0);

  // One row per call and per recording; the kill's victims interrupted.
  const std::size_t total = calls_before + started_during;
  auto rows = rows_exactly(uri, total);
  std::set<std::string> ended(first.begin(), first.begin() + ended_during);
  for (const auto& c : rows.calls)
    CHECK(c.state == (ended.count(c.call_id) ? "ended" : "answered"));

  auto ring = open_keys(uri);
  int interrupted = 0;
  std::string an_interrupted_id;
  std::string an_interrupted_call;
  std::string an_interrupted_file;
  std::string a_complete_file;
  for (const auto& r : rows.recordings) {
    INFO("recording " << r.id << " of call " << r.call_id << ": " << r.status);
    CHECK(recording_of.at(r.call_id) == r.id);
    auto path = data_dir + "/recordings/" + r.path;
    auto check = check_recording_file(path, ring);
    CHECK(check.error.empty());
    // Readable up to the kill: every packet sent before it, each once.
    CHECK(exactly_first(check.seqs[0], sent.at(r.call_id)));
    CHECK(exactly_first(check.seqs[1], sent.at(r.call_id)));
    if (ended.count(r.call_id)) {
      CHECK(r.status == "complete");
      CHECK(check.ccenx_state == "complete");
      a_complete_file = path;
    } else {
      CHECK(r.status == "interrupted");
      CHECK(check.ccenx_state == "interrupted");
      CHECK(r.bytes == static_cast<std::int64_t>(std::filesystem::file_size(path)));
      ++interrupted;
      an_interrupted_id = r.id;
      an_interrupted_call = r.call_id;
      an_interrupted_file = path;
    }
  }
  CHECK(interrupted == calls_before - ended_during + started_during);

  auto ok = run_ccrec({"verify", "--config", config, a_complete_file}, dir);
  CHECK(ok.status == 0);
  CHECK(contains(ok.output, "OK " + a_complete_file + ": complete"));
  auto cut = run_ccrec({"verify", "--config", config, an_interrupted_file}, dir);
  CHECK(cut.status == 1);
  CHECK(contains(cut.output, "FAIL " + an_interrupted_file + ": interrupted"));

  auto wav = dir.file("cut.wav");
  auto played = run_ccrec({"play", "--config", config, an_interrupted_id, "-o", wav}, dir);
  INFO(played.output);
  CHECK(played.status == 0);
  CHECK(contains(played.output,
                 "note: the recording is interrupted; played up to its last complete chunk"));
  // 16-bit stereo: at least every frame sent before the kill.
  constexpr std::uintmax_t wav_header = 44;
  constexpr std::uintmax_t bytes_per_frame = frame_bytes * 2 * 2;
  CHECK(std::filesystem::file_size(wav) >=
        wav_header + sent.at(an_interrupted_call) * bytes_per_frame);

  for (const auto& key : key_bytes(ring))
    CHECK_FALSE(contains(journal_copy, key));
}
