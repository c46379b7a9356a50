// schedule_policy: which calls are recorded, under which schedule.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "actors/schedule_policy.hpp"

using namespace ccrec;

namespace {

constexpr std::uint64_t fixed_seed = 20261204;
constexpr int draw_calls = 10000;

schedule make_schedule(const std::string& name, const std::string& mode, int priority = 0) {
  schedule s;
  s.name = name;
  s.mode = mode;
  s.priority = priority;
  return s;
}

call_facts call(const std::string& id, const std::string& agent = "a1",
                const std::string& queue = "sales", const std::string& direction = "inbound") {
  return call_facts{id, agent, queue, direction};
}

}  // namespace

TEST_CASE("an empty schedule list records every call under record-all", "[schedule]") {
  schedule_policy policy{{}, fixed_seed};

  REQUIRE(policy.schedules().size() == 1);
  CHECK(policy.schedules()[0].name == "record-all");
  CHECK(policy.schedules()[0].mode == "all");
  for (int i = 0; i < 50; ++i) {
    auto d = policy.decide(call("c" + std::to_string(i), "agent" + std::to_string(i)));
    REQUIRE(d.record);
    CHECK(d.schedule == "record-all");
    CHECK_FALSE(d.screen);
    CHECK(d.min_seconds == 0);
    CHECK(d.max_seconds == 0);
    CHECK(d.retention_days == 0);
  }
}

TEST_CASE("the highest priority wins, config order breaks ties", "[schedule]") {
  auto low = make_schedule("low", "all", 1);
  auto tie_first = make_schedule("tie-first", "all", 5);
  auto tie_second = make_schedule("tie-second", "all", 5);
  auto lowest = make_schedule("lowest", "all", -3);
  schedule_policy policy{{low, tie_first, lowest, tie_second}, fixed_seed};

  REQUIRE(policy.schedules().size() == 4);
  CHECK(policy.schedules()[0].name == "tie-first");
  CHECK(policy.schedules()[1].name == "tie-second");
  CHECK(policy.schedules()[2].name == "low");
  CHECK(policy.schedules()[3].name == "lowest");

  auto d = policy.decide(call("c1"));
  CHECK(d.record);
  CHECK(d.schedule == "tie-first");
  CHECK(d.reason == "schedule 'tie-first' (all, priority 5) matched");
}

TEST_CASE("agent, queue and direction filters select the schedule", "[schedule]") {
  auto by_agent = make_schedule("agent-a7", "all", 30);
  by_agent.agents = {"a7", "a8"};
  auto by_queue = make_schedule("queue-complaints", "all", 20);
  by_queue.queues = {"complaints"};
  auto by_direction = make_schedule("outbound", "all", 10);
  by_direction.direction = "outbound";
  auto combined = make_schedule("a9-support-internal", "all", 40);
  combined.agents = {"a9"};
  combined.queues = {"support"};
  combined.direction = "internal";
  schedule_policy policy{{by_agent, by_queue, by_direction, combined}, fixed_seed};

  CHECK(policy.decide(call("c1", "a7", "sales", "inbound")).schedule == "agent-a7");
  CHECK(policy.decide(call("c2", "a8", "complaints", "outbound")).schedule == "agent-a7");
  CHECK(policy.decide(call("c3", "a1", "complaints", "inbound")).schedule == "queue-complaints");
  CHECK(policy.decide(call("c4", "a1", "sales", "outbound")).schedule == "outbound");
  CHECK(policy.decide(call("c5", "a9", "support", "internal")).schedule == "a9-support-internal");
  // Each filter of the combined schedule must match on its own.
  CHECK_FALSE(policy.decide(call("c6", "a9", "support", "inbound")).record);
  CHECK_FALSE(policy.decide(call("c7", "a9", "sales", "internal")).record);
  CHECK_FALSE(policy.decide(call("c8", "a1", "support", "internal")).record);

  auto none = policy.decide(call("c9", "a1", "sales", "inbound"));
  CHECK_FALSE(none.record);
  CHECK(none.schedule.empty());
  CHECK(none.reason == "no schedule wants this call");
}

