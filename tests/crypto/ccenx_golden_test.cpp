// The CCENX v1 golden vector (tests/crypto/golden/README.md): the writer
// must reproduce the committed file byte for byte, and the reader must
// decrypt it. A format change shows up here first.
#include <catch2/catch.hpp>

#include <cstring>

#include "crypto/ccenx.hpp"
#include "crypto/ccenx_testing.hpp"
#include "tests/crypto/crypto_test_util.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

// The inputs, as listed in golden/README.md.
constexpr std::uint64_t golden_key_id = 0x0102030405060708ULL;
constexpr std::uint32_t golden_chunk = 16;
constexpr char golden_text[] = "CCENX golden vector: no call audio here, just text.";
constexpr std::size_t golden_first_append = 20;

const std::string golden_path = std::string(CCREC_CRYPTO_GOLDEN_DIR) + "/v1_golden.ccenx";

bytes golden_plaintext() {
  return bytes(golden_text, golden_text + std::strlen(golden_text));
}

template <std::size_t N>
std::array<std::uint8_t, N> counting(std::uint8_t first) {
  std::array<std::uint8_t, N> a{};
  for (std::size_t i = 0; i < N; ++i)
    a[i] = static_cast<std::uint8_t>(first + i);
  return a;
}

}  // namespace

TEST_CASE("The writer reproduces the golden vector byte for byte", "[ccenx][golden]") {
  const crypto::secret_bytes master = counting_key(0x00);
  const crypto::secret_bytes data_key = counting_key(0x40);
  const bytes plain = golden_plaintext();

  auto out = std::make_shared<bytes>();
  auto w = crypto::testing::create_writer_with_fixed_inputs_for_tests(
      std::make_unique<memory_sink>(out), golden_key_id, master,
      crypto::ccenx_content::raw_call_audio, golden_chunk, data_key, counting<16>(0xa0),
      counting<12>(0xb0));
  REQUIRE(w.ok());
  REQUIRE((*w)->append(plain.data(), golden_first_append).ok());
  REQUIRE((*w)->flush().ok());
  REQUIRE(
      (*w)->append(plain.data() + golden_first_append, plain.size() - golden_first_append).ok());
  REQUIRE((*w)->finish().ok());

  const bytes golden = read_file(golden_path);
  CHECK(golden.size() == 159 + 4 * 21 + plain.size());
  CHECK(*out == golden);
}

TEST_CASE("The reader decrypts the golden vector", "[ccenx][golden]") {
  keyring keys;
  keys.add(golden_key_id, counting_key(0x00));

  const decrypted d = decrypt_path(golden_path, keys.resolver());
  CHECK(d.report.state == crypto::ccenx_state::complete);
  CHECK(d.report.chunks == 4);
  CHECK(d.plaintext == golden_plaintext());
  CHECK(d.report.header.key_id == golden_key_id);
  CHECK(d.report.header.chunk_size == golden_chunk);
  CHECK(d.report.header.file_id_hex == "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
  CHECK(d.report.header.content_type == 1);

  std::vector<std::uint32_t> lengths;
  for (const chunk_pos& c : parse_chunks(read_file(golden_path)))
    lengths.push_back(c.length);
  CHECK(lengths == std::vector<std::uint32_t>{16, 4, 16, 15});
}
