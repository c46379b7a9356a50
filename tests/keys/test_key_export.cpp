// The CCKEYX export format (docs/keys.md) on its own: layout, round trip,
// and every way a file can fail to open, each with its own error code.
#include <catch2/catch.hpp>

#include <sodium.h>

#include <cstring>
#include <filesystem>

#include "crypto/key_export.hpp"
#include "crypto/key_wrap.hpp"
#include "tests/keys/keys_support.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

constexpr std::size_t key_entry_bytes = 8 + 8 + 1 + 6 + 1 + 16 + 2 + 32;  // status "active"
constexpr std::size_t tag_bytes = 16;

crypto::exported_key make_key(std::int64_t id, std::uint8_t fill, const std::string& status) {
  crypto::exported_key k;
  k.id = id;
  k.created_ms = 1700000000000 + id;
  k.status = status;
  k.key = crypto::secret_bytes(crypto::key_bytes);
  std::memset(k.key.data(), fill, k.key.size());
  k.fingerprint = crypto::key_fingerprint(k.key);
  return k;
}

std::vector<crypto::exported_key> two_keys() {
  std::vector<crypto::exported_key> keys;
  keys.push_back(make_key(1, 0x11, "active"));
  keys.push_back(make_key(7, 0x77, "retired"));
  return keys;
}

std::vector<std::uint8_t> sealed_two_keys() {
  auto file = crypto::seal_key_export(two_keys(), secret_of(test_passphrase),
                                      crypto::export_kdf_limits::for_tests());
  REQUIRE(file.ok());
  return *file;
}

std::uint64_t be(const std::vector<std::uint8_t>& b, std::size_t at, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i)
    v = (v << 8) | b[at + i];
  return v;
}

std::string open_error(const std::vector<std::uint8_t>& file,
                       const std::string& passphrase = test_passphrase) {
  auto opened = crypto::open_key_export(file, secret_of(passphrase));
  return opened.ok() ? "" : opened.error().code;
}

}  // namespace

TEST_CASE("a key export has the documented layout", "[keys][export]") {
  auto file = sealed_two_keys();
  const std::size_t payload = 4 + key_entry_bytes + (key_entry_bytes + 1);  // "retired" is 7
  REQUIRE(file.size() == crypto::key_export_header_size + payload + tag_bytes);
  CHECK(std::memcmp(file.data(), "CCKEYX", 6) == 0);
  CHECK(file[6] == 1);
  CHECK(file[7] == 2);  // Argon2id v1.3
  CHECK(be(file, 8, 8) == crypto_pwhash_OPSLIMIT_MIN);
  CHECK(be(file, 16, 8) == 8u * 1024 * 1024);
  CHECK(be(file, 64, 4) == payload + tag_bytes);

  // The header checksum is BLAKE2b-256 of bytes 0..99.
  std::uint8_t sum[32];
  crypto_generichash(sum, sizeof sum, file.data(), 100, nullptr, 0);
  CHECK(std::memcmp(sum, file.data() + 100, 32) == 0);

  auto header = crypto::read_key_export_header(file);
  REQUIRE(header.ok());
  CHECK(header->version == 1);
  CHECK(header->limits.opslimit == crypto_pwhash_OPSLIMIT_MIN);
  CHECK(header->sealed_bytes == payload + tag_bytes);

  // Fresh salt and nonce every time: two exports of the same keys differ.
  auto again = sealed_two_keys();
  CHECK(std::memcmp(file.data() + 24, again.data() + 24, 40) != 0);
}

TEST_CASE("a key export opens to exactly the keys sealed into it", "[keys][export]") {
  auto opened = crypto::open_key_export(sealed_two_keys(), secret_of(test_passphrase));
  REQUIRE(opened.ok());
  REQUIRE(opened->size() == 2);
  auto want = two_keys();
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& got = (*opened)[i];
    CHECK(got.id == want[i].id);
    CHECK(got.created_ms == want[i].created_ms);
    CHECK(got.status == want[i].status);
    CHECK(got.fingerprint == want[i].fingerprint);
    REQUIRE(got.key.size() == crypto::key_bytes);
    CHECK(std::memcmp(got.key.data(), want[i].key.data(), crypto::key_bytes) == 0);
  }

  auto empty = crypto::seal_key_export({}, secret_of(test_passphrase),
                                       crypto::export_kdf_limits::for_tests());
  REQUIRE(empty.ok());
  auto none = crypto::open_key_export(*empty, secret_of(test_passphrase));
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("a key export never holds a key in the clear", "[keys][export]") {
  auto file = sealed_two_keys();
  const std::string text(file.begin(), file.end());
  for (const auto& k : two_keys()) {
    INFO("key " << k.id);
    CHECK_FALSE(contains_any(text, leak_forms(k.key)));
  }
}