TEST_CASE("count records exactly the first N matching calls", "[schedule]") {
  auto first_three = make_schedule("first-three", "count", 10);
  first_three.count = 3;
  first_three.queues = {"sales"};
  schedule_policy policy{{first_three}, fixed_seed};

  std::vector<std::string> recorded;
  for (int i = 0; i < 10; ++i) {
    // Every other call is in another queue: those must not use up the count.
    auto queue = i % 2 == 0 ? "support" : "sales";
    auto id = "c" + std::to_string(i);
    auto d = policy.decide(call(id, "a1", queue));
    if (d.record) {
      CHECK(d.schedule == "first-three");
      recorded.push_back(id);
    }
  }
  CHECK(recorded == std::vector<std::string>{"c1", "c3", "c5"});
}

TEST_CASE("an exhausted count schedule lets a lower one decide", "[schedule]") {
  auto vip = make_schedule("vip-first-two", "count", 50);
  vip.count = 2;
  vip.screen = true;
  auto rest = make_schedule("everything", "all", 0);
  schedule_policy policy{{rest, vip}, fixed_seed};

  CHECK(policy.decide(call("c1")).schedule == "vip-first-two");
  CHECK(policy.decide(call("c2")).schedule == "vip-first-two");
  auto third = policy.decide(call("c3"));
  CHECK(third.schedule == "everything");
  CHECK_FALSE(third.screen);
}

TEST_CASE("count 0 never records", "[schedule]") {
  auto zero = make_schedule("none", "count");
  zero.count = 0;
  schedule_policy policy{{zero}, fixed_seed};
  for (int i = 0; i < 20; ++i)
    CHECK_FALSE(policy.decide(call("c" + std::to_string(i))).record);
}

TEST_CASE("percentage is near its value and reproducible from the seed", "[schedule]") {
  const double percents[] = {20.0, 50.0, 73.5};
  for (double percent : percents) {
    auto pct = make_schedule("sample", "percentage");
    pct.percentage = percent;
    schedule_policy first{{pct}, fixed_seed};
    schedule_policy second{{pct}, fixed_seed};

    int recorded = 0;
    for (int i = 0; i < draw_calls; ++i) {
      auto facts = call("c" + std::to_string(i));
      auto a = first.decide(facts);
      auto b = second.decide(facts);
      REQUIRE(a.record == b.record);
      if (a.record) {
        CHECK(a.schedule == "sample");
        ++recorded;
      }
    }
    auto fraction = 100.0 * recorded / draw_calls;
    INFO("percentage " << percent << " recorded " << fraction << "%");
    CHECK(fraction >= percent - 2.0);
    CHECK(fraction <= percent + 2.0);
  }
}

TEST_CASE("different seeds make different percentage decisions", "[schedule]") {
  auto pct = make_schedule("sample", "percentage");
  pct.percentage = 50.0;
  schedule_policy first{{pct}, fixed_seed};
  schedule_policy second{{pct}, fixed_seed + 1};

  int differ = 0;
  for (int i = 0; i < 1000; ++i) {
    auto facts = call("c" + std::to_string(i));
    differ += first.decide(facts).record != second.decide(facts).record ? 1 : 0;
  }
  // Two independent fair coins disagree about half the time.
  CHECK(differ > 400);
  CHECK(differ < 600);
}

TEST_CASE("0% never records and 100% always records", "[schedule]") {
  auto never = make_schedule("never", "percentage");
  never.percentage = 0.0;
  auto always = make_schedule("always", "percentage");
  always.percentage = 100.0;
  schedule_policy never_policy{{never}, fixed_seed};
  schedule_policy always_policy{{always}, fixed_seed};

  for (int i = 0; i < draw_calls; ++i) {
    auto facts = call("c" + std::to_string(i));
    REQUIRE_FALSE(never_policy.decide(facts).record);
    REQUIRE(always_policy.decide(facts).record);
  }
}

