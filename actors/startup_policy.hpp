// startup_policy: whether an engine may start, given what it found.
//
// One place holds the rule, so that it is stated once and tested directly:
// an engine that encrypts needs AES-256-GCM on this CPU, a key-encrypting
// secret, and its database (the keys live there); an engine with encryption
// disabled may start without the database, and says loudly that it writes
// plaintext.
#pragma once

#include <string>
#include <vector>

namespace ccrec {

struct startup_facts {
  bool encryption = true;
  bool aes_available = true;
  std::string aes_problem;  // why not, when unavailable
  bool kek_secret_given = false;
  bool db_reachable = false;
  std::string db_problem;   // why not, when unreachable
};

struct startup_decision {
  bool start = false;
  std::string refusal;                // why not, one sentence an operator can act on
  std::vector<std::string> warnings;  // logged at warning when starting
};

startup_decision decide_startup(const startup_facts& facts);

}  // namespace ccrec
