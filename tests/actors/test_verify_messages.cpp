// What `ccrec verify` says about a path that is not a recording: a missing
// path is "not found", a directory "not a file", and a damaged file's line
// names the path once.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "actors/keyring.hpp"
#include "actors/recordings.hpp"
#include "tests/support/temp_dir.hpp"

using namespace ccrec;
using ccrec::test::temp_dir;

TEST_CASE("verify names a missing path, a directory and a damaged file plainly", "[verify]") {
  temp_dir dir;
  keyring ring;

  auto missing = dir.path() + "/nothere.ccenx";
  auto gone = verify_recording(missing, ring);
  CHECK_FALSE(gone.ok());
  CHECK(gone.describe() == "FAIL " + missing + ": not found");

  auto sub = dir.path() + "/sub";
  std::filesystem::create_directory(sub);
  auto directory = verify_recording(sub, ring);
  CHECK_FALSE(directory.ok());
  CHECK(directory.describe() == "FAIL " + sub + ": not a file");

  auto junk = dir.path() + "/junk.bin";
  std::ofstream{junk} << "hello\n";
  auto damaged = verify_recording(junk, ring);
  CHECK_FALSE(damaged.ok());
  CHECK(damaged.describe() ==
        "FAIL " + junk + ": corrupt: the file does not start with the CCENX magic");
}
