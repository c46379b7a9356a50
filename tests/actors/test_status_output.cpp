// What an operator sees of the engine's counters: the status file that
// `ccrec serve` writes (status_json) and `ccrec status`, text and --json, run
// as the real program on that file.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/ccrec/output.hpp"
#include "apps/ccrec/status_file.hpp"
#include "tests/support/program.hpp"
#include "tests/support/temp_dir.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

// Runs ccrec with `args`, an empty environment and stdin from /dev/null.
program_run run_ccrec(const temp_dir& dir, const std::vector<std::string>& args) {
  return run_program(program_args{CCREC_BIN, args, {}}, dir.file("stdout.txt"),
                     dir.file("stderr.txt"));
}

// A running engine's status with a distinct value in every counter.
nlohmann::json running_status(const temp_dir& dir) {
  app::serve_facts facts;
  facts.pid = static_cast<long>(::getpid());  // alive: the file is trusted
  facts.started_ms = app::wall_ms();
  facts.db_backend = "sqlite3";
  facts.cti_endpoint = "tcp://127.0.0.1:5555";

  engine_status s;
  s.db_up = true;
  s.cti_received = 9;
  s.cti_events = 4;
  s.cti_rejected = 5;
  s.media.packets = 208;
  s.media.invalid = 3;
  s.media.late = 2;
  s.media.duplicates = 1;
  s.media.foreign_ssrc = 100;
  s.media.after_end = 7;
  s.media.open_ports = 4;
  auto j = app::status_json(facts, s, app::wall_ms());
  REQUIRE(app::write_status_file(dir.path(), j).ok());
  return j;
}

// The line of `text` that starts with `prefix`, or "".
std::string line_starting(const std::string& text, const std::string& prefix) {
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0)
      return line;
  }
  return "";
}

}  // namespace

TEST_CASE("the status file carries the CTI and media counters", "[status]") {
  temp_dir dir;
  auto j = running_status(dir);
  CHECK(j.at("cti") == nlohmann::json::parse(R"({"endpoint":"tcp://127.0.0.1:5555",
      "received":9,"events":4,"rejected":5})"));
  CHECK(j.at("media") == nlohmann::json::parse(R"({"packets":208,"invalid":3,"late":2,
      "duplicates":1,"foreign_ssrc":100,"after_end":7,"open_ports":4})"));
}

TEST_CASE("ccrec status shows the CTI and media counters", "[status][cli]") {
  temp_dir dir;
  running_status(dir);

  auto text = run_ccrec(dir, {"status", "--data-dir", dir.path()});
  INFO(text.err);
  CHECK(text.code == 0);
  CHECK(line_starting(text.out, "cti:") ==
        "cti:        9 message(s) received (4 decoded), 5 rejected; tcp://127.0.0.1:5555");
  CHECK(line_starting(text.out, "media:") ==
        "media:      208 datagram(s) received; dropped: 3 invalid, 2 late, 1 duplicate, 100 "
        "foreign SSRC; 7 after their call ended; 4 port(s) open");

  auto json = run_ccrec(dir, {"status", "--data-dir", dir.path(), "--json"});
  CHECK(json.code == 0);
  auto shown = nlohmann::json::parse(json.out);
  CHECK(shown.at("running") == true);
  CHECK(shown.at("cti").at("received") == 9);
  CHECK(shown.at("cti").at("rejected") == 5);
  CHECK(shown.at("media").at("invalid") == 3);
  CHECK(shown.at("media").at("foreign_ssrc") == 100);
}

TEST_CASE("ccrec tables size each column to its widest cell", "[status][cli]") {
  std::ostringstream captured;
  auto* before = std::cout.rdbuf(captured.rdbuf());
  app::print_table({"ID", "CALL", "FILE"},
                   {{"r1", "a-call-id-of-24-chars-xx", "/x/1"}, {"recording-2", "c", "/x/2"}});
  std::cout.rdbuf(before);

  CHECK(captured.str() ==
        "ID           CALL                      FILE\n"
        "r1           a-call-id-of-24-chars-xx  /x/1\n"
        "recording-2  c                         /x/2\n");
}
