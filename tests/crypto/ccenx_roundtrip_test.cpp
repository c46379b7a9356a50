// CCENX round trips: sizes around chunk boundaries, flushes, framing,
// header fields, and the secrets that must never reach the file.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>

#include "crypto/ccenx.hpp"
#include "crypto/ccenx_testing.hpp"
#include "tests/crypto/crypto_test_util.hpp"
#include "tests/support/temp_dir.hpp"

using namespace ccrec;
using namespace ccrec::test;
using crypto::ccenx_state;

namespace {

constexpr std::uint64_t key_id = 7;
constexpr std::uint32_t small_chunk = 64;

// Size of a file whose chunks hold `lengths` plaintext bytes.
std::size_t file_size_for(const std::vector<std::uint32_t>& lengths) {
  std::size_t n = crypto::ccenx_header_size;
  for (auto l : lengths)
    n += l + crypto::ccenx_chunk_overhead;
  return n;
}

std::vector<std::uint32_t> lengths_of(const bytes& file) {
  std::vector<std::uint32_t> out;
  for (const chunk_pos& c : parse_chunks(file))
    out.push_back(c.length);
  return out;
}

std::vector<std::uint8_t> flags_of(const bytes& file) {
  std::vector<std::uint8_t> out;
  for (const chunk_pos& c : parse_chunks(file))
    out.push_back(c.flags);
  return out;
}

}  // namespace

TEST_CASE("CCENX round trip at sizes around the chunk size", "[ccenx]") {
  keyring keys;
  const auto& master = keys.add(key_id, crypto::secret_bytes::random(crypto::key_bytes));
  const std::uint32_t c = small_chunk;

  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{c - 1}, std::size_t{c},
                           std::size_t{c + 1}, std::size_t{3 * c}, std::size_t{5 * c + 17}}) {
    INFO("plaintext size " << size);
    const bytes plain = pattern(size, 1000 + static_cast<std::uint32_t>(size));
    const bytes file = encrypt(plain, master, key_id, c);

    // Full chunks are sealed eagerly, so the final chunk holds the rest
    // (empty when the size is a multiple of the chunk size).
    std::vector<std::uint32_t> expected(size / c, c);
    expected.push_back(static_cast<std::uint32_t>(size % c));
    CHECK(lengths_of(file) == expected);
    CHECK(file.size() == file_size_for(expected));
    const std::vector<std::uint8_t> flags = flags_of(file);
    CHECK(flags.back() == 0x01);
    CHECK(std::count(flags.begin(), flags.end(), 0x01) == 1);

    const decrypted d = decrypt_bytes(file, keys.resolver());
    CHECK(d.report.state == ccenx_state::complete);
    CHECK(d.report.code == "");
    CHECK(d.report.reason == "");
    CHECK(d.report.chunks == expected.size());
    CHECK(d.report.plaintext_bytes == size);
    CHECK(d.plaintext == plain);
  }
}

TEST_CASE("CCENX flush seals short chunks and the reader takes them", "[ccenx]") {
  keyring keys;
  const auto& master = keys.add(key_id, crypto::secret_bytes::random(crypto::key_bytes));
  const bytes plain = pattern(5 + 20 + 3 + 16, 42);

  // 5 flushed; 20 = a full 16 plus 4 flushed; 3 + 16 = one full chunk and
  // 3 in the final chunk. An empty flush in between writes nothing.
  const bytes file =
      encrypt(plain, master, key_id, 16, {{5, true}, {0, true}, {20, true}, {3, false}});
  CHECK(lengths_of(file) == std::vector<std::uint32_t>{5, 16, 4, 16, 3});
  CHECK(flags_of(file) == std::vector<std::uint8_t>{0, 0, 0, 0, 1});

  const decrypted d = decrypt_bytes(file, keys.resolver());
  CHECK(d.report.state == ccenx_state::complete);
  CHECK(d.report.chunks == 5);
  CHECK(d.plaintext == plain);
}

