// `ccrec` given options it cannot use: every command-line parse error ends
// with exit 2 (docs/keys.md: 2 = unusable options) and CLI11's message on
// stderr, --help still ends with 0, and --log-level takes its names in any
// case but nothing else.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/support/program.hpp"
#include "tests/support/temp_dir.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

// Runs ccrec with `args`, an empty environment and stdin from /dev/null.
program_run run(const temp_dir& dir, const std::vector<std::string>& args) {
  return run_program(program_args{CCREC_BIN, args, {}}, dir.file("out.txt"), dir.file("err.txt"));
}

constexpr char help_hint[] = "Run with --help for more information.\n";

}  // namespace

TEST_CASE("every command-line parse error exits 2 with CLI11's message", "[cli]") {
  temp_dir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "A subcommand is required"},
      {{"keys", "deactivate"}, "id is required"},
      {{"keys", "list", "--bogus"}, "The following argument was not expected: --bogus"},
      {{"keys", "deactivate", "abc"}, "Could not convert: id = abc"},
      {{"serve", "--cti", "tcp://127.0.0.1:1", "--cti", "tcp://127.0.0.1:2"},
       "--cti: At Most 1 required but received 2"},
      {{"play", "X"}, "--output is required"},
      {{"keys", "list", "--kek-secret-fd", "-1"},
       "--kek-secret-fd: Value -1 not in range 0 to 2147483647"},
  };
  for (const auto& [args, message] : cases) {
    INFO("args: " << args.size() << " " << (args.empty() ? "" : args[0]));
    auto r = run(dir, args);
    CHECK(r.code == 2);
    CHECK(r.err == message + "\n" + help_hint);
    CHECK(r.out.empty());
  }
}

TEST_CASE("ccrec --help still exits 0", "[cli]") {
  temp_dir dir;
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"--help"}, {"keys", "--help"}, {"serve", "--help"}}) {
    auto r = run(dir, args);
    CHECK(r.code == 0);
    // The description line, then the usage line naming the command.
    auto usage = std::string{"\nUsage: "} + CCREC_BIN + (args.size() == 2 ? " " + args[0] : "");
    CHECK(r.out.find(usage + " [OPTIONS]") != std::string::npos);
    CHECK(r.err.empty());
  }
}

TEST_CASE("ccrec --log-level takes its names in any case and refuses others", "[cli]") {
  temp_dir dir;
  auto loud = run(dir, {"serve", "--log-level", "loud"});
  CHECK(loud.code == 2);
  CHECK(loud.err ==
        std::string{"--log-level: loud not in {trace,debug,info,warn,error,critical,off}\n"} +
            help_hint);

  // Accepted: parsing goes on to the command, which stops at the missing
  // data directory instead.
  const auto missing = dir.file("no-such-dir");
  for (const char* level : {"INFO", "Warn", "debug", "ERROR"}) {
    auto r = run(dir, {"recordings", "--log-level", level, "--data-dir", missing});
    CHECK(r.code == 2);
    CHECK(r.err == "ccrec recordings: no ccrec data directory at '" + missing +
                       "' (pass --data-dir, or --db for another database)\n");
  }
}
