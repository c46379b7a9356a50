// startup_policy: when an engine may start, and what it warns about.
#include <catch2/catch.hpp>

#include "actors/startup_policy.hpp"

using namespace ccrec;

namespace {

// Everything an encrypting engine needs is there.
startup_facts healthy() {
  startup_facts f;
  f.encryption = true;
  f.aes_available = true;
  f.kek_secret_given = true;
  f.db_reachable = true;
  return f;
}

const char* const plaintext_warning =
    "ENCRYPTION IS DISABLED: new recordings are written in plaintext; recordings made while it "
    "was enabled cannot be played until it is enabled again";

}  // namespace

TEST_CASE("an encrypting engine with everything it needs starts silently", "[startup]") {
  auto d = decide_startup(healthy());
  CHECK(d.start);
  CHECK(d.refusal.empty());
  CHECK(d.warnings.empty());
}

TEST_CASE("no AES-256-GCM on this CPU refuses the start", "[startup]") {
  auto f = healthy();
  f.aes_available = false;
  f.aes_problem = "the CPU lacks AES-NI";
  auto d = decide_startup(f);
  CHECK_FALSE(d.start);
  CHECK(d.refusal == "cannot encrypt on this machine: the CPU lacks AES-NI");
  CHECK(d.warnings.empty());
}

TEST_CASE("no key-encrypting secret refuses the start", "[startup]") {
  auto f = healthy();
  f.kek_secret_given = false;
  auto d = decide_startup(f);
  CHECK_FALSE(d.start);
  CHECK(d.refusal ==
        "no key-encrypting secret: set CCREC_KEK_SECRET or pass --kek-secret-fd N (never on the "
        "command line)");
}

TEST_CASE("an unreachable database refuses an encrypting engine", "[startup]") {
  auto f = healthy();
  f.db_reachable = false;
  f.db_problem = "connection refused at 127.0.0.1:1";
  auto d = decide_startup(f);
  CHECK_FALSE(d.start);
  CHECK(d.refusal ==
        "the database is unreachable (connection refused at 127.0.0.1:1); an engine that "
        "encrypts does not start without it, because its keys live there");
}

TEST_CASE("refusals are reported in a fixed order: AES, secret, database", "[startup]") {
  startup_facts f;
  f.encryption = true;
  f.aes_available = false;
  f.aes_problem = "no AES-NI";
  f.kek_secret_given = false;
  f.db_reachable = false;
  f.db_problem = "down";
  CHECK(decide_startup(f).refusal == "cannot encrypt on this machine: no AES-NI");

  f.aes_available = true;
  CHECK_THAT(decide_startup(f).refusal, Catch::StartsWith("no key-encrypting secret"));

  f.kek_secret_given = true;
  CHECK_THAT(decide_startup(f).refusal, Catch::StartsWith("the database is unreachable (down)"));
}

TEST_CASE("disabled encryption starts with a loud warning", "[startup]") {
  startup_facts f;
  f.encryption = false;
  f.aes_available = false;  // irrelevant without encryption
  f.kek_secret_given = false;
  f.db_reachable = true;
  auto d = decide_startup(f);
  CHECK(d.start);
  CHECK(d.refusal.empty());
  REQUIRE(d.warnings.size() == 1);
  CHECK(d.warnings[0] == plaintext_warning);
}

TEST_CASE("disabled encryption starts without the database, saying so", "[startup]") {
  startup_facts f;
  f.encryption = false;
  f.db_reachable = false;
  f.db_problem = "no route to host";
  auto d = decide_startup(f);
  CHECK(d.start);
  REQUIRE(d.warnings.size() == 2);
  CHECK(d.warnings[0] == plaintext_warning);
  CHECK(d.warnings[1] ==
        "starting without the database (no route to host); metadata waits in the journal until "
        "it returns");
}
