// Acceptance: a frozen database (every PostgreSQL process SIGSTOPped: it
// accepts connections and queries but never answers) does not stop
// recording. The watchdog reports it down within its deadline, calls go on
// being recorded and answered at once, and after the thaw the metadata
// lands, exactly once.
#include <catch2/catch.hpp>

#include <signal.h>

#include <cstdio>
#include <map>
#include <set>

#include "actors/recordings.hpp"
#include "storage/journal.hpp"
#include "tests/outage/outage_harness.hpp"
#include "tests/support/pg_server.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

constexpr int calls_before = 20;
constexpr int ended_during = 10;
constexpr int started_during = 5;
constexpr milliseconds db_timeout{3000};
constexpr milliseconds probe_interval{500};
// The watchdog's probe starts within one interval, then has its deadline;
// the rest is scheduling slack on a busy 2-core machine.
constexpr milliseconds detect_limit = db_timeout + probe_interval + milliseconds{2500};
constexpr seconds frozen_for{10};
constexpr milliseconds max_reply{1000};
constexpr milliseconds max_status{1500};
constexpr milliseconds recover_limit{60000};

}  // namespace

TEST_CASE("a frozen database does not stop recording, and its rows land after the thaw",
          "[outage][freeze][postgresql]") {
  auto& pg = shared_pg_server();
  auto uri = fresh_database("outage_freeze");
  temp_dir dir;
  auto cfg = outage_config(dir, uri);
  cfg.db_timeout_ms = db_timeout.count();
  cfg.db_probe_interval_ms = probe_interval.count();
  running_engine run{cfg};
  rtp_pump pump;
  std::int64_t seq = 0;
  std::map<std::string, std::string> recording_of;
  std::map<std::string, std::uint32_t> sent;
  milliseconds worst{0};

  auto start = [&](const std::string& id) {
    auto offered = send_cti(run.self, run.cm, call_offered(++seq, id, "inbound", "support"));
    REQUIRE(offered.reply.ok);
    auto answered = send_cti(run.self, run.cm, call_answered(++seq, id, "agent-" + id));
    REQUIRE(answered.reply.ok);
    REQUIRE(answered.reply.record);
    pump.start_call(id, answered.reply.media[0].port, answered.reply.media[1].port);
    recording_of[id] = answered.reply.recording_id;
    worst = std::max({worst, offered.took, answered.took});
  };
  auto end = [&](const std::vector<std::string>& ids) {
    for (const auto& id : ids)
      sent[id] = pump.stop_call(id)[0];
    std::this_thread::sleep_for(pump_settle);
    for (const auto& id : ids) {
      auto r = send_cti(run.self, run.cm, call_event(++seq, "call_ended", id));
      REQUIRE(r.reply.ok);
      worst = std::max(worst, r.took);
    }
  };

  std::vector<std::string> first;
  for (int i = 0; i < calls_before; ++i) {
    first.push_back(call_name("steady", i));
    start(first.back());
  }
  std::this_thread::sleep_for(seconds{1});
  REQUIRE(run.eng->status().db_up);

  pg.freeze();
  auto frozen_at = std::chrono::steady_clock::now();
  // Rows keep coming while the server is frozen; the writer's call blocks
  // on its worker thread, never on the recording path.
  worst = milliseconds{0};
  end({first.begin(), first.begin() + ended_during / 2});

  auto [down, seen_down] =
      wait_status(*run.eng, detect_limit, [](const engine_status& s) { return !s.db_up; });
  auto detected_after =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - frozen_at);
  REQUIRE(seen_down);
  CHECK(detected_after <= detect_limit);
  CHECK_THAT(down.db_reason, Catch::Contains("no answer from the database within 3 s"));
  WARN("frozen database reported down after " << detected_after.count()
                                              << " ms: " << down.db_reason);

  end({first.begin() + ended_during / 2, first.begin() + ended_during});
  std::vector<std::string> second;
  for (int i = 0; i < started_during; ++i) {
    second.push_back(call_name("frozen", i));
    start(second.back());
  }
  CHECK(worst < max_reply);

  auto asked = std::chrono::steady_clock::now();
  auto during = run.eng->status(seconds{5});
  CHECK(std::chrono::steady_clock::now() - asked < max_status);
  CHECK_FALSE(during.db_up);
  CHECK(during.metadata_pending > 0);
  CHECK(during.db_stuck_calls >= 1);
  CHECK(during.active_calls == calls_before - ended_during + started_during);

  std::this_thread::sleep_until(frozen_at + frozen_for);
  pg.thaw();
  auto [drained, seen_drained] = wait_status(*run.eng, recover_limit, [](const engine_status& s) {
    return s.db_up && s.metadata_pending == 0;
  });
  INFO("pending " << drained.metadata_pending << ", error " << drained.metadata_error);
  REQUIRE(seen_drained);

  std::vector<std::string> rest(first.begin() + ended_during, first.end());
  rest.insert(rest.end(), second.begin(), second.end());
  end(rest);
  run.eng->stop();
  run.eng.reset();

  const std::size_t total = calls_before + started_during;
  auto rows = rows_exactly(uri, total);
  for (const auto& c : rows.calls)
    CHECK(c.state == "ended");

  auto ring = open_keys(uri);
  std::set<std::string> seen;
  for (const auto& r : rows.recordings) {
    INFO("recording " << r.id << " of call " << r.call_id);
    seen.insert(r.call_id);
    CHECK(recording_of.at(r.call_id) == r.id);
    CHECK(r.status == "complete");
    auto path = cfg.recordings_dir() + "/" + r.path;
    CHECK(verify_recording(path, ring, r.status).ok());
    auto check = check_recording_file(path, ring);
    CHECK(check.error.empty());
    CHECK(exactly_first(check.seqs[0], sent.at(r.call_id)));
    CHECK(exactly_first(check.seqs[1], sent.at(r.call_id)));
  }
  CHECK(seen.size() == total);
}

