#include "crypto/key_export.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>

#include "crypto/key_wrap.hpp"

namespace ccrec::crypto {

namespace {

// Header layout (docs/keys.md).
constexpr std::size_t version_at = 6;
constexpr std::size_t kdf_at = 7;
constexpr std::size_t opslimit_at = 8;
constexpr std::size_t memlimit_at = 16;
constexpr std::size_t salt_at = 24;
constexpr std::size_t nonce_at = 40;
constexpr std::size_t sealed_length_at = 64;
constexpr std::size_t commitment_at = 68;
constexpr std::size_t checksum_at = 100;
constexpr std::size_t salt_bytes = crypto_pwhash_SALTBYTES;
constexpr std::size_t nonce_bytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t tag_bytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::size_t hash_bytes = 32;  // commitment and checksum, BLAKE2b-256
static_assert(salt_bytes == 16 && nonce_bytes == 24, "header layout assumes these sizes");
static_assert(checksum_at + hash_bytes == key_export_header_size, "header layout");

constexpr std::uint8_t kdf_argon2id13 = 2;
constexpr char commit_label[] = "CCKEYX v1 commit";

// Argon2id output: the box key, then the commitment key.
constexpr std::size_t box_key_bytes = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
constexpr std::size_t commit_key_bytes = 32;
constexpr std::size_t derived_bytes = box_key_bytes + commit_key_bytes;

// What open accepts: never more than libsodium's SENSITIVE memory, so a
// crafted file cannot make an import allocate without bound.
constexpr std::uint64_t min_opslimit = crypto_pwhash_OPSLIMIT_MIN;
constexpr std::uint64_t max_opslimit = 16;
constexpr std::uint64_t min_memlimit = crypto_pwhash_MEMLIMIT_MIN;
constexpr std::uint64_t max_memlimit = crypto_pwhash_MEMLIMIT_SENSITIVE;
constexpr std::uint64_t test_memlimit = 8u * 1024 * 1024;

// Payload: u32 count, then per key: u64 id, u64 created_ms, u8 status
// length + status, u8 fingerprint length + fingerprint, u16 key length + key.
constexpr std::size_t count_bytes = 4;
constexpr std::size_t id_and_time_bytes = 8 + 8;
constexpr std::size_t entry_fixed_bytes = id_and_time_bytes + 1 + 1 + 2;
constexpr std::size_t max_text_bytes = 64;
constexpr std::size_t max_key_bytes = 1024;

constexpr mode_t export_file_mode = 0600;

void put_be(std::uint8_t* out, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i)
    out[i] = static_cast<std::uint8_t>(v >> (8 * (width - 1 - i)));
}

std::uint64_t get_be(const std::uint8_t* in, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i)
    v = (v << 8) | in[i];
  return v;
}

error damaged(const std::string& why) {
  return make_error("export_damaged", "the key export is damaged: " + why);
}

result<void> check_limits(const export_kdf_limits& limits) {
  if (limits.opslimit < min_opslimit || limits.opslimit > max_opslimit ||
      limits.memlimit < min_memlimit || limits.memlimit > max_memlimit)
    return make_error("bad_export_params",
                      "Argon2id cost " + std::to_string(limits.opslimit) + " passes, " +
                          std::to_string(limits.memlimit) + " bytes is outside the accepted " +
                          std::to_string(min_opslimit) + "-" + std::to_string(max_opslimit) +
                          " passes, " + std::to_string(min_memlimit) + "-" +
                          std::to_string(max_memlimit) + " bytes");
  return {};
}

