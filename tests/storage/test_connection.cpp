// Connection strings: which backend, what libpq receives, what people see.
#include <catch2/catch.hpp>

#include "storage/connection.hpp"

using namespace ccrec::storage::detail;

TEST_CASE("connection strings choose the backend", "[storage][connection]") {
  auto sqlite = parse_target("sqlite:/var/lib/ccrec/ccrec.db");
  REQUIRE(sqlite.ok());
  CHECK(sqlite->kind == backend_kind::sqlite3);
  CHECK(sqlite->connect == "db=\"/var/lib/ccrec/ccrec.db\"");
  CHECK(sqlite->shown == "/var/lib/ccrec/ccrec.db");

  auto bare = parse_target("relative/ccrec.db");
  REQUIRE(bare.ok());
  CHECK(bare->kind == backend_kind::sqlite3);
  CHECK(bare->shown == "relative/ccrec.db");

  auto pg = parse_target("postgresql://rec@db.example:5433/ccrec");
  REQUIRE(pg.ok());
  CHECK(pg->kind == backend_kind::postgresql);
  CHECK(pg->connect == "postgresql://rec@db.example:5433/ccrec?connect_timeout=5");
  CHECK(pg->shown == "postgresql://rec@db.example:5433/ccrec");
  CHECK(pg->password.empty());

  auto short_scheme = parse_target("postgres://rec@db.example/ccrec?sslmode=require");
  REQUIRE(short_scheme.ok());
  CHECK(short_scheme->kind == backend_kind::postgresql);
  CHECK(short_scheme->connect ==
        "postgres://rec@db.example/ccrec?sslmode=require&connect_timeout=5");

  CHECK_FALSE(parse_target("sqlite:").ok());
  CHECK_FALSE(parse_target("sqlite:/tmp/a\"b.db").ok());
}

TEST_CASE("an explicit connect_timeout is kept", "[storage][connection]") {
  auto first = parse_target("postgresql://h/db?connect_timeout=2");
  REQUIRE(first.ok());
  CHECK(first->connect == "postgresql://h/db?connect_timeout=2");

  auto later = parse_target("postgresql://h/db?sslmode=disable&connect_timeout=9");
  REQUIRE(later.ok());
  CHECK(later->connect == "postgresql://h/db?sslmode=disable&connect_timeout=9");
}

TEST_CASE("passwords are hidden from what people see", "[storage][connection]") {
  std::string password;
  CHECK(redact_uri("postgresql://rec:secret@db:5432/ccrec", &password) ==
        "postgresql://rec:***@db:5432/ccrec");
  CHECK(password == "secret");

  password.clear();
  CHECK(redact_uri("postgresql://rec@db/ccrec?sslmode=require&password=secret", &password) ==
        "postgresql://rec@db/ccrec?sslmode=require&password=***");
  CHECK(password == "secret");

  // '@' and ':' inside a password are percent-encoded; the last '@' ends it.
  password.clear();
  CHECK(redact_uri("postgresql://rec:p%40ss:w@db", &password) == "postgresql://rec:***@db");
  CHECK(password == "p%40ss:w");

  CHECK(redact_uri("postgresql://db/ccrec") == "postgresql://db/ccrec");
  CHECK(redact_uri("postgresql://rec@db") == "postgresql://rec@db");

  auto target = parse_target("postgresql://rec:s%20cret@db/ccrec");
  REQUIRE(target.ok());
  CHECK(target->shown == "postgresql://rec:***@db/ccrec");
  CHECK(target->password == "s%20cret");
  CHECK(target->connect == "postgresql://rec:s%20cret@db/ccrec?connect_timeout=5");
}

TEST_CASE("scrub removes a secret in both spellings", "[storage][connection]") {
  CHECK(scrub("auth failed for s%20cret and s cret", "s%20cret") == "auth failed for *** and ***");
  CHECK(scrub("nothing to hide", "") == "nothing to hide");
}

TEST_CASE("open failures are sorted into unreachable and misconfigured", "[storage][connection]") {
  CHECK(open_failure_is_unreachable(
      "connection to server at \"127.0.0.1\", port 1 failed: Connection refused"));
  CHECK(open_failure_is_unreachable("timeout expired"));
  CHECK(open_failure_is_unreachable("FATAL: the database system is starting up"));
  CHECK_FALSE(open_failure_is_unreachable(
      "connection to server at \"127.0.0.1\", port 5432 failed: FATAL: database \"x\" does not "
      "exist"));
  CHECK_FALSE(open_failure_is_unreachable("FATAL: password authentication failed for user \"u\""));
}
