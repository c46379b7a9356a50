// CCENX against damage and attack: every bit of a small file flipped,
// chunks dropped, reordered, duplicated and spliced, trailing bytes, every
// truncation point, wrong and unknown keys. Each case asserts the exact
// state and code that docs/ccenx-format.md gives, and that only the
// plaintext of chunks before the damage was delivered.
#include <catch2/catch.hpp>

#include "crypto/ccenx.hpp"
#include "crypto/ccenx_testing.hpp"
#include "tests/crypto/crypto_test_util.hpp"
#include "tests/support/temp_dir.hpp"

using namespace ccrec;
using namespace ccrec::test;
using crypto::ccenx_state;

namespace {

constexpr std::uint64_t key_id = 7;
constexpr std::uint64_t other_key_id = 8;
constexpr std::uint32_t chunk = 16;
// Chunks of 16, 16, 16 and a final 2.
constexpr std::size_t plain_size = 50;

// Header field offsets from the spec's table.
constexpr std::size_t off_version = 5, off_content = 6, off_chunk_size = 7, off_key_id = 11,
                      off_commitment = 95, off_header_mac = 127;

struct fixture {
  keyring keys;
  const crypto::secret_bytes& master;
  const bytes plain;
  const bytes file;
  const std::vector<chunk_pos> chunks;

  fixture()
      : master(keys.add(key_id, crypto::secret_bytes::random(crypto::key_bytes))),
        plain(pattern(plain_size, 77)),
        file(encrypt(plain, master, key_id, chunk)),
        chunks(parse_chunks(file)) {
    keys.add(other_key_id, crypto::secret_bytes::random(crypto::key_bytes));
  }

  // Plaintext of chunks [0, n).
  bytes prefix(std::size_t n) const {
    std::size_t bytes_before = 0;
    for (std::size_t i = 0; i < n; ++i)
      bytes_before += chunks[i].length;
    return bytes(plain.begin(), plain.begin() + static_cast<long>(bytes_before));
  }

  bytes chunk_bytes(std::size_t i) const {
    return bytes(file.begin() + static_cast<long>(chunks[i].offset),
                 file.begin() + static_cast<long>(chunks[i].end()));
  }