TEST_CASE("CCENX round trip with odd-sized appends and flushes", "[ccenx]") {
  keyring keys;
  const auto& master = keys.add(key_id, crypto::secret_bytes::random(crypto::key_bytes));
  const bytes plain = pattern(10'000, 7);

  std::vector<write_step> steps;
  std::size_t used = 0;
  for (int i = 0; used + 97 <= plain.size(); ++i) {
    steps.push_back({97, i % 5 == 4});
    used += 97;
  }
  const bytes file = encrypt(plain, master, key_id, 256, steps);
  const decrypted d = decrypt_bytes(file, keys.resolver());
  CHECK(d.report.state == ccenx_state::complete);
  CHECK(d.plaintext == plain);
  for (std::uint32_t len : lengths_of(file))
    CHECK(len <= 256);
}

TEST_CASE("CCENX round trip with the default and the largest chunk size", "[ccenx]") {
  keyring keys;
  const auto& master = keys.add(key_id, crypto::secret_bytes::random(crypto::key_bytes));

  const bytes plain = pattern(3 * crypto::ccenx_default_chunk + 12'345, 3);
  const bytes file = encrypt(plain, master, key_id, crypto::ccenx_default_chunk);
  CHECK(lengths_of(file) == std::vector<std::uint32_t>{65536, 65536, 65536, 12345});
  const decrypted d = decrypt_bytes(file, keys.resolver());
  CHECK(d.report.state == ccenx_state::complete);
  CHECK(d.plaintext == plain);

  const bytes big = pattern(crypto::ccenx_max_chunk + 1, 4);
  const bytes big_file = encrypt(big, master, key_id, crypto::ccenx_max_chunk);
  CHECK(lengths_of(big_file) == std::vector<std::uint32_t>{crypto::ccenx_max_chunk, 1});
  const decrypted bd = decrypt_bytes(big_file, keys.resolver());
  CHECK(bd.report.state == ccenx_state::complete);
  CHECK(bd.plaintext == big);
}

TEST_CASE("CCENX verify-only pass with no callback", "[ccenx]") {
  keyring keys;
  const auto& master = keys.add(key_id, crypto::secret_bytes::random(crypto::key_bytes));
  temp_dir dir;
  const std::string path = dir.file("v.ccenx");
  write_file(path, encrypt(pattern(1000, 5), master, key_id, small_chunk));

  const crypto::ccenx_report r = crypto::read_ccenx(path, keys.resolver(), nullptr);
  CHECK(r.state == ccenx_state::complete);
  CHECK(r.plaintext_bytes == 1000);
  CHECK(r.chunks == 1000 / small_chunk + 1);
}

TEST_CASE("CCENX header fields read without a key", "[ccenx]") {
  temp_dir dir;
  const std::string path = dir.file("h.ccenx");
  auto sink = crypto::open_file_sink(path);
  REQUIRE(sink.ok());
  const crypto::secret_bytes master = crypto::secret_bytes::random(crypto::key_bytes);
  auto w = crypto::ccenx_writer::create(std::move(*sink), 0x0102030405060708ULL, master,
                                        crypto::ccenx_content::screen, 4096);
  REQUIRE(w.ok());
  CHECK((*w)->file_bytes() == crypto::ccenx_header_size);
  REQUIRE((*w)->finish().ok());

  CHECK(crypto::has_ccenx_magic(path));
  auto h = crypto::read_ccenx_header(path);
  REQUIRE(h.ok());
  CHECK(h->version == 1);
  CHECK(h->key_id == 0x0102030405060708ULL);
  CHECK(h->chunk_size == 4096);
  CHECK(h->content_type == static_cast<std::uint8_t>(crypto::ccenx_content::screen));
  CHECK(h->file_id_hex.size() == 32);
  CHECK(h->file_id_hex.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(h->header_bytes == crypto::ccenx_header_size);

  // An empty file is a header plus one empty final chunk.
  CHECK(read_file(path).size() == crypto::ccenx_header_size + crypto::ccenx_chunk_overhead);

  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("Two files of the same plaintext and key share no bytes after the magic", "[ccenx]") {
  keyring keys;
  const auto& master = keys.add(key_id, crypto::secret_bytes::random(crypto::key_bytes));
  const bytes plain = pattern(200, 9);
  const bytes a = encrypt(plain, master, key_id, small_chunk);
  const bytes b = encrypt(plain, master, key_id, small_chunk);
  REQUIRE(a.size() == b.size());

  // File id, wrapped key, commitment, MAC and ciphertext all differ because
  // each file draws its own data key and file id.
  const std::size_t file_id_at = 19;
  CHECK(!std::equal(a.begin() + file_id_at, a.begin() + file_id_at + 16, b.begin() + file_id_at));
  const chunk_pos ca = parse_chunks(a)[0];
  CHECK(!std::equal(a.begin() + ca.offset + 5, a.begin() + ca.end(), b.begin() + ca.offset + 5));
}

TEST_CASE("Key bytes and plaintext never appear in a CCENX file", "[ccenx]") {
  const crypto::secret_bytes master = counting_key(0x10);
  const crypto::secret_bytes data_key = counting_key(0x90);
  const bytes plain = pattern(4096, 11);

  auto out = std::make_shared<bytes>();
  auto w = crypto::testing::create_writer_with_fixed_inputs_for_tests(
      std::make_unique<memory_sink>(out), key_id, master, crypto::ccenx_content::raw_call_audio,
      small_chunk, data_key, {}, {});
  REQUIRE(w.ok());
  REQUIRE((*w)->append(plain.data(), plain.size()).ok());
  REQUIRE((*w)->finish().ok());

  for (std::size_t half = 0; half < 2; ++half) {
    CHECK_FALSE(contains(*out, master.data() + half * 16, 16));
    CHECK_FALSE(contains(*out, data_key.data() + half * 16, 16));
  }
  for (std::size_t at = 0; at + 16 <= plain.size(); at += 16) {
    CHECK_FALSE(contains(*out, plain.data() + at, 16));
  }

  // The same search does find what is really there (the search works).
  CHECK(contains(*out, reinterpret_cast<const std::uint8_t*>("CCENX"), 5));
}
