// One engine per data directory: a second refuses, naming the first's pid,
// in-process and as `ccrec serve`; the lock goes with its holder.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <filesystem>

#include "actors/data_dir_lock.hpp"
#include "actors/engine.hpp"
#include "tests/actors/engine_harness.hpp"
#include "tests/integrity/integrity_support.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

std::string in_use(const std::string& dir, long pid) {
  return "data directory " + dir + " is in use by another engine (pid " + std::to_string(pid) + ")";
}

}  // namespace

TEST_CASE("a second engine on a data directory refuses, after stop it starts",
          "[integrity][lock]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  actor_env env;
  auto first = engine::start(env.sys(), cfg);
  REQUIRE(first.ok());
  CHECK(slurp(dir.file("ccrec.lock")) == std::to_string(::getpid()) + "\n");

  auto second_cfg = test_config(dir);  // same data dir, other media ports
  auto second = engine::start(env.sys(), second_cfg);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == "data_dir_in_use");
  CHECK(second.error().message == in_use(dir.path(), ::getpid()));

  (*first)->stop();
  auto third = engine::start(env.sys(), second_cfg);
  REQUIRE(third.ok());
  (*third)->stop();
}

TEST_CASE("data_dir_lock: held until released, moved with its object", "[integrity][lock]") {
  temp_dir dir;
  auto a = data_dir_lock::acquire(dir.path());
  REQUIRE(a.ok());
  CHECK(a->held());
  data_dir_lock moved = std::move(*a);
  CHECK(moved.held());
  auto b = data_dir_lock::acquire(dir.path());
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().message == in_use(dir.path(), ::getpid()));
  moved.release();
  CHECK_FALSE(moved.held());
  auto c = data_dir_lock::acquire(dir.path());
  CHECK(c.ok());

  auto missing = data_dir_lock::acquire(dir.file("no/such/dir"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "data_dir_lock");
  CHECK(missing.error().message ==
        "cannot open " + dir.file("no/such/dir") + "/ccrec.lock: No such file or directory");
}

TEST_CASE("ccrec serve refuses a data directory another serve uses, a killed one frees it",
          "[integrity][lock][cli]") {
  temp_dir dir;
  const auto data = dir.file("data");
  const auto config = serve_config(dir, data);
  ccrec_process first{{"serve", "--config", config, "--ready-file", dir.file("ready-1")},
                      dir.file("serve-1.log")};
  REQUIRE(wait_until_file(dir.file("ready-1"), std::chrono::seconds{30}));
  const auto first_ready = slurp(dir.file("ready-1"));
  CHECK_THAT(first_ready, Catch::StartsWith("tcp://127.0.0.1:"));

  // The same ready file, as a supervisor started twice would pass it.
  auto second = run_ccrec(dir, {"serve", "--config", config, "--ready-file", dir.file("ready-1")});
  CHECK(second.code == 1);
  CHECK(second.err ==
        "ccrec serve: refusing to start: " + in_use(data, static_cast<long>(first.pid())) + "\n");
  CHECK(slurp(dir.file("ready-1")) == first_ready);
  CHECK_FALSE(std::filesystem::exists(dir.file("ready-1.tmp")));
  // The first engine's status file is its own still.
  CHECK_THAT(slurp(data + "/status.json"),
             Catch::Contains("\"pid\": " + std::to_string(first.pid())));

  // SIGKILL: no clean-up runs, and still the lock is gone with the process.
  ::kill(first.pid(), SIGKILL);
  CHECK(first.wait_exit(std::chrono::seconds{10}) == 128 + SIGKILL);
  ccrec_process third{{"serve", "--config", config, "--ready-file", dir.file("ready-3")},
                      dir.file("serve-3.log")};
  REQUIRE(wait_until_file(dir.file("ready-3"), std::chrono::seconds{30}));
  CHECK(slurp(data + "/ccrec.lock") == std::to_string(third.pid()) + "\n");
  CHECK(third.stop() == 0);
}
