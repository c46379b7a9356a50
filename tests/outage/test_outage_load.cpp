// Acceptance: PostgreSQL stopped abruptly (immediate shutdown) under load,
// kept down for 30 s, brought back. Every call is recorded, every file
// verifies packet by packet, and the database ends with exactly one row per
// call and per recording. The engine runs in-process; its media arrives over
// real UDP, its database is a real PostgreSQL server.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "actors/recordings.hpp"
#include "tests/outage/outage_harness.hpp"
#include "tests/support/pg_server.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

constexpr int calls_before = 50;    // running when the database goes
constexpr int ended_during = 10;    // of those, ended while it is down
constexpr int started_during = 10;  // new calls while it is down
constexpr int short_during = 5;     // of those, ended while it is down
constexpr milliseconds max_reply{1000};
constexpr milliseconds detect_limit{10000};
constexpr milliseconds recover_limit{60000};

// Starts, ends and tracks calls against an in-process engine.
struct call_driver {
  call_driver(caf::scoped_actor& s, caf::actor c, rtp_pump& p)
      : self(s), cm(std::move(c)), pump(p) {}

  caf::scoped_actor& self;
  caf::actor cm;
  rtp_pump& pump;
  std::int64_t seq = 0;
  std::map<std::string, std::string> recording_of;
  std::map<std::string, std::uint32_t> sent;
  milliseconds worst{0};

  void start(const std::string& id) {
    auto offered = send_cti(self, cm, call_offered(++seq, id, "inbound", "support"));
    REQUIRE(offered.reply.ok);
    auto answered = send_cti(self, cm, call_answered(++seq, id, "agent-" + id));
    INFO(answered.reply.error << ": " << answered.reply.message);
    REQUIRE(answered.reply.ok);
    REQUIRE(answered.reply.record);
    REQUIRE(answered.reply.media.size() == 2);
    pump.start_call(id, answered.reply.media[0].port, answered.reply.media[1].port);
    recording_of[id] = answered.reply.recording_id;
    worst = std::max({worst, offered.took, answered.took});
  }

  void end(const std::vector<std::string>& ids) {
    for (const auto& id : ids)
      sent[id] = pump.stop_call(id)[0];
    std::this_thread::sleep_for(pump_settle);
    for (const auto& id : ids) {
      auto r = send_cti(self, cm, call_event(++seq, "call_ended", id));
      REQUIRE(r.reply.ok);
      worst = std::max(worst, r.took);
    }
  }
};

}  // namespace

TEST_CASE("a 30 s PostgreSQL outage under load loses no call, file or row",
          "[outage][load][postgresql]") {
  auto& pg = shared_pg_server();
  auto uri = fresh_database("outage_load");
  temp_dir dir;
  auto cfg = outage_config(dir, uri);
  running_engine run{cfg};
  rtp_pump pump;
  call_driver calls{run.self, run.cm, pump};

  std::vector<std::string> first_wave;
  for (int i = 0; i < calls_before; ++i) {
    first_wave.push_back(call_name("load", i));
    calls.start(first_wave.back());
  }
  std::this_thread::sleep_for(seconds{2});
  auto before = run.eng->status();
  CHECK(before.db_up);
  CHECK(before.active_recordings == calls_before);

  // The outage: every backend dies at once.
  pg.stop_immediate();
  auto outage_began = std::chrono::steady_clock::now();
  auto [down, seen_down] =
      wait_status(*run.eng, detect_limit, [](const engine_status& s) { return !s.db_up; });
  REQUIRE(seen_down);
  CHECK_FALSE(down.db_reason.empty());

  // Life goes on: calls end, new calls start and are recorded, and the
  // engine answers as fast as before.
  calls.worst = milliseconds{0};
  calls.end({first_wave.begin(), first_wave.begin() + ended_during});
  std::vector<std::string> second_wave;
  for (int i = 0; i < started_during; ++i) {
    second_wave.push_back(call_name("outage", i));
    calls.start(second_wave.back());
  }
  std::this_thread::sleep_for(seconds{2});
  calls.end({second_wave.begin(), second_wave.begin() + short_during});
  CHECK(calls.worst < max_reply);

  const std::int64_t running = calls_before - ended_during + started_during - short_during;
  auto [during, settled] = wait_status(*run.eng, detect_limit, [&](const engine_status& s) {
    return s.active_recordings == running;
  });
  CHECK(settled);
  CHECK_FALSE(during.db_up);
  CHECK(during.active_calls == running);
  CHECK(during.active_recordings == running);
  CHECK(during.metadata_pending > 0);
  CHECK(during.journal_ok);
  auto journal_copy = read_file(dir.file("journal/metadata.jnl"));
  CHECK(contains(journal_copy, "\"outage-00\""));

  auto outage = outage_duration();
  std::this_thread::sleep_until(outage_began + outage);
  auto late = run.eng->status();
  CHECK_FALSE(late.db_up);
  CHECK(late.metadata_pending >= during.metadata_pending);

  pg.restart();
  auto back_at = std::chrono::steady_clock::now();
  auto [drained, seen_drained] = wait_status(*run.eng, recover_limit, [](const engine_status& s) {
    return s.db_up && s.metadata_pending == 0;
  });
  INFO("last status: db_up " << drained.db_up << ", pending " << drained.metadata_pending
                             << ", error " << drained.metadata_error);
  REQUIRE(seen_drained);
  WARN("outage " << std::chrono::duration_cast<seconds>(back_at - outage_began).count()
                 << " s; journal drained "
                 << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() -
                                                             back_at)
                        .count()
                 << " ms after the database returned; " << drained.metadata_written
                 << " rows written");

  std::vector<std::string> still_running(first_wave.begin() + ended_during, first_wave.end());
  still_running.insert(still_running.end(), second_wave.begin() + short_during, second_wave.end());
  calls.end(still_running);
  run.eng->stop();
  run.eng.reset();

  // Exactly one row per call and per recording: none missing, none twice.
  const std::size_t total = calls_before + started_during;
  auto rows = rows_exactly(uri, total);
  std::set<std::string> call_ids;
  for (const auto& c : rows.calls) {
    call_ids.insert(c.call_id);
    CHECK(c.state == "ended");
    CHECK(c.decision == "recorded");
  }
  CHECK(call_ids.size() == total);

  auto ring = open_keys(uri);
  std::set<std::string> recorded_calls;
  for (const auto& r : rows.recordings) {
    INFO("recording " << r.id << " of call " << r.call_id);
    recorded_calls.insert(r.call_id);
    REQUIRE(calls.recording_of.count(r.call_id) == 1);
    CHECK(calls.recording_of.at(r.call_id) == r.id);
    CHECK(r.status == "complete");
    auto sent = calls.sent.at(r.call_id);
    CHECK(r.packets == 2 * static_cast<std::int64_t>(sent));

    auto path = cfg.recordings_dir() + "/" + r.path;
    auto verified = verify_recording(path, ring, r.status);
    CHECK(verified.ok());
    auto check = check_recording_file(path, ring);
    CHECK(check.ccenx_state == "complete");
    CHECK(check.error.empty());
    CHECK(exactly_first(check.seqs[0], sent));
    CHECK(exactly_first(check.seqs[1], sent));
  }
  CHECK(recorded_calls == call_ids);

  // The journal held rows (call ids, states, key ids) but never a key.
  for (const auto& key : key_bytes(ring))
    CHECK_FALSE(contains(journal_copy, key));
}
