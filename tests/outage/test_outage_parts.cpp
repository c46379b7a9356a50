// The parts the outage behaviour is built from, each alone: the supervised
// database worker (a stuck call is abandoned, never joined, and the next job
// gets a fresh session), the wait-for-database policy, the "db_down" refusal
// other operations use, and the journal payload codec.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>

#include "actors/db_watchdog.hpp"
#include "actors/db_worker.hpp"
#include "actors/errors.hpp"
#include "actors/metadata_writer.hpp"
#include "actors/startup_policy.hpp"
#include "tests/outage/outage_harness.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

// Something a job can block on, like a query to a frozen server.
struct gate {
  std::mutex mutex;
  std::condition_variable cv;
  bool open = false;
  void wait() {
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [&] { return open; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(mutex);
    open = true;
    cv.notify_all();
  }
};

template <class Pred>
bool eventually(Pred pred, milliseconds limit = milliseconds{5000}) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(milliseconds{5});
  }
  return true;
}

}  // namespace

TEST_CASE("a stuck database job is abandoned and the next one gets a fresh session",
          "[outage][worker]") {
  temp_dir dir;
  auto uri = "sqlite:" + dir.file("w.db");
  // Workers serve a running engine, which made its database at start: they
  // never create one.
  REQUIRE(storage::database::open(uri).ok());
  std::atomic<int> done_calls{0};
  db_worker worker{uri, [&](std::uint64_t) { ++done_calls; }};

  storage::database* first_session = nullptr;
  auto id1 = worker.post([&](storage::database& db, std::atomic<std::uint64_t>& steps) {
    first_session = &db;
    ++steps;
    return db.migrate();
  });
  CHECK(id1 == 1);
  REQUIRE(eventually([&] { return done_calls == 1; }));
  CHECK_FALSE(worker.busy());
  CHECK(worker.job()->outcome.ok());
  CHECK(worker.job()->steps == 1);

  // A job that never answers, as a query to a frozen server.
  auto blocker = std::make_shared<gate>();
  auto id2 = worker.post([blocker](storage::database&, std::atomic<std::uint64_t>&) {
    blocker->wait();
    return result<void>{};
  });
  CHECK(id2 == 2);
  std::this_thread::sleep_for(milliseconds{50});
  CHECK(worker.busy());
  CHECK(worker.job()->steps == 0);

  auto before = db_worker::stuck_everywhere();
  worker.abandon();
  CHECK_FALSE(worker.busy());
  CHECK(worker.stuck() == 1);
  CHECK(db_worker::stuck_everywhere() == before + 1);

  storage::database* second_session = nullptr;
  worker.post([&](storage::database& db, std::atomic<std::uint64_t>&) {
    second_session = &db;
    return db.ping();
  });
  REQUIRE(eventually([&] { return done_calls == 2; }));
  CHECK(worker.job()->outcome.ok());
  CHECK(second_session != nullptr);
  CHECK(second_session != first_session);

  // The abandoned call returns at last: nobody is told, and it is gone.
  blocker->release();
  REQUIRE(eventually([&] { return worker.stuck() == 0; }));
  CHECK(db_worker::stuck_everywhere() == before);
  std::this_thread::sleep_for(milliseconds{50});
  CHECK(done_calls == 2);
}

TEST_CASE("a database that cannot be opened fails the job, not the worker", "[outage][worker]") {
  std::atomic<int> done_calls{0};
  db_worker worker{"postgresql://postgres@127.0.0.1:1/nothing",
                   [&](std::uint64_t) { ++done_calls; }};
  worker.post([](storage::database& db, std::atomic<std::uint64_t>&) { return db.ping(); });
  REQUIRE(eventually([&] { return done_calls == 1; }, milliseconds{10000}));
  REQUIRE_FALSE(worker.job()->outcome.ok());
  CHECK(worker.job()->outcome.error().code == "db_unreachable");
}

TEST_CASE("deadlines: the configured one for a server, at least 10 s for SQLite",
          "[outage][worker]") {
  CHECK(db_step_deadline("postgresql://x@127.0.0.1/db", milliseconds{3000}) == milliseconds{3000});
  CHECK(db_step_deadline("postgres://x@127.0.0.1/db", milliseconds{1500}) == milliseconds{1500});
  CHECK(db_step_deadline("sqlite:/tmp/x.db", milliseconds{3000}) == milliseconds{10000});
  CHECK(db_step_deadline("sqlite:/tmp/x.db", milliseconds{20000}) == milliseconds{20000});
  CHECK(seconds_text(milliseconds{3000}) == "3 s");
  CHECK(seconds_text(milliseconds{2500}) == "2.5 s");
}

