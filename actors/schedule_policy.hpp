// schedule_policy: decides from the recording schedules whether a call is
// recorded, and under which schedule.
//
// Pure logic, no actor: the call manager owns one instance and calls it from
// its own thread only. Decisions are deterministic for a given seed, which
// is what makes "record 20% of calls" testable.
//
// Rule: consider the schedules whose filters (agents, queues, direction)
// match the call, highest priority first (config order breaks ties). The
// first one that wants the call decides: "all" always wants it,
// "percentage" wants it with that probability (one draw per call and
// schedule), "count" while fewer than `count` calls were recorded under it,
// "on_demand" never (only recording_control starts those).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "actors/config.hpp"

namespace ccrec {

struct call_facts {
  std::string call_id;
  std::string agent;
  std::string queue;
  std::string direction;
};

struct record_decision {
  bool record = false;
  std::string schedule;  // name of the schedule that decided; "" if none
  bool screen = false;
  std::int64_t min_seconds = 0;
  std::int64_t max_seconds = 0;
  std::int64_t retention_days = 0;
  std::string reason;  // one sentence for the decision log
};

class schedule_policy {
 public:
  // An empty list means one implicit "record-all" schedule.
  schedule_policy(std::vector<schedule> schedules, std::uint64_t seed);

  // Decides for a newly answered call. Counts towards "count" schedules.
  record_decision decide(const call_facts& call);

  // The decision for an on-demand start: the highest-priority matching
  // "on_demand" schedule's limits, or defaults under the name "on-demand".
  record_decision on_demand(const call_facts& call) const;

  const std::vector<schedule>& schedules() const { return schedules_; }

 private:
  bool matches(const schedule& s, const call_facts& call) const;
  bool wants(const schedule& s, std::size_t index);
  static record_decision decision_for(const schedule& s, std::string reason);

  std::vector<schedule> schedules_;     // sorted by priority, highest first
  std::vector<std::int64_t> recorded_;  // per schedule, for "count"
  std::mt19937_64 rng_;
};

}  // namespace ccrec
