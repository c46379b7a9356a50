#include "actors/schedule_policy.hpp"

#include <algorithm>

namespace ccrec {

namespace {

bool listed(const std::vector<std::string>& list, const std::string& value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

schedule record_all_schedule() {
  schedule s;
  s.name = "record-all";
  s.mode = "all";
  return s;
}

}  // namespace

schedule_policy::schedule_policy(std::vector<schedule> schedules, std::uint64_t seed)
    : schedules_(std::move(schedules)), rng_(seed) {
  if (schedules_.empty())
    schedules_.push_back(record_all_schedule());

  // Stable, so that config order breaks priority ties.
  std::stable_sort(schedules_.begin(), schedules_.end(),
                   [](const schedule& a, const schedule& b) { return a.priority > b.priority; });
  recorded_.assign(schedules_.size(), 0);
}

record_decision schedule_policy::decide(const call_facts& call) {
  for (std::size_t i = 0; i < schedules_.size(); ++i) {
    const auto& s = schedules_[i];
    if (!matches(s, call) || !wants(s, i))
      continue;

    ++recorded_[i];
    return decision_for(s, "schedule '" + s.name + "' (" + s.mode + ", priority " +
                               std::to_string(s.priority) + ") matched");
  }

  record_decision none;
  none.reason = "no schedule wants this call";
  return none;
}

record_decision schedule_policy::on_demand(const call_facts& call) const {
  for (const auto& s : schedules_) {
    if (s.mode == "on_demand" && matches(s, call))
      return decision_for(s, "started on demand under schedule '" + s.name + "'");
  }

  schedule fallback;
  fallback.name = "on-demand";
  fallback.mode = "on_demand";
  return decision_for(fallback, "started on demand");
}

bool schedule_policy::matches(const schedule& s, const call_facts& call) const {
  if (s.direction != "any" && s.direction != call.direction)
    return false;
  return listed(s.agents, call.agent) && listed(s.queues, call.queue);
}

bool schedule_policy::wants(const schedule& s, std::size_t index) {
  if (s.mode == "all")
    return true;
  if (s.mode == "count")
    return recorded_[index] < s.count;
  if (s.mode == "percentage") {
    // One draw per call and schedule, in [0, 100).
    std::uniform_real_distribution<double> draw(0.0, 100.0);
    return draw(rng_) < s.percentage;
  }
  return false;  // on_demand
}

record_decision schedule_policy::decision_for(const schedule& s, std::string reason) {
  record_decision d;
  d.record = true;
  d.schedule = s.name;
  d.screen = s.screen;
  d.min_seconds = s.min_seconds;
  d.max_seconds = s.max_seconds;
  d.retention_days = s.retention_days;
  d.reason = std::move(reason);
  return d;
}

}  // namespace ccrec