  // The header followed by the given chunks of this file.
  bytes assemble(const std::vector<bytes>& parts) const {
    bytes out(file.begin(), file.begin() + crypto::ccenx_header_size);
    for (const bytes& p : parts)
      out.insert(out.end(), p.begin(), p.end());
    return out;
  }
};

std::uint32_t be32(const bytes& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
         (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

// What the spec says a reader reports for a flipped bit in the header.
std::string header_flip_code(std::size_t byte, const bytes& flipped) {
  if (byte < off_version)
    return "bad_magic";
  if (byte == off_version)
    return "unsupported_version";
  if (byte >= off_chunk_size && byte < off_key_id) {
    const std::uint32_t size = be32(flipped, off_chunk_size);
    if (size == 0 || size > crypto::ccenx_max_chunk)
      return "bad_chunk_size";
  }
  if (byte >= off_key_id && byte < off_key_id + 8)
    return "unknown_key";
  if (byte < off_commitment)
    return "key_unwrap_failed";
  if (byte < off_header_mac)
    return "key_commitment";
  return "header_auth_failed";
}

void check_chunk_failure(const decrypted& d, const fixture& f, std::size_t index,
                         const std::string& code) {
  CHECK(d.report.state == ccenx_state::corrupt);
  CHECK(d.report.code == code);
  CHECK_THAT(d.report.reason, Catch::Contains("chunk " + std::to_string(index) + " (0-based)"));
  CHECK(d.report.chunks == index);
  CHECK(d.plaintext == f.prefix(index));
}

}  // namespace

TEST_CASE("Every flipped header bit fails with the field's code", "[ccenx][tamper]") {
  const fixture f;
  REQUIRE(f.chunks.size() == 4);
  static_assert(off_content == 6);

  for (std::size_t byte = 0; byte < crypto::ccenx_header_size; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      bytes damaged = f.file;
      damaged[byte] ^= static_cast<std::uint8_t>(1u << bit);
      const std::string expected = header_flip_code(byte, damaged);
      INFO("byte " << byte << " bit " << bit << " expects " << expected);

      const decrypted d = decrypt_bytes(damaged, f.keys.resolver());
      CHECK(d.report.state == ccenx_state::corrupt);
      CHECK(d.report.code == expected);
      CHECK(d.report.chunks == 0);
      CHECK(d.plaintext.empty());
    }
  }
}

TEST_CASE("Every flipped bit in the chunks fails at that chunk", "[ccenx][tamper]") {
  const fixture f;

  for (std::size_t i = 0; i < f.chunks.size(); ++i) {
    const chunk_pos& c = f.chunks[i];
    for (std::size_t byte = c.offset; byte < c.end(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        bytes damaged = f.file;
        damaged[byte] ^= static_cast<std::uint8_t>(1u << bit);
        INFO("chunk " << i << " byte " << byte - c.offset << " bit " << bit);
        const decrypted d = decrypt_bytes(damaged, f.keys.resolver());

        if (byte < c.offset + 4) {
          // An edited length: too long for the header's chunk size, past
          // the end of the file (reads as cut), or just wrong (fails auth).
          const std::uint32_t len = be32(damaged, c.offset);
          if (len > chunk) {
            check_chunk_failure(d, f, i, "bad_chunk_length");
          } else if (c.offset + 5 + len + 16 > f.file.size()) {
            CHECK(d.report.state == ccenx_state::truncated);
            CHECK(d.report.code == "truncated");
            CHECK(d.plaintext == f.prefix(i));
          } else {
            check_chunk_failure(d, f, i, "chunk_auth_failed");
          }
        } else if (byte == c.offset + 4) {
          check_chunk_failure(d, f, i, bit == 0 ? "chunk_auth_failed" : "bad_chunk_flags");
        } else {
          check_chunk_failure(d, f, i, "chunk_auth_failed");
        }
      }
    }
  }
}

TEST_CASE("Dropped, reordered and duplicated chunks fail", "[ccenx][tamper]") {
  const fixture f;
  const bytes c0 = f.chunk_bytes(0), c1 = f.chunk_bytes(1), c2 = f.chunk_bytes(2),
              c3 = f.chunk_bytes(3);
  const auto keys = f.keys.resolver();

  SECTION("the intact file is complete") {
    const decrypted d = decrypt_bytes(f.assemble({c0, c1, c2, c3}), keys);
    CHECK(d.report.state == ccenx_state::complete);
    CHECK(d.plaintext == f.plain);
  }
  SECTION("dropped middle chunk") {
    check_chunk_failure(decrypt_bytes(f.assemble({c0, c2, c3}), keys), f, 1, "chunk_auth_failed");
  }
  SECTION("dropped first chunk") {
    check_chunk_failure(decrypt_bytes(f.assemble({c1, c2, c3}), keys), f, 0, "chunk_auth_failed");
  }
  SECTION("dropped final chunk reads as interrupted, never complete") {
    const decrypted d = decrypt_bytes(f.assemble({c0, c1, c2}), keys);
    CHECK(d.report.state == ccenx_state::interrupted);
    CHECK(d.report.code == "interrupted");
    CHECK(d.plaintext == f.prefix(3));
  }
  SECTION("final chunk moved forward") {
    check_chunk_failure(decrypt_bytes(f.assemble({c0, c3}), keys), f, 1, "chunk_auth_failed");
  }
  SECTION("two chunks swapped") {
    check_chunk_failure(decrypt_bytes(f.assemble({c0, c2, c1, c3}), keys), f, 1,
                        "chunk_auth_failed");
    check_chunk_failure(decrypt_bytes(f.assemble({c1, c0, c2, c3}), keys), f, 0,
                        "chunk_auth_failed");
  }
  SECTION("duplicated chunk") {
    check_chunk_failure(decrypt_bytes(f.assemble({c0, c1, c1, c2, c3}), keys), f, 2,
                        "chunk_auth_failed");
  }
  SECTION("duplicated final chunk is trailing data") {
    const decrypted d = decrypt_bytes(f.assemble({c0, c1, c2, c3, c3}), keys);
    CHECK(d.report.state == ccenx_state::corrupt);
    CHECK(d.report.code == "trailing_data");
    CHECK(d.plaintext == f.plain);
  }
}

TEST_CASE("A chunk spliced from another file with the same master key fails", "[ccenx][tamper]") {
  const fixture f;
  const bytes other = encrypt(f.plain, f.master, key_id, chunk);
  const std::vector<chunk_pos> oc = parse_chunks(other);
  const bytes spliced_chunk(other.begin() + static_cast<long>(oc[1].offset),
                            other.begin() + static_cast<long>(oc[1].end()));

  const bytes spliced =
      f.assemble({f.chunk_bytes(0), spliced_chunk, f.chunk_bytes(2), f.chunk_bytes(3)});
  check_chunk_failure(decrypt_bytes(spliced, f.keys.resolver()), f, 1, "chunk_auth_failed");
}

TEST_CASE("Chunks do not move between files even under the same data key", "[ccenx][tamper]") {
  // Only the test hook can make two files share a data key; what still
  // tells them apart is the header MAC bound into every chunk.
  keyring keys;
  const auto& master = keys.add(key_id, counting_key(0x20));
  const crypto::secret_bytes data_key = counting_key(0x60);
  const bytes plain = pattern(40, 5);

  auto make = [&](std::uint8_t file_id_byte) {
    auto out = std::make_shared<bytes>();
    std::array<std::uint8_t, 16> id{};
    id.fill(file_id_byte);
    auto w = crypto::testing::create_writer_with_fixed_inputs_for_tests(
        std::make_unique<memory_sink>(out), key_id, master, crypto::ccenx_content::metadata, chunk,
        data_key, id, {});
    REQUIRE(w.ok());
    REQUIRE((*w)->append(plain.data(), plain.size()).ok());
    REQUIRE((*w)->finish().ok());
    return *out;
  };
  const bytes a = make(0xaa);
  const bytes b = make(0xbb);

  // Same key and nonces: chunk 0 has identical ciphertext in both...
  const chunk_pos c0 = parse_chunks(a)[0];
  CHECK(std::equal(a.begin() + static_cast<long>(c0.offset + 5),
                   a.begin() + static_cast<long>(c0.end() - 16),
                   b.begin() + static_cast<long>(c0.offset + 5)));
  // ...but b's header with a's chunks fails at chunk 0.
  bytes mixed(b.begin(), b.begin() + crypto::ccenx_header_size);
  mixed.insert(mixed.end(), a.begin() + crypto::ccenx_header_size, a.end());
  const decrypted d = decrypt_bytes(mixed, keys.resolver());
  CHECK(d.report.state == ccenx_state::corrupt);
  CHECK(d.report.code == "chunk_auth_failed");
  CHECK_THAT(d.report.reason, Catch::Contains("chunk 0 (0-based)"));
  CHECK(d.plaintext.empty());
}

TEST_CASE("Bytes after the final chunk are trailing data", "[ccenx][tamper]") {
  const fixture f;
  for (std::size_t extra : {1, 5, 21, 100}) {
    bytes longer = f.file;
    longer.resize(f.file.size() + extra, 0);
    const decrypted d = decrypt_bytes(longer, f.keys.resolver());
    CHECK(d.report.state == ccenx_state::corrupt);
    CHECK(d.report.code == "trailing_data");
    CHECK(d.report.chunks == 4);
  }
}

TEST_CASE("Truncation at every byte position", "[ccenx][tamper]") {
  const fixture f;

  for (std::size_t len = 0; len < f.file.size(); ++len) {
    const bytes cut(f.file.begin(), f.file.begin() + static_cast<long>(len));
    const decrypted d = decrypt_bytes(cut, f.keys.resolver());
    INFO("file cut to " << len << " bytes");

    // Chunks that fit entirely before the cut were delivered, nothing else.
    std::size_t whole = 0;
    while (whole < f.chunks.size() && f.chunks[whole].end() <= len)
      ++whole;
    CHECK(d.report.chunks == whole);
    CHECK(d.plaintext == f.prefix(whole));

    const bool on_boundary =
        len == crypto::ccenx_header_size || (whole > 0 && f.chunks[whole - 1].end() == len);
    if (on_boundary) {
      CHECK(d.report.state == ccenx_state::interrupted);
      CHECK(d.report.code == "interrupted");
    } else {
      CHECK(d.report.state == ccenx_state::truncated);
      CHECK(d.report.code == "truncated");
    }
  }
}

TEST_CASE("Header pointed at another existing key fails", "[ccenx][tamper]") {
  const fixture f;
  bytes edited = f.file;
  edited[off_key_id + 7] = static_cast<std::uint8_t>(other_key_id);  // key id 7 -> 8

  const decrypted d = decrypt_bytes(edited, f.keys.resolver());
  CHECK(d.report.state == ccenx_state::corrupt);
  CHECK(d.report.code == "key_unwrap_failed");
  CHECK(d.report.header.key_id == other_key_id);
  CHECK(d.plaintext.empty());

  // Even when key 8 holds the very same bytes as key 7: the key id is
  // authenticated along with the wrapped data key.
  keyring same;
  same.add(key_id, crypto::secret_bytes::copy_of(f.master.data(), f.master.size()));
  same.add(other_key_id, crypto::secret_bytes::copy_of(f.master.data(), f.master.size()));
  const decrypted s = decrypt_bytes(edited, same.resolver());
  CHECK(s.report.code == "key_unwrap_failed");
  CHECK(s.plaintext.empty());
}

TEST_CASE("Wrong master key and unknown key id", "[ccenx][tamper]") {
  const fixture f;

  keyring wrong;
  wrong.add(key_id, crypto::secret_bytes::random(crypto::key_bytes));
  const decrypted w = decrypt_bytes(f.file, wrong.resolver());
  CHECK(w.report.state == ccenx_state::corrupt);
  CHECK(w.report.code == "key_unwrap_failed");
  CHECK_THAT(w.report.reason, Catch::Contains("master key 7"));
  CHECK(w.plaintext.empty());

  keyring none;
  none.add(99, crypto::secret_bytes::random(crypto::key_bytes));
  const decrypted u = decrypt_bytes(f.file, none.resolver());
  CHECK(u.report.state == ccenx_state::corrupt);
  CHECK(u.report.code == "unknown_key");
  CHECK_THAT(u.report.reason, Catch::Contains("id 7"));
  CHECK(u.report.header.key_id == 7);

  const decrypted n = decrypt_bytes(f.file, crypto::key_resolver{});
  CHECK(n.report.code == "unknown_key");
}

TEST_CASE("Files that are not CCENX", "[ccenx][tamper]") {
  const fixture f;
  temp_dir dir;

  const std::string wav = dir.file("a.wav");
  write_file(wav, bytes{'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'A', 'V', 'E'});
  CHECK_FALSE(crypto::has_ccenx_magic(wav));
  CHECK(crypto::read_ccenx(wav, f.keys.resolver(), nullptr).code == "bad_magic");
  CHECK(crypto::read_ccenx_header(wav).error().code == "bad_magic");

  const std::string short_magic = dir.file("short");
  write_file(short_magic, bytes{'C', 'C', 'E'});
  CHECK_FALSE(crypto::has_ccenx_magic(short_magic));
  const crypto::ccenx_report r = crypto::read_ccenx(short_magic, f.keys.resolver(), nullptr);
  CHECK(r.state == ccenx_state::truncated);
  CHECK(r.code == "truncated");
  CHECK(crypto::read_ccenx_header(short_magic).error().code == "truncated");

  const std::string missing = dir.file("missing.ccenx");
  const crypto::ccenx_report m = crypto::read_ccenx(missing, f.keys.resolver(), nullptr);
  CHECK(m.state == ccenx_state::corrupt);
  CHECK(m.code == "io");
  CHECK_THAT(m.reason, Catch::Contains(missing));
  CHECK_FALSE(crypto::has_ccenx_magic(missing));

  const crypto::ccenx_report d = crypto::read_ccenx(dir.path(), f.keys.resolver(), nullptr);
  CHECK(d.code == "io");
}
