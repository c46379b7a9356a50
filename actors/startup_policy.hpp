// startup_policy: whether an engine may start, given what it found.
//
// One place holds the rule, so that it is stated once and tested directly:
// an engine that encrypts needs AES-256-GCM on this CPU, a key-encrypting
// secret, and its database (the keys live there); an engine with encryption
// disabled may start without the database, and says loudly that it writes
// plaintext.
//
// Waiting for the database at start (`ccrec serve --wait-for-db`) is a
// policy too: next_db_wait() says whether to try again and after how long;
// the engine does the trying (actors/engine.cpp). Pure functions, any thread.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace ccrec {

struct startup_facts {
  bool encryption = true;
  bool aes_available = true;
  std::string aes_problem;  // why not, when unavailable
  bool kek_secret_given = false;
  bool db_reachable = false;
  std::string db_problem;  // why not, when unreachable
};

struct startup_decision {
  bool start = false;
  std::string refusal;                // why not, one sentence an operator can act on
  std::vector<std::string> warnings;  // logged at warning when starting
};

startup_decision decide_startup(const startup_facts& facts);

struct db_wait_step {
  bool retry = false;                  // false: the wait is over, give up
  std::chrono::milliseconds delay{0};  // sleep this long, then try again
};

// After failed attempt number `attempt` (1 for the first), `elapsed` into a
// wait of at most `limit`: try again after a backoff of 0.5 s doubling to
// 5 s, never past the limit; give up once the limit is reached.
db_wait_step next_db_wait(int attempt, std::chrono::milliseconds elapsed,
                          std::chrono::milliseconds limit);

}  // namespace ccrec
