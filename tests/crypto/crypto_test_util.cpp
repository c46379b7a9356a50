#include "tests/crypto/crypto_test_util.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "tests/support/temp_dir.hpp"

namespace ccrec::test {

result<void> memory_sink::write(const std::uint8_t* data, std::size_t size) {
  const std::size_t fits = std::min(size, budget_);
  out_->insert(out_->end(), data, data + fits);
  budget_ -= fits;
  if (fits < size)
    return make_error("io", "injected: disk full");
  return {};
}

result<void> memory_sink::sync() {
  ++syncs_;
  if (fail_sync_)
    return make_error("io", "injected: fdatasync failed");
  return {};
}

const crypto::secret_bytes& keyring::add(std::uint64_t id, crypto::secret_bytes key) {
  keys_[id] = std::move(key);
  return keys_[id];
}

crypto::key_resolver keyring::resolver() const {
  return [this](std::uint64_t id) -> const crypto::secret_bytes* {
    auto it = keys_.find(id);
    return it == keys_.end() ? nullptr : &it->second;
  };
}

bytes pattern(std::size_t size, std::uint32_t seed) {
  bytes out(size);
  std::uint32_t x = seed == 0 ? 1 : seed;
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::uint8_t>(x);
  }
  return out;
}

crypto::secret_bytes counting_key(std::uint8_t first) {
  crypto::secret_bytes k(crypto::key_bytes);
  for (std::size_t i = 0; i < k.size(); ++i)
    k.data()[i] = static_cast<std::uint8_t>(first + i);
  return k;
}

bytes encrypt(const bytes& plaintext, const crypto::secret_bytes& master_key, std::uint64_t key_id,
              std::uint32_t chunk_size, const std::vector<write_step>& steps) {
  auto out = std::make_shared<bytes>();
  auto w = crypto::ccenx_writer::create(std::make_unique<memory_sink>(out), key_id, master_key,
                                        crypto::ccenx_content::raw_call_audio, chunk_size);
  REQUIRE(w.ok());

  std::size_t pos = 0;
  for (const write_step& s : steps) {
    REQUIRE(pos + s.bytes <= plaintext.size());
    REQUIRE((*w)->append(plaintext.data() + pos, s.bytes).ok());
    pos += s.bytes;
    if (s.flush)
      REQUIRE((*w)->flush().ok());
  }
  REQUIRE((*w)->append(plaintext.data() + pos, plaintext.size() - pos).ok());
  REQUIRE((*w)->finish().ok());
  REQUIRE((*w)->file_bytes() == out->size());
  REQUIRE((*w)->plaintext_bytes() == plaintext.size());
  return *out;
}

decrypted decrypt_path(const std::string& path, const crypto::key_resolver& keys) {
  decrypted d;
  d.report = crypto::read_ccenx(path, keys, [&d](const std::uint8_t* p, std::size_t n) {
    d.plaintext.insert(d.plaintext.end(), p, p + n);
  });
  return d;
}

decrypted decrypt_bytes(const bytes& file, const crypto::key_resolver& keys) {
  // One scratch directory for the whole run: tamper tests read thousands
  // of variants, one at a time. A fresh name each time, because ext4
  // flushes a file truncated and rewritten in place on close (slow).
  static const temp_dir dir;
  static unsigned counter = 0;
  const std::string path = dir.file("x" + std::to_string(++counter) + ".ccenx");
  write_file(path, file);
  decrypted d = decrypt_path(path, keys);
  std::remove(path.c_str());
  return d;
}

bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const bytes& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(content.data()),
            static_cast<std::streamsize>(content.size()));
  REQUIRE(out.good());
}

std::vector<chunk_pos> parse_chunks(const bytes& file) {
  std::vector<chunk_pos> chunks;
  std::size_t at = crypto::ccenx_header_size;
  while (at + 5 <= file.size()) {
    chunk_pos c;
    c.offset = at;
    c.length = (std::uint32_t{file[at]} << 24) | (std::uint32_t{file[at + 1]} << 16) |
               (std::uint32_t{file[at + 2]} << 8) | file[at + 3];
    c.flags = file[at + 4];
    chunks.push_back(c);
    at = c.end();
  }
  REQUIRE(at == file.size());
  return chunks;
}

bool contains(const bytes& haystack, const std::uint8_t* needle, std::size_t size) {
  return std::search(haystack.begin(), haystack.end(), needle, needle + size) != haystack.end();
}

}  // namespace ccrec::test