TEST_CASE("waiting for the database backs off from 0.5 s to 5 s and stops at the limit",
          "[outage][policy]") {
  const milliseconds limit{20000};
  std::vector<std::int64_t> delays;
  milliseconds elapsed{0};
  for (int attempt = 1;; ++attempt) {
    auto step = next_db_wait(attempt, elapsed, limit);
    if (!step.retry)
      break;
    delays.push_back(step.delay.count());
    elapsed += step.delay;
  }
  CHECK(delays == std::vector<std::int64_t>{500, 1000, 2000, 4000, 5000, 5000, 2500});
  CHECK(elapsed == limit);

  CHECK_FALSE(next_db_wait(1, milliseconds{0}, milliseconds{0}).retry);
  CHECK(next_db_wait(100, milliseconds{0}, milliseconds{60000}).delay == milliseconds{5000});
}

TEST_CASE("operations that need the database are refused with db_down", "[outage][policy]") {
  auto e = db_down_error("rotate the master key", "no answer from the database within 3 s");
  CHECK(e.code == "db_down");
  CHECK(e.message ==
        "cannot rotate the master key while the database is down (no answer from the database "
        "within 3 s); recording and playback go on with the keys in memory; try again once "
        "`ccrec status` shows the database up");

  auto mapped = as_db_down(make_error("db_unreachable", "connection refused"), "deactivate key 2");
  CHECK(mapped.code == "db_down");
  CHECK_THAT(mapped.message, Catch::StartsWith("cannot deactivate key 2 while the database is "
                                               "down (connection refused)"));
  auto other = as_db_down(make_error("key_in_use", "3 recordings"), "deactivate key 2");
  CHECK(other.code == "key_in_use");

  db_state down{false, "refused", 1};
  auto caf_err = db_down_caf_error("rotate the master key", down);
  CHECK(caf_err.code() == static_cast<std::uint8_t>(engine_errc::db_down));
  CHECK_THAT(describe(caf_err), Catch::StartsWith("cannot rotate the master key while the "
                                                  "database is down (refused)"));
}

TEST_CASE("journal payloads round-trip every field and refuse what they are not",
          "[outage][journal]") {
  call_info c{"c-1", "inbound", "+1555", "+1666", "a1",       "sales",
              1,     2,         3,       "ended", "recorded", "all"};
  recording_info r{
      "r-1", "c-1", "audio", "2026/01/01/r-1.ccenx", 7, "ccenx", "all", "a1", 10, 20, "complete",
      4096,  99,    30};

  auto c2 = decode_metadata(encode_metadata(c));
  REQUIRE(c2.ok());
  auto& cc = std::get<call_info>(*c2);
  CHECK(cc.call_id == "c-1");
  CHECK(cc.from_number == "+1555");
  CHECK(cc.to_number == "+1666");
  CHECK(cc.queue == "sales");
  CHECK(cc.offered_ms == 1);
  CHECK(cc.answered_ms == 2);
  CHECK(cc.ended_ms == 3);
  CHECK(cc.state == "ended");
  CHECK(cc.decision == "recorded");
  CHECK(cc.schedule == "all");

  auto r2 = decode_metadata(encode_metadata(r));
  REQUIRE(r2.ok());
  auto& rr = std::get<recording_info>(*r2);
  CHECK(rr.id == "r-1");
  CHECK(rr.path == "2026/01/01/r-1.ccenx");
  CHECK(rr.key_id == 7);
  CHECK(rr.encryption == "ccenx");
  CHECK(rr.started_ms == 10);
  CHECK(rr.ended_ms == 20);
  CHECK(rr.status == "complete");
  CHECK(rr.bytes == 4096);
  CHECK(rr.packets == 99);
  CHECK(rr.retention_days == 30);

  CHECK(decode_metadata("not json").error().code == "journal_bad_entry");
  CHECK(decode_metadata(R"({"v":2,"type":"call"})").error().code == "journal_bad_entry");
  CHECK(decode_metadata(R"({"v":1,"type":"key"})").error().code == "journal_bad_entry");
  CHECK(decode_metadata(R"({"v":1,"type":"call","call_id":"x"})").error().code ==
        "journal_bad_entry");
}
