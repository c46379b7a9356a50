// Acceptance: start-up gating. An encrypting `ccrec serve` without its
// database exits non-zero within seconds and says why; with --wait-for-db it
// waits with backoff, logging progress, and starts once PostgreSQL appears,
// or gives up when the wait is over. With encryption disabled it starts
// without the database. The real binary against a real PostgreSQL.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>

#include "tests/outage/outage_harness.hpp"
#include "tests/support/pg_server.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

constexpr std::uint16_t child_ports = 20;
constexpr milliseconds refuse_limit{10000};
constexpr milliseconds ready_limit{30000};
constexpr seconds db_appears_after{4};
constexpr int exit_refused = 1;
constexpr int exit_usage = 2;

struct stopped_database {
  std::string uri;
  stopped_database() {
    auto& pg = shared_pg_server();
    uri = fresh_database("outage_start");
    pg.stop_immediate();
  }
};

std::vector<std::string> serve_args(const std::string& config, const std::string& ready) {
  return {ccrec_binary(), "serve", "--config", config, "--ready-file", ready};
}

}  // namespace

TEST_CASE("an encrypting engine without its database exits at once and says why",
          "[outage][startup][postgresql]") {
  stopped_database db;
  temp_dir dir;
  auto [low, high] = media_ports(child_ports, 0);
  auto config = write_engine_config(dir, db.uri, low, high);

  auto began = std::chrono::steady_clock::now();
  auto run = run_ccrec({"serve", "--config", config}, dir);
  auto took = std::chrono::steady_clock::now() - began;
  INFO(run.output);
  CHECK(run.status == exit_refused);
  CHECK(took < refuse_limit);
  CHECK(contains(run.output, "ccrec serve: refusing to start: the database is unreachable ("));
  CHECK(contains(run.output, "because its keys live there"));
}

TEST_CASE("with --wait-for-db the engine waits with backoff, then starts when the database is up",
          "[outage][startup][postgresql]") {
  stopped_database db;
  temp_dir dir;
  auto [low, high] = media_ports(child_ports, 0);
  auto config = write_engine_config(dir, db.uri, low, high);
  auto ready = dir.file("ready");
  auto log = dir.file("serve.log");
  auto args = serve_args(config, ready);
  args.insert(args.end(), {"--wait-for-db", "20s"});

  child_process engine{args, log};
  std::this_thread::sleep_for(db_appears_after);
  CHECK_FALSE(engine.wait_exit(milliseconds{0}).has_value());
  CHECK_FALSE(wait_for_file(ready, milliseconds{0}));
  CHECK(contains(read_file(log), "waiting for the database ("));

  shared_pg_server().restart();
  REQUIRE(wait_for_file(ready, ready_limit));
  CHECK(contains(read_file(log), "the database answered after"));
  auto [status, seen] = wait_status_file(dir.file("data"), ready_limit, [](const auto& j) {
    return j.at("database").at("up").template get<bool>();
  });
  CHECK(seen);
  auto shown = run_ccrec({"status", "--config", config}, dir);
  CHECK(shown.status == 0);
  CHECK(contains(shown.output, "database:   postgresql, up since"));

  engine.signal(SIGTERM);
  CHECK(engine.wait_exit(seconds{30}) == 0);
  auto stopped = run_ccrec({"status", "--config", config}, dir);
  CHECK(stopped.status == 1);
  CHECK(contains(stopped.output, "stopped at"));
}

TEST_CASE("with --wait-for-db the engine gives up when the wait is over",
          "[outage][startup][postgresql]") {
  stopped_database db;
  temp_dir dir;
  auto [low, high] = media_ports(child_ports, 0);
  auto config = write_engine_config(dir, db.uri, low, high);

  auto began = std::chrono::steady_clock::now();
  auto run = run_ccrec({"serve", "--config", config, "--wait-for-db", "2s"}, dir);
  auto took = std::chrono::steady_clock::now() - began;
  INFO(run.output);
  CHECK(run.status == exit_refused);
  CHECK(took >= seconds{2});
  CHECK(took < refuse_limit);
  CHECK(contains(run.output, "still unreachable after waiting 2 s"));
  CHECK(contains(run.output, "because its keys live there"));

  auto bad = run_ccrec({"serve", "--config", config, "--wait-for-db", "soon"}, dir);
  CHECK(bad.status == exit_usage);
  CHECK(contains(bad.output, "'soon' is not a duration"));
}

TEST_CASE("with encryption disabled the engine starts without its database",
          "[outage][startup][postgresql]") {
  stopped_database db;
  temp_dir dir;
  auto [low, high] = media_ports(child_ports, 0);
  auto config = write_engine_config(dir, db.uri, low, high);
  std::ofstream{config, std::ios::app} << "encryption = false\n";
  auto ready = dir.file("ready");
  auto log = dir.file("serve.log");

  child_process engine{serve_args(config, ready), log};
  REQUIRE(wait_for_file(ready, ready_limit));
  auto [status, seen] = wait_status_file(dir.file("data"), ready_limit, [](const auto& j) {
    return j.at("database").at("up").template get<bool>() == false;
  });
  CHECK(seen);
  CHECK(status.at("encryption") == false);
  CHECK(contains(read_file(log), "ENCRYPTION IS DISABLED"));
  CHECK(contains(read_file(log), "starting without the database"));

  engine.signal(SIGTERM);
  CHECK(engine.wait_exit(seconds{30}) == 0);
}