// The box key and the commitment key, from the passphrase.
result<secret_bytes> derive(const secret_bytes& passphrase, const std::uint8_t* salt,
                            const export_kdf_limits& limits) {
  if (passphrase.empty())
    return make_error("passphrase_missing", "no export passphrase was given");
  try {
    secret_bytes out(derived_bytes);
    if (crypto_pwhash(out.data(), out.size(), reinterpret_cast<const char*>(passphrase.data()),
                      passphrase.size(), salt, limits.opslimit,
                      static_cast<std::size_t>(limits.memlimit), crypto_pwhash_ALG_ARGON2ID13) != 0)
      return make_error("kdf_failed",
                        "Argon2id could not derive the export key (not enough memory for " +
                            std::to_string(limits.memlimit) + " bytes?)");
    return out;
  } catch (const std::bad_alloc&) {
    return make_error("kdf_failed", "no guarded memory for the export key");
  }
}

// Keyed BLAKE2b of a label and the header's parameters (bytes 0..67): only
// the right passphrase reproduces it, and it ties the file to one key, so
// no box can be made to open under two passphrases.
void commitment(const secret_bytes& derived, const std::uint8_t* header, std::uint8_t* out) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, derived.data() + box_key_bytes, commit_key_bytes, hash_bytes);
  crypto_generichash_update(&st, reinterpret_cast<const std::uint8_t*>(commit_label),
                            sizeof commit_label - 1);
  crypto_generichash_update(&st, header, commitment_at);
  crypto_generichash_final(&st, out, hash_bytes);
  sodium_memzero(&st, sizeof st);
}

// Unkeyed: tells damage to the header from a wrong passphrase.
void checksum(const std::uint8_t* header, std::uint8_t* out) {
  crypto_generichash(out, hash_bytes, header, checksum_at, nullptr, 0);
}

result<void> check_key(const exported_key& k) {
  const std::string which = "key " + std::to_string(k.id);
  if (k.id <= 0)
    return make_error("export_bad_key", "a key id must be positive, not " + which);
  if (k.status.empty() || k.status.size() > max_text_bytes || k.fingerprint.empty() ||
      k.fingerprint.size() > max_text_bytes)
    return make_error("export_bad_key", which + ": status or fingerprint missing or too long");
  if (k.key.empty() || k.key.size() > max_key_bytes)
    return make_error("export_bad_key", which + ": key size out of range");
  if (key_fingerprint(k.key) != k.fingerprint)
    return make_error("export_bad_key", which + ": the fingerprint is not the key's");
  return {};
}

std::size_t payload_size(const std::vector<exported_key>& keys) {
  std::size_t size = count_bytes;
  for (const auto& k : keys)
    size += entry_fixed_bytes + k.status.size() + k.fingerprint.size() + k.key.size();
  return size;
}

void serialise(const std::vector<exported_key>& keys, secret_bytes& out) {
  std::uint8_t* p = out.data();
  put_be(p, keys.size(), count_bytes);
  p += count_bytes;
  for (const auto& k : keys) {
    put_be(p, static_cast<std::uint64_t>(k.id), 8);
    put_be(p + 8, static_cast<std::uint64_t>(k.created_ms), 8);
    p += id_and_time_bytes;
    for (const std::string* text : {&k.status, &k.fingerprint}) {
      *p++ = static_cast<std::uint8_t>(text->size());
      std::memcpy(p, text->data(), text->size());
      p += text->size();
    }
    put_be(p, k.key.size(), 2);
    std::memcpy(p + 2, k.key.data(), k.key.size());
    p += 2 + k.key.size();
  }
}

