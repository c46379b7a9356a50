// Key wrapping, fingerprints and the passphrase KEK provider.
#include <catch2/catch.hpp>

#include <cstring>

#include "crypto/key_wrap.hpp"
#include "tests/crypto/crypto_test_util.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

constexpr std::size_t wrapped_32_bytes = 12 + 32 + 16;

bool same_bytes(const crypto::secret_bytes& a, const crypto::secret_bytes& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

crypto::secret_bytes secret_of(const std::string& s) {
  return crypto::secret_bytes::copy_of(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

}  // namespace

TEST_CASE("wrap_key and unwrap_key round trip", "[key_wrap]") {
  const crypto::secret_bytes kek = crypto::secret_bytes::random(crypto::key_bytes);
  const crypto::secret_bytes key = crypto::secret_bytes::random(crypto::key_bytes);

  auto wrapped = crypto::wrap_key(kek, key, "ccrec master key 7");
  REQUIRE(wrapped.ok());
  CHECK(wrapped->size() == wrapped_32_bytes);
  CHECK_FALSE(contains(*wrapped, key.data(), 16));
  CHECK_FALSE(contains(*wrapped, key.data() + 16, 16));

  auto back = crypto::unwrap_key(kek, *wrapped, "ccrec master key 7");
  REQUIRE(back.ok());
  CHECK(same_bytes(*back, key));

  // A fresh nonce per wrap: the same key wraps differently each time.
  auto again = crypto::wrap_key(kek, key, "ccrec master key 7");
  REQUIRE(again.ok());
  CHECK(*again != *wrapped);
}

TEST_CASE("unwrap_key fails on a wrong KEK, context or any damage", "[key_wrap]") {
  const crypto::secret_bytes kek = crypto::secret_bytes::random(crypto::key_bytes);
  const crypto::secret_bytes key = crypto::secret_bytes::random(crypto::key_bytes);
  const auto wrapped = crypto::wrap_key(kek, key, "ccrec master key 7");
  REQUIRE(wrapped.ok());

  const crypto::secret_bytes other_kek = crypto::secret_bytes::random(crypto::key_bytes);
  CHECK(crypto::unwrap_key(other_kek, *wrapped, "ccrec master key 7").error().code ==
        "unwrap_failed");
  auto moved = crypto::unwrap_key(kek, *wrapped, "ccrec master key 8");
  REQUIRE_FALSE(moved.ok());
  CHECK(moved.error().code == "unwrap_failed");
  CHECK_THAT(moved.error().message, Catch::Contains("ccrec master key 8"));

  for (std::size_t byte = 0; byte < wrapped->size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      bytes damaged = *wrapped;
      damaged[byte] ^= static_cast<std::uint8_t>(1u << bit);
      INFO("byte " << byte << " bit " << bit);
      CHECK(crypto::unwrap_key(kek, damaged, "ccrec master key 7").error().code == "unwrap_failed");
    }
  }

  const bytes cut(wrapped->begin(), wrapped->begin() + 28);
  CHECK(crypto::unwrap_key(kek, cut, "ccrec master key 7").error().code == "unwrap_failed");
  CHECK(crypto::unwrap_key(kek, bytes{}, "ccrec master key 7").error().code == "unwrap_failed");
  CHECK(crypto::wrap_key(crypto::secret_bytes::random(16), key, "x").error().code == "bad_key");
  CHECK(crypto::wrap_key(kek, crypto::secret_bytes(), "x").error().code == "bad_key");
}

TEST_CASE("key_fingerprint is keyed BLAKE2b of a fixed label", "[key_wrap]") {
  // Expected values computed independently with Python's hashlib:
  //   blake2b(b"ccrec key fingerprint v1", key=k, digest_size=32).hexdigest()[:16]
  CHECK(crypto::key_fingerprint(counting_key(0x00)) == "dee1da56928373cd");
  CHECK(crypto::key_fingerprint(counting_key(0x40)) == "28020548ce80dad2");
  // Keys shorter than BLAKE2b's 16-byte minimum are hashed (unkeyed,
  // 32 bytes) first.
  const std::uint8_t eight[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  CHECK(crypto::key_fingerprint(crypto::secret_bytes::copy_of(eight, 8)) == "a9dbe8b375b9f6f6");
  CHECK(crypto::key_fingerprint(crypto::secret_bytes()) == "");
}

TEST_CASE("Passphrase KEK provider derives stable, salt-bound KEKs", "[key_wrap]") {
  CHECK(crypto::passphrase_salt_bytes() == 16);
  const std::vector<std::uint8_t> salt_a(16, 0x01);
  const std::vector<std::uint8_t> salt_b(16, 0x02);

  auto provider = crypto::make_passphrase_kek_provider(secret_of("correct horse battery"), true);
  CHECK(provider->name() == "passphrase-argon2id");
  auto a1 = provider->kek(salt_a);
  auto a2 = provider->kek(salt_a);
  auto b = provider->kek(salt_b);
  REQUIRE(a1.ok());
  REQUIRE(a2.ok());
  REQUIRE(b.ok());
  CHECK(a1->size() == crypto::key_bytes);
  CHECK(crypto::key_fingerprint(*a1) == crypto::key_fingerprint(*a2));
  CHECK(crypto::key_fingerprint(*a1) != crypto::key_fingerprint(*b));

  // A second provider with the same secret agrees; another secret does not.
  auto same = crypto::make_passphrase_kek_provider(secret_of("correct horse battery"), true);
  auto other = crypto::make_passphrase_kek_provider(secret_of("correct horse battery!"), true);
  CHECK(crypto::key_fingerprint(*same->kek(salt_a)) == crypto::key_fingerprint(*a1));
  CHECK(crypto::key_fingerprint(*other->kek(salt_a)) != crypto::key_fingerprint(*a1));

  // The KEK really is usable as one.
  const crypto::secret_bytes key = crypto::secret_bytes::random(crypto::key_bytes);
  auto wrapped = crypto::wrap_key(*a1, key, "k");
  REQUIRE(wrapped.ok());
  CHECK(same_bytes(*crypto::unwrap_key(*a2, *wrapped, "k"), key));

  CHECK(provider->kek(std::vector<std::uint8_t>(8, 1)).error().code == "bad_salt");
}

TEST_CASE("Passphrase KEK provider refuses an empty secret", "[key_wrap]") {
  auto provider = crypto::make_passphrase_kek_provider(crypto::secret_bytes(), true);
  auto k = provider->kek(std::vector<std::uint8_t>(16, 0));
  REQUIRE_FALSE(k.ok());
  CHECK(k.error().code == "kek_secret_missing");
}

TEST_CASE("Passphrase KEK provider's production cost differs from the test cost",
          "[key_wrap][slow]") {
  // MODERATE limits (256 MiB, 3 passes) give another KEK for the same input;
  // this also shows production derivation works on this machine.
  const std::vector<std::uint8_t> salt(16, 0x05);
  auto fast = crypto::make_passphrase_kek_provider(secret_of("operator secret"), true);
  auto moderate = crypto::make_passphrase_kek_provider(secret_of("operator secret"), false);
  auto f = fast->kek(salt);
  auto m = moderate->kek(salt);
  REQUIRE(f.ok());
  REQUIRE(m.ok());
  CHECK(crypto::key_fingerprint(*f) != crypto::key_fingerprint(*m));
}
