#include "actors/startup_policy.hpp"

#include <algorithm>

namespace ccrec {

namespace {

constexpr std::chrono::milliseconds first_db_wait{500};
constexpr std::chrono::milliseconds max_db_wait{5000};
constexpr int max_doublings = 16;  // far past max_db_wait; keeps the shift defined

}  // namespace

startup_decision decide_startup(const startup_facts& facts) {
  startup_decision d;
  if (!facts.encryption) {
    d.start = true;
    d.warnings.push_back(
        "ENCRYPTION IS DISABLED: new recordings are written in plaintext; recordings made "
        "while it was enabled cannot be played until it is enabled again");
    if (!facts.db_reachable)
      d.warnings.push_back("starting without the database (" + facts.db_problem +
                           "); metadata waits in the journal until it returns");
    return d;
  }

  if (!facts.aes_available) {
    d.refusal = "cannot encrypt on this machine: " + facts.aes_problem;
    return d;
  }
  if (!facts.kek_secret_given) {
    d.refusal =
        "no key-encrypting secret: set CCREC_KEK_SECRET or pass --kek-secret-fd N (never on "
        "the command line)";
    return d;
  }
  if (!facts.db_reachable) {
    d.refusal = "the database is unreachable (" + facts.db_problem +
                "); an engine that encrypts does not start without it, because its keys live "
                "there";
    return d;
  }
  d.start = true;
  return d;
}

db_wait_step next_db_wait(int attempt, std::chrono::milliseconds elapsed,
                          std::chrono::milliseconds limit) {
  db_wait_step step;
  auto left = limit - elapsed;
  if (left.count() <= 0)
    return step;

  auto doublings = std::clamp(attempt - 1, 0, max_doublings);
  auto factor = std::chrono::milliseconds::rep{1} << doublings;
  auto backoff = std::min(first_db_wait * factor, max_db_wait);
  step.retry = true;
  step.delay = std::min(backoff, left);
  return step;
}

}  // namespace ccrec