// Reads the authenticated payload back. Anything that does not parse is
// damage this build cannot explain (or a writer bug): never trusted.
result<std::vector<exported_key>> deserialise(const secret_bytes& payload) {
  const std::uint8_t* p = payload.data();
  const std::uint8_t* end = p + payload.size();
  auto need = [&](std::size_t n) { return static_cast<std::size_t>(end - p) >= n; };
  if (!need(count_bytes))
    return damaged("no key count");
  auto count = get_be(p, count_bytes);
  p += count_bytes;

  std::vector<exported_key> keys;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (!need(id_and_time_bytes))
      return damaged("key entry " + std::to_string(i) + " is cut short");
    exported_key k;
    k.id = static_cast<std::int64_t>(get_be(p, 8));
    k.created_ms = static_cast<std::int64_t>(get_be(p + 8, 8));
    p += id_and_time_bytes;
    for (std::string* text : {&k.status, &k.fingerprint}) {
      if (!need(1) || !need(1 + std::size_t{*p}))
        return damaged("key entry " + std::to_string(i) + " is cut short");
      text->assign(reinterpret_cast<const char*>(p + 1), *p);
      p += 1 + *p;
    }
    if (!need(2) || !need(2 + get_be(p, 2)))
      return damaged("key entry " + std::to_string(i) + " is cut short");
    k.key = secret_bytes::copy_of(p + 2, get_be(p, 2));
    p += 2 + k.key.size();
    if (auto ok = check_key(k); !ok)
      return damaged(ok.error().message);
    keys.push_back(std::move(k));
  }
  if (p != end)
    return damaged("bytes follow the last key");
  return keys;
}

}  // namespace

export_kdf_limits export_kdf_limits::moderate() {
  return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}

export_kdf_limits export_kdf_limits::for_tests() {
  return {crypto_pwhash_OPSLIMIT_MIN, test_memlimit};
}

result<std::vector<std::uint8_t>> seal_key_export(const std::vector<exported_key>& keys,
                                                  const secret_bytes& passphrase,
                                                  const export_kdf_limits& limits) {
  // Not initialise(): XChaCha20-Poly1305 needs no AES-NI.
  if (sodium_init() < 0)
    return make_error("sodium_init_failed", "libsodium failed to initialise");
  if (passphrase.empty())
    return make_error("passphrase_missing", "no export passphrase was given");
  if (auto ok = check_limits(limits); !ok)
    return ok.error();
  for (const auto& k : keys) {
    if (auto ok = check_key(k); !ok)
      return ok.error();
  }
  const std::size_t plain_size = payload_size(keys);
  if (key_export_header_size + plain_size + tag_bytes > key_export_max_bytes)
    return make_error("export_too_large",
                      std::to_string(keys.size()) + " keys do not fit in one export file");

  std::vector<std::uint8_t> file(key_export_header_size + plain_size + tag_bytes);
  std::uint8_t* h = file.data();
  std::memcpy(h, key_export_magic, sizeof key_export_magic);
  h[version_at] = key_export_version;
  h[kdf_at] = kdf_argon2id13;
  put_be(h + opslimit_at, limits.opslimit, 8);
  put_be(h + memlimit_at, limits.memlimit, 8);
  randombytes_buf(h + salt_at, salt_bytes);
  randombytes_buf(h + nonce_at, nonce_bytes);
  put_be(h + sealed_length_at, plain_size + tag_bytes, 4);

  auto derived = derive(passphrase, h + salt_at, limits);
  if (!derived)
    return derived.error();
  commitment(*derived, h, h + commitment_at);
  checksum(h, h + checksum_at);

  secret_bytes plain(plain_size);
  serialise(keys, plain);
  crypto_aead_xchacha20poly1305_ietf_encrypt(file.data() + key_export_header_size, nullptr,
                                             plain.data(), plain.size(), h, key_export_header_size,
                                             nullptr, h + nonce_at, derived->data());
  return file;
}