TEST_CASE("a wrong passphrase, damage and truncation fail with their own codes", "[keys][export]") {
  const auto good = sealed_two_keys();
  REQUIRE(open_error(good).empty());

  CHECK(open_error(good, wrong_passphrase_text) == "wrong_passphrase");
  CHECK(open_error(good, "") == "passphrase_missing");

  SECTION("a flipped byte anywhere in the header is damage") {
    for (std::size_t at : {7u, 8u, 20u, 30u, 50u, 66u, 80u, 120u}) {
      auto bad = good;
      bad[at] ^= 0x01;
      INFO("byte " << at);
      CHECK(open_error(bad) == "export_damaged");
    }
  }
  SECTION("a flipped byte in the sealed keys is damage") {
    for (std::size_t at : {crypto::key_export_header_size, good.size() / 2 + 40, good.size() - 1}) {
      auto bad = good;
      bad[at] ^= 0x80;
      INFO("byte " << at);
      CHECK(open_error(bad) == "export_damaged");
    }
  }
  SECTION("magic and version") {
    auto bad = good;
    bad[0] = 'X';
    CHECK(open_error(bad) == "export_bad_magic");
    bad = good;
    bad[6] = 2;
    CHECK(open_error(bad) == "export_unsupported_version");
    CHECK(open_error(std::vector<std::uint8_t>{'C', 'C', 'E', 'N', 'X', 1}) == "export_bad_magic");
  }
  SECTION("truncated anywhere") {
    for (std::size_t size : {std::size_t{0}, std::size_t{3}, std::size_t{100},
                             crypto::key_export_header_size, good.size() - 1}) {
      std::vector<std::uint8_t> cut(good.begin(), good.begin() + static_cast<long>(size));
      INFO("cut to " << size);
      CHECK(open_error(cut) == "export_truncated");
    }
  }
  SECTION("bytes after the sealed keys") {
    auto longer = good;
    longer.push_back(0);
    CHECK(open_error(longer) == "export_damaged");
  }
}

TEST_CASE("sealing refuses what it could not open again", "[keys][export]") {
  auto keys = two_keys();
  auto passphrase = secret_of(test_passphrase);
  auto limits = crypto::export_kdf_limits::for_tests();

  CHECK(crypto::seal_key_export(keys, secret_of(""), limits).error().code == "passphrase_missing");
  auto greedy = limits;
  greedy.memlimit = 2ULL * 1024 * 1024 * 1024;
  CHECK(crypto::seal_key_export(keys, passphrase, greedy).error().code == "bad_export_params");

  keys[1].fingerprint = keys[0].fingerprint;
  auto wrong_fp = crypto::seal_key_export(keys, passphrase, limits);
  REQUIRE_FALSE(wrong_fp.ok());
  CHECK(wrong_fp.error().code == "export_bad_key");
  CHECK(wrong_fp.error().message == "key 7: the fingerprint is not the key's");

  keys = two_keys();
  keys[0].id = 0;
  CHECK(crypto::seal_key_export(keys, passphrase, limits).error().code == "export_bad_key");
}

TEST_CASE("export files are created, never replaced, and read back", "[keys][export]") {
  temp_dir dir;
  const auto path = dir.file("keys.cckeyx");
  const auto bytes = sealed_two_keys();
  REQUIRE(crypto::write_key_export_file(path, bytes).ok());
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));

  auto again = crypto::write_key_export_file(path, bytes);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == "export_exists");

  auto read = crypto::read_key_export_file(path);
  REQUIRE(read.ok());
  CHECK(*read == bytes);
  CHECK(crypto::read_key_export_file(dir.file("missing")).error().code == "export_io");
  CHECK(crypto::write_key_export_file(dir.file("no/such/dir/x"), bytes).error().code ==
        "export_io");
}