// Every part that talks to the database does so through a supervised
// db_worker, so nothing holds the stop up: the rows it could not write wait
// in the journal.
TEST_CASE("ccrec serve stops within seconds while its database is frozen",
          "[outage][freeze][postgresql]") {
  auto& pg = shared_pg_server();
  auto uri = fresh_database("outage_freeze_stop");
  temp_dir dir;
  auto [low, high] = media_ports(40, 1);
  auto config = write_engine_config(dir, uri, low, high);
  auto ready = dir.file("ready");
  const std::vector<std::string> serve = {ccrec_binary(), "serve",        "--config",
                                          config,         "--ready-file", ready};
  constexpr milliseconds stop_limit{15000};

  child_process engine{serve, dir.file("engine.log")};
  REQUIRE(wait_for_file(ready, seconds{30}));
  {
    cti_client cti{read_file(ready).substr(0, read_file(ready).find('\n'))};
    rtp_pump pump;
    REQUIRE(cti.offered("frozen-stop").value("ok", false));
    auto answered = cti.answered("frozen-stop", "a1");
    INFO(answered.dump() << "\n" << read_file(dir.file("engine.log")));
    REQUIRE(answered.value("record", false));
    std::this_thread::sleep_for(seconds{1});
    pg.freeze();
    REQUIRE(cti.ended("frozen-stop").value("ok", false));
  }

  auto began = std::chrono::steady_clock::now();
  engine.signal(SIGTERM);
  auto code = engine.wait_exit(seconds{60});
  auto took = std::chrono::steady_clock::now() - began;
  pg.thaw();
  INFO(read_file(dir.file("engine.log")));
  CHECK(code == 0);
  CHECK(took < stop_limit);

  // What the stop could not write waits in the journal for the next start.
  storage::journal_recovery found;
  auto j = storage::journal::open(dir.file("data/journal"), &found);
  REQUIRE(j.ok());
  CHECK_FALSE(found.pending.empty());
}