result<key_export_header> read_key_export_header(const std::vector<std::uint8_t>& file) {
  if (file.empty())
    return make_error("export_truncated", "the key export is empty");
  const std::size_t magic_seen = std::min(file.size(), sizeof key_export_magic);
  if (std::memcmp(file.data(), key_export_magic, magic_seen) != 0)
    return make_error("export_bad_magic", "not a ccrec key export (it does not start with CCKEYX)");
  if (file.size() > version_at && file[version_at] != key_export_version)
    return make_error("export_unsupported_version",
                      "key export version " + std::to_string(file[version_at]) +
                          " is not readable by this build (it reads version 1)");
  if (file.size() < key_export_header_size)
    return make_error("export_truncated",
                      "the key export is truncated: " + std::to_string(file.size()) +
                          " bytes, shorter than its header");

  std::uint8_t sum[hash_bytes];
  checksum(file.data(), sum);
  if (sodium_memcmp(sum, file.data() + checksum_at, hash_bytes) != 0)
    return damaged("the header checksum does not match");

  key_export_header out;
  out.version = file[version_at];
  out.limits.opslimit = get_be(file.data() + opslimit_at, 8);
  out.limits.memlimit = get_be(file.data() + memlimit_at, 8);
  out.sealed_bytes = static_cast<std::uint32_t>(get_be(file.data() + sealed_length_at, 4));
  const std::size_t expected = key_export_header_size + out.sealed_bytes;
  if (file.size() < expected)
    return make_error("export_truncated",
                      "the key export is truncated: " + std::to_string(file.size()) + " bytes of " +
                          std::to_string(expected));
  if (file.size() > expected)
    return damaged(std::to_string(file.size() - expected) + " bytes follow the sealed keys");
  if (out.sealed_bytes < tag_bytes + count_bytes)
    return damaged("the sealed part is too short to hold anything");
  if (file[kdf_at] != kdf_argon2id13)
    return make_error("bad_export_params", "unknown key derivation " +
                                               std::to_string(file[kdf_at]) +
                                               " (this build knows 2, Argon2id v1.3)");
  if (auto ok = check_limits(out.limits); !ok)
    return ok.error();
  return out;
}

result<std::vector<exported_key>> open_key_export(const std::vector<std::uint8_t>& file,
                                                  const secret_bytes& passphrase) {
  auto header = read_key_export_header(file);
  if (!header)
    return header.error();
  if (sodium_init() < 0)
    return make_error("sodium_init_failed", "libsodium failed to initialise");

  const std::uint8_t* h = file.data();
  auto derived = derive(passphrase, h + salt_at, header->limits);
  if (!derived)
    return derived.error();
  std::uint8_t expected[hash_bytes];
  commitment(*derived, h, expected);
  if (sodium_memcmp(expected, h + commitment_at, hash_bytes) != 0)
    return make_error("wrong_passphrase", "the passphrase does not open this key export");

  try {
    secret_bytes plain(header->sealed_bytes - tag_bytes);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            plain.data(), nullptr, nullptr, h + key_export_header_size, header->sealed_bytes, h,
            key_export_header_size, h + nonce_at, derived->data()) != 0)
      return damaged("the sealed keys do not authenticate");
    return deserialise(plain);
  } catch (const std::bad_alloc&) {
    return make_error("out_of_memory", "no guarded memory to open the key export");
  }
}

result<void> write_key_export_file(const std::string& path,
                                   const std::vector<std::uint8_t>& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, export_file_mode);
  if (fd < 0 && errno == EEXIST)
    return make_error("export_exists",
                      path + " already exists; a key export never replaces a file");
  if (fd < 0)
    return make_error("export_io", "cannot create " + path + ": " + std::strerror(errno));

  std::size_t done = 0;
  int err = 0;
  while (done < bytes.size() && err == 0) {
    auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno != EINTR)
      err = errno;
    else if (n == 0)
      err = ENOSPC;
    else if (n > 0)
      done += static_cast<std::size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0)
    err = errno;
  ::close(fd);
  if (err != 0) {
    ::unlink(path.c_str());
    return make_error("export_io", "cannot write " + path + ": " + std::strerror(err));
  }
  return {};
}

result<std::vector<std::uint8_t>> read_key_export_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary | std::ios::ate};
  if (!in)
    return make_error("export_io", "cannot open " + path);
  auto size = static_cast<std::size_t>(in.tellg());
  if (size > key_export_max_bytes)
    return make_error("export_too_large",
                      path + " is " + std::to_string(size) + " bytes, larger than any key export");
  std::vector<std::uint8_t> out(size);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(size));
  if (static_cast<std::size_t>(in.gcount()) != size)
    return make_error("export_io", "cannot read " + path);
  return out;
}

}  // namespace ccrec::crypto
