// The call manager's guards against a PBX that misbehaves: a call id used
// for a second call, more calls in progress than the engine keeps, and
// calls whose call_ended never comes.
#include <catch2/catch.hpp>

#include <string>

#include "tests/actors/engine_harness.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

cti_event offered_with(std::int64_t seq, const std::string& call_id, const std::string& direction,
                       const std::string& from, const std::string& queue) {
  auto ev = call_offered(seq, call_id, direction, queue);
  ev.from = from;
  return ev;
}

}  // namespace

TEST_CASE("a call id that ended is refused as duplicate_call, the first call's row stays",
          "[engine][call_limits]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  running_engine run{cfg};

  REQUIRE(send_event(run.self, run.cm, offered_with(1, "dup", "inbound", "+111", "sales")).ok);
  auto first = send_event(run.self, run.cm, call_answered(2, "dup", "alice"));
  REQUIRE(first.ok);
  REQUIRE(first.record);
  REQUIRE(send_event(run.self, run.cm, call_event(3, "call_ended", "dup")).ok);

  auto again = send_event(run.self, run.cm, offered_with(4, "dup", "outbound", "+222", "support"));
  CHECK_FALSE(again.ok);
  CHECK(again.seq == 4);
  CHECK(again.error == "duplicate_call");
  CHECK(again.message == "call_offered: call 'dup' already ended; a call id names one call");
  auto answer = send_event(run.self, run.cm, call_answered(5, "dup", "bob"));
  CHECK_FALSE(answer.ok);
  CHECK(answer.error == "unknown_call");

  auto status = run.eng->status();
  CHECK(status.cti_rejected == 2);
  CHECK(status.recordings_started == 1);
  CHECK(status.active_calls == 0);

  REQUIRE(wait_final_recording(cfg.database_uri(), first.recording_id));
  auto row = call_row(cfg.database_uri(), "dup");
  REQUIRE(row);
  CHECK(row->agent == "alice");
  CHECK(row->direction == "inbound");
  CHECK(row->from_number == "+111");
  CHECK(row->queue == "sales");
  CHECK(row->state == "ended");
}

TEST_CASE("beyond max_calls_in_progress a call_offered is refused as too_many_calls",
          "[engine][call_limits]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  cfg.max_calls_in_progress = 2;
  running_engine run{cfg};

  REQUIRE(send_event(run.self, run.cm, call_offered(1, "lim-1")).ok);
  REQUIRE(send_event(run.self, run.cm, call_offered(2, "lim-2")).ok);
  auto third = send_event(run.self, run.cm, call_offered(3, "lim-3"));
  CHECK_FALSE(third.ok);
  CHECK(third.error == "too_many_calls");
  CHECK(third.message ==
        "call_offered: call 'lim-3' refused: 2 calls are in progress (max_calls_in_progress)");
  CHECK(run.eng->status().active_calls == 2);
  CHECK(run.eng->status().cti_rejected == 1);

  // A refused offer is not an ended call: once there is room, it may come.
  REQUIRE(send_event(run.self, run.cm, call_event(4, "call_ended", "lim-1")).ok);
  CHECK(send_event(run.self, run.cm, call_offered(5, "lim-3")).ok);
  CHECK(run.eng->status().active_calls == 2);
}

TEST_CASE("a call without events for call_expiry_ms ends, its recording stops as expired",
          "[engine][call_limits]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  cfg.call_expiry_ms = 300;
  running_engine run{cfg};
  run.subscribe_events();

  REQUIRE(send_event(run.self, run.cm, call_offered(1, "never-answered")).ok);
  REQUIRE(send_event(run.self, run.cm, call_offered(2, "never-ended")).ok);
  auto answered = send_event(run.self, run.cm, call_answered(3, "never-ended", "a1"));
  REQUIRE(answered.record);

  auto notes = collect_events(run.events, 2);
  REQUIRE(notes.size() == 2);
  CHECK(notes[0].state == "started");
  CHECK(notes[1].state == "stopped");
  CHECK(notes[1].detail == "expired");
  CHECK(notes[1].recording_id == answered.recording_id);

  auto rec = wait_final_recording(cfg.database_uri(), answered.recording_id);
  REQUIRE(rec);
  CHECK(rec->status == "complete");
  CHECK(run.eng->status().active_calls == 0);
  for (const char* id : {"never-answered", "never-ended"}) {
    auto row = call_row(cfg.database_uri(), id);
    REQUIRE(row);
    CHECK(row->state == "ended");
    CHECK(row->ended_ms >= row->offered_ms);
  }

  auto late = send_event(run.self, run.cm, call_event(4, "call_ended", "never-ended"));
  CHECK(late.error == "unknown_call");
  auto reused = send_event(run.self, run.cm, call_offered(5, "never-ended"));
  CHECK(reused.error == "duplicate_call");
}
