// Files `ccrec serve` writes for others: a full disk never empties
// status.json, and a ready file that cannot be written stops the start.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/actors/engine_harness.hpp"
#include "tests/integrity/integrity_support.hpp"

using namespace ccrec;
using namespace ccrec::test;

TEST_CASE("a status file that cannot be written keeps the old one and is logged once",
          "[integrity][status-file][cli]") {
  temp_dir dir;
  const auto data = dir.file("data");
  std::filesystem::create_directories(data);
  {
    std::ofstream old{data + "/status.json"};
    old << "{\"state\": \"the previous status\"}\n";
  }
  // Every write of the temporary file meets a full device.
  std::filesystem::create_symlink("/dev/full", data + "/status.json.tmp");

  const auto log = dir.file("serve.log");
  ccrec_process serve{
      {"serve", "--config", serve_config(dir, data), "--ready-file", dir.file("ready")}, log};
  REQUIRE(wait_until_file(dir.file("ready"), std::chrono::seconds{30}));
  std::this_thread::sleep_for(std::chrono::milliseconds{3500});  // three more writes
  CHECK(serve.stop() == 0);

  CHECK(slurp(data + "/status.json") == "{\"state\": \"the previous status\"}\n");
  const auto output = slurp(log);
  CHECK(count_of(output, "cannot write " + data +
                             "/status.json.tmp: No space left on device; the previous status "
                             "file is kept") == 1);
}

TEST_CASE("serve refuses a ready file it cannot write, before starting", "[integrity][cli]") {
  temp_dir dir;
  const auto data = dir.file("data");
  auto run = run_ccrec(
      dir, {"serve", "--config", serve_config(dir, data), "--ready-file", "/nonexistent/ready"});
  CHECK(run.code == 2);
  CHECK(run.err ==
        "ccrec serve: cannot write the ready file /nonexistent/ready (via "
        "/nonexistent/ready.tmp): No such file or directory\n");
  CHECK_FALSE(std::filesystem::exists(data));
}
