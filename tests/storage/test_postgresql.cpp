// What only PostgreSQL has: a server that can be unreachable, go down,
// come back, or freeze; TRUNCATE; passwords in connection strings.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <future>

#include "tests/storage/fixture.hpp"

using ccrec::storage::database;
using namespace ccrec::test;
using clock_type = std::chrono::steady_clock;

namespace {

// A loopback TCP socket bound to a port the kernel chose. listen() makes it
// a server that completes the TCP handshake but never says a word; without
// listen() the port is closed and connecting is refused.
class loopback_socket {
 public:
  explicit loopback_socket(bool listening) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    if (listening)
      REQUIRE(listen(fd_, 8) == 0);
  }
  ~loopback_socket() { close(fd_); }

  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

}  // namespace

TEST_CASE("PostgreSQL refuses TRUNCATE of keys", "[storage][postgresql]") {
  fresh_target target("postgresql");
  auto db = open_migrated(target.connection());
  REQUIRE(db->insert_key(sample_key(1000, "fp-a", {1, 2, 3})).ok());

  auto raw = target.raw_session();
  CHECK_THAT(raw_error(*raw, "TRUNCATE keys"), Catch::Contains("ccrec: keys are never deleted"));
  CHECK_THAT(raw_error(*raw, "TRUNCATE audit"),
             Catch::Contains("ccrec: audit rows are never changed or deleted"));
  CHECK(raw_count(*raw, "keys") == 1);
}

TEST_CASE("a closed port fails fast with db_unreachable", "[storage][postgresql]") {
  loopback_socket closed(false);  // bound, not listening: connections are refused
  const std::string where = "127.0.0.1:" + std::to_string(closed.port());

  auto start = clock_type::now();
  auto db = database::open("postgresql://postgres@" + where + "/ccrec");
  double took = seconds_since(start);

  REQUIRE_FALSE(db.ok());
  CHECK(db.error().code == "db_unreachable");
  CHECK(took < 6.0);
  CHECK_THAT(db.error().message,
             Catch::StartsWith("cannot open postgresql database postgresql://postgres@" + where +
                               "/ccrec: "));
  CHECK_THAT(db.error().message, Catch::Contains("Connection refused"));
}

TEST_CASE("a server that never answers times out after connect_timeout", "[storage][postgresql]") {
  loopback_socket silent(true);  // accepts the TCP handshake, never speaks
  const std::string uri =
      "postgresql://postgres@127.0.0.1:" + std::to_string(silent.port()) + "/ccrec";

  SECTION("the default of 5 s when the URI does not say") {
    auto start = clock_type::now();
    auto db = database::open(uri);
    double took = seconds_since(start);
    REQUIRE_FALSE(db.ok());
    CHECK(db.error().code == "db_unreachable");
    CHECK(took >= 4.5);
    CHECK(took < 7.0);
  }
  SECTION("the URI's own connect_timeout when it says") {
    auto start = clock_type::now();
    auto db = database::open(uri + "?application_name=t&connect_timeout=2");
    double took = seconds_since(start);
    REQUIRE_FALSE(db.ok());
    CHECK(db.error().code == "db_unreachable");
    CHECK(took >= 1.5);
    CHECK(took < 4.0);
  }
}

TEST_CASE("connection errors never show the password", "[storage][postgresql]") {
  auto& server = shared_pg_server();
  loopback_socket closed(false);
  const std::string live = "127.0.0.1:" + std::to_string(server.port());
  const std::string dead = "127.0.0.1:" + std::to_string(closed.port());

  SECTION("in the user info, server unreachable") {
    auto db = database::open("postgresql://postgres:secret@" + dead + "/ccrec");
    REQUIRE_FALSE(db.ok());
    CHECK(db.error().code == "db_unreachable");
    CHECK_THAT(db.error().message, !Catch::Contains("secret"));
    CHECK_THAT(db.error().message,
               Catch::StartsWith("cannot open postgresql database postgresql://postgres:***@" +
                                 dead + "/ccrec: "));
  }
  SECTION("in the user info, database missing") {
    auto db = database::open("postgresql://postgres:secret@" + live + "/no_such_db");
    REQUIRE_FALSE(db.ok());
    CHECK(db.error().code == "db_open_failed");
    CHECK_THAT(db.error().message, !Catch::Contains("secret"));
    CHECK_THAT(db.error().message, Catch::Contains("no_such_db"));
  }
  SECTION("as a query parameter") {
    auto db = database::open("postgresql://postgres@" + live + "/no_such_db?password=secret");
    REQUIRE_FALSE(db.ok());
    CHECK(db.error().code == "db_open_failed");
    CHECK_THAT(db.error().message, !Catch::Contains("secret"));
    CHECK_THAT(db.error().message, Catch::Contains("password=***"));
  }
}

TEST_CASE("a password in the URI still connects", "[storage][postgresql]") {
  // Trust authentication ignores it, but the URI must reach libpq intact.
  auto& server = shared_pg_server();
  const std::string name = unique_database_name();
  server.create_database(name);
  auto db = database::open(
      "postgresql://postgres:s%20cret@127.0.0.1:" + std::to_string(server.port()) + "/" + name);
  REQUIRE(db.ok());
  CHECK((*db)->migrate().ok());
}

TEST_CASE("ping reports an outage and reconnects after the server returns",
          "[storage][postgresql]") {
  fresh_target target("postgresql");
  auto db = open_migrated(target.connection());
  REQUIRE(db->insert_key(sample_key(1000, "fp-a", {9, 8, 7})).ok());
  REQUIRE(db->ping().ok());

  auto& server = shared_pg_server();
  server.stop_immediate();

  auto down = db->ping();
  REQUIRE_FALSE(down.ok());
  CHECK(down.error().code == "db_unreachable");
  CHECK_THAT(down.error().message, Catch::StartsWith("while pinging: "));

  auto write = db->upsert_call(sample_call("c-1", 1000, "offered"));
  REQUIRE_FALSE(write.ok());
  CHECK(write.error().code == "db_unreachable");
  CHECK_THAT(write.error().message, Catch::StartsWith("while upserting call c-1: "));

  server.restart();

  SECTION("ping reconnects") {
    REQUIRE(db->ping().ok());
    auto keys = db->keys();
    REQUIRE(keys.ok());
    CHECK(keys->size() == 1);
  }
  SECTION("any call reconnects a session that lost its connection") {
    REQUIRE(db->upsert_call(sample_call("c-1", 1000, "offered")).ok());
    auto call = db->call("c-1");
    REQUIRE(call.ok());
    CHECK(call->has_value());
  }
}

TEST_CASE("a session that saw no error also recovers after a restart", "[storage][postgresql]") {
  fresh_target target("postgresql");
  auto db = open_migrated(target.connection());

  auto& server = shared_pg_server();
  server.stop_immediate();
  server.restart();

  // The session's socket is dead but nothing has noticed yet: ping finds
  // out and reconnects before its query.
  REQUIRE(db->ping().ok());
  CHECK(db->schema_version() == 3);
}

TEST_CASE("a frozen server blocks a query until it thaws", "[storage][postgresql]") {
  // The documented limitation: no client-side query timeout.
  fresh_target target("postgresql");
  auto db = open_migrated(target.connection());

  auto& server = shared_pg_server();
  server.freeze();
  auto pinged = std::async(std::launch::async, [&] { return db->ping(); });
  bool blocked = pinged.wait_for(std::chrono::seconds(1)) == std::future_status::timeout;
  server.thaw();

  CHECK(blocked);
  auto result = pinged.get();
  CHECK(result.ok());
}
