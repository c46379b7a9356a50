// `ccrec keys import` into a new directory: an export that does not open
// (wrong passphrase, damaged file) is refused before anything is created,
// so a failed restore leaves no empty installation behind.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "actors/key_admin.hpp"
#include "actors/keyring.hpp"
#include "crypto/key_export.hpp"
#include "storage/database.hpp"
#include "tests/actors/engine_harness.hpp"
#include "tests/integrity/integrity_support.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

constexpr char passphrase[] = "integrity export passphrase";

// A key export of a fresh installation in `dir`, made as `ccrec keys
// export` makes one.
std::string make_export(const temp_dir& dir) {
  const auto db_uri = "sqlite:" + dir.file("source.db");
  auto db = storage::database::open(db_uri);
  REQUIRE(db.ok());
  REQUIRE((*db)->migrate().ok());
  keyring_options opts;
  opts.kdf_profile = "test";
  auto secret = test_secret();
  REQUIRE(open_keyring(**db, secret.get(), opts).ok());
  auto kek = open_kek(**db, secret.get(), opts);
  REQUIRE(kek.ok());
  auto phrase = crypto::secret_bytes::copy_of(reinterpret_cast<const std::uint8_t*>(passphrase),
                                              sizeof passphrase - 1);
  const auto path = dir.file("keys.cckeyx");
  REQUIRE(
      export_keys(**db, *kek, phrase, path, crypto::export_kdf_limits::for_tests(), "test").ok());
  return path;
}

}  // namespace

TEST_CASE("a failed key import into a new directory leaves nothing behind",
          "[integrity][import][cli]") {
  temp_dir dir;
  const auto file = make_export(dir);
  const auto fresh = dir.file("restored");
  const std::string good_phrase = std::string{"CCREC_EXPORT_PASSPHRASE="} + passphrase;

  SECTION("wrong passphrase") {
    auto run = run_ccrec(dir, {"keys", "import", file, "--data-dir", fresh},
                         {integrity_secret_env, "CCREC_EXPORT_PASSPHRASE=not the passphrase"});
    CHECK(run.code == 1);
    CHECK(run.err == "ccrec keys import: " + file +
                         ": the passphrase does not open this key export [wrong_passphrase]\n");
    CHECK_FALSE(std::filesystem::exists(fresh));
  }
  SECTION("damaged export") {
    auto bytes = slurp(file);
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5a);
    const auto damaged = dir.file("damaged.cckeyx");
    std::ofstream{damaged, std::ios::binary} << bytes;
    auto run = run_ccrec(dir, {"keys", "import", damaged, "--data-dir", fresh},
                         {integrity_secret_env, good_phrase});
    CHECK(run.code == 1);
    CHECK(run.err == "ccrec keys import: " + damaged +
                         ": the key export is damaged: the header checksum does not match "
                         "[export_damaged]\n");
    CHECK_FALSE(std::filesystem::exists(fresh));
  }
  SECTION("a good import still creates the installation") {
    auto run = run_ccrec(dir, {"keys", "import", file, "--data-dir", fresh},
                         {integrity_secret_env, good_phrase});
    INFO(run.err);
    CHECK(run.code == 0);
    CHECK(run.out ==
          "created data directory " + fresh + "\nimported 1 master keys, 0 already present\n");
    CHECK(std::filesystem::exists(fresh + "/ccrec.db"));
  }
}