TEST_CASE("a declining percentage schedule lets a lower one decide", "[schedule]") {
  auto sample = make_schedule("sample-30", "percentage", 10);
  sample.percentage = 30.0;
  sample.retention_days = 7;
  auto fallback = make_schedule("fallback", "all", 1);
  fallback.retention_days = 90;
  schedule_policy policy{{fallback, sample}, fixed_seed};

  int sampled = 0;
  int fell_back = 0;
  for (int i = 0; i < draw_calls; ++i) {
    auto d = policy.decide(call("c" + std::to_string(i)));
    REQUIRE(d.record);
    if (d.schedule == "sample-30") {
      CHECK(d.retention_days == 7);
      ++sampled;
    } else {
      REQUIRE(d.schedule == "fallback");
      CHECK(d.retention_days == 90);
      ++fell_back;
    }
  }
  CHECK(sampled + fell_back == draw_calls);
  CHECK(sampled >= 2800);
  CHECK(sampled <= 3200);
}

TEST_CASE("on_demand never records by itself, on_demand() gives its limits", "[schedule]") {
  auto demand = make_schedule("supervisor", "on_demand", 100);
  demand.screen = true;
  demand.min_seconds = 3;
  demand.max_seconds = 600;
  demand.retention_days = 365;
  demand.agents = {"a1"};
  schedule_policy policy{{demand}, fixed_seed};

  for (int i = 0; i < 100; ++i)
    CHECK_FALSE(policy.decide(call("c" + std::to_string(i), "a1")).record);

  auto d = policy.on_demand(call("c-x", "a1"));
  CHECK(d.record);
  CHECK(d.schedule == "supervisor");
  CHECK(d.screen);
  CHECK(d.min_seconds == 3);
  CHECK(d.max_seconds == 600);
  CHECK(d.retention_days == 365);
  CHECK(d.reason == "started on demand under schedule 'supervisor'");

  // No on_demand schedule matches agent a2: the defaults apply.
  auto other = policy.on_demand(call("c-y", "a2"));
  CHECK(other.record);
  CHECK(other.schedule == "on-demand");
  CHECK_FALSE(other.screen);
  CHECK(other.min_seconds == 0);
  CHECK(other.max_seconds == 0);
  CHECK(other.retention_days == 0);
  CHECK(other.reason == "started on demand");
}

TEST_CASE("on_demand() ignores schedules of other modes", "[schedule]") {
  auto all = make_schedule("all-calls", "all", 100);
  all.retention_days = 30;
  auto demand = make_schedule("demand-low", "on_demand", 1);
  demand.retention_days = 5;
  schedule_policy policy{{all, demand}, fixed_seed};

  auto d = policy.on_demand(call("c1"));
  CHECK(d.schedule == "demand-low");
  CHECK(d.retention_days == 5);
}

TEST_CASE("the decision carries the winner's screen and limits", "[schedule]") {
  auto winner = make_schedule("winner", "all", 9);
  winner.screen = true;
  winner.min_seconds = 2;
  winner.max_seconds = 3600;
  winner.retention_days = 2555;
  auto loser = make_schedule("loser", "all", 1);
  loser.screen = false;
  loser.min_seconds = 10;
  loser.max_seconds = 60;
  loser.retention_days = 1;
  schedule_policy policy{{loser, winner}, fixed_seed};

  auto d = policy.decide(call("c1"));
  CHECK(d.record);
  CHECK(d.schedule == "winner");
  CHECK(d.screen);
  CHECK(d.min_seconds == 2);
  CHECK(d.max_seconds == 3600);
  CHECK(d.retention_days == 2555);
  CHECK(d.reason == "schedule 'winner' (all, priority 9) matched");
}
