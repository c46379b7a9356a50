#include "crypto/ccenx_format.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

namespace ccrec::crypto::detail {

namespace {

// Subkey labels (docs/ccenx-format.md, "Keys").
constexpr char label_chunk[] = "CCENX v1 chunk";
constexpr char label_commit[] = "CCENX v1 commit";
constexpr char label_header[] = "CCENX v1 header";
constexpr std::size_t max_label_bytes = 32;

// HKDF-Expand for a single 32-byte block: HMAC(data key, label || 0x01).
secret_bytes derive_subkey(const secret_bytes& data_key, const char* label) {
  std::array<std::uint8_t, max_label_bytes + 1> info{};
  const std::size_t label_len = std::strlen(label);
  std::memcpy(info.data(), label, label_len);
  info[label_len] = 0x01;

  secret_bytes subkey(crypto_auth_hmacsha256_BYTES);
  crypto_auth_hmacsha256(subkey.data(), info.data(), label_len + 1, data_key.data());
  return subkey;
}

mac hmac(const secret_bytes& key, const std::uint8_t* data, std::size_t size) {
  mac out{};
  crypto_auth_hmacsha256(out.data(), data, size, key.data());
  return out;
}

result<chunk_cipher> make_cipher(const secret_bytes& data_key, const mac& header_mac) {
  chunk_cipher c;
  try {
    c.gcm_state = secret_bytes(sizeof(crypto_aead_aes256gcm_state));
  } catch (const std::bad_alloc&) {
    return make_error("out_of_memory", "no guarded memory for the chunk key schedule");
  }
  // The AES-NI code uses aligned loads; sodium_malloc aligns the end of the
  // region, which for this 16-multiple size also aligns the start.
  const auto addr = reinterpret_cast<std::uintptr_t>(c.gcm_state.data());
  if (addr % alignof(crypto_aead_aes256gcm_state) != 0) {
    return make_error("out_of_memory", "guarded memory for the chunk key schedule is misaligned");
  }

  const secret_bytes chunk_key = derive_subkey(data_key, label_chunk);
  crypto_aead_aes256gcm_beforenm(reinterpret_cast<crypto_aead_aes256gcm_state*>(c.gcm_state.data()),
                                 chunk_key.data());
  c.header_mac = header_mac;
  return c;
}

std::string key_id_text(const std::uint8_t* header) {
  return std::to_string(get_u64(header + off_key_id));
}

}  // namespace

void put_u32(std::uint8_t* out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8)
    out[i] = static_cast<std::uint8_t>(v);
}

void put_u64(std::uint8_t* out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8)
    out[i] = static_cast<std::uint8_t>(v);
}

std::uint32_t get_u32(const std::uint8_t* in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v = (v << 8) | in[i];
  return v;
}

std::uint64_t get_u64(const std::uint8_t* in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | in[i];
  return v;
}

result<chunk_cipher> seal_header(const header_plan& plan, const secret_bytes& master_key,
                                 const secret_bytes& data_key, header_bytes& out) {
  if (master_key.size() != key_bytes || data_key.size() != key_bytes) {
    return make_error("bad_key", "CCENX keys must be " + std::to_string(key_bytes) + " bytes");
  }
  if (plan.chunk_size == 0 || plan.chunk_size > ccenx_max_chunk) {
    return make_error("bad_chunk_size", "chunk size " + std::to_string(plan.chunk_size) +
                                            " is outside 1.." + std::to_string(ccenx_max_chunk));
  }

  std::uint8_t* h = out.data();
  std::memcpy(h, ccenx_magic, magic_bytes);
  h[off_version] = ccenx_version;
  h[off_content] = plan.content;
  put_u32(h + off_chunk_size, plan.chunk_size);
  put_u64(h + off_key_id, plan.key_id);
  std::memcpy(h + off_file_id, plan.id.data(), file_id_bytes);
  std::memcpy(h + off_wrap_nonce, plan.wrap_nonce.data(), gcm_nonce_bytes);

  crypto_aead_aes256gcm_encrypt_detached(h + off_wrapped_key, h + off_wrapped_key + key_bytes,
                                         nullptr, data_key.data(), key_bytes, h, off_wrapped_key,
                                         nullptr, h + off_wrap_nonce, master_key.data());

  const mac commitment = hmac(derive_subkey(data_key, label_commit), h, off_commitment);
  std::memcpy(h + off_commitment, commitment.data(), mac_bytes);
  const mac header_mac = hmac(derive_subkey(data_key, label_header), h, off_header_mac);
  std::memcpy(h + off_header_mac, header_mac.data(), mac_bytes);

  return make_cipher(data_key, header_mac);
}

result<void> parse_header(const std::uint8_t* in, std::size_t size, ccenx_header& fields) {
  if (std::memcmp(in, ccenx_magic, std::min(size, magic_bytes)) != 0) {
    return make_error("bad_magic", "the file does not start with the CCENX magic");
  }
  if (size > off_version)
    fields.version = in[off_version];
  if (size > off_content)
    fields.content_type = in[off_content];
  if (size >= off_key_id)
    fields.chunk_size = get_u32(in + off_chunk_size);
  if (size >= off_file_id)
    fields.key_id = get_u64(in + off_key_id);
  if (size >= off_wrap_nonce) {
    char hex[file_id_bytes * 2 + 1];
    sodium_bin2hex(hex, sizeof(hex), in + off_file_id, file_id_bytes);
    fields.file_id_hex = hex;
  }

  if (size > off_version && fields.version != ccenx_version) {
    return make_error("unsupported_version", "CCENX version " + std::to_string(fields.version) +
                                                 " is not supported (this build reads version " +
                                                 std::to_string(ccenx_version) + ")");
  }
  if (size < ccenx_header_size) {
    return make_error("truncated", "the file ends inside the header, after " +
                                       std::to_string(size) + " of " +
                                       std::to_string(ccenx_header_size) + " bytes");
  }
  fields.header_bytes = ccenx_header_size;
  if (fields.chunk_size == 0 || fields.chunk_size > ccenx_max_chunk) {
    return make_error("bad_chunk_size", "the header's chunk size " +
                                            std::to_string(fields.chunk_size) + " is outside 1.." +
                                            std::to_string(ccenx_max_chunk));
  }
  return {};
}

result<chunk_cipher> open_header(const header_bytes& in, const secret_bytes& master_key) {
  const std::uint8_t* h = in.data();
  if (master_key.size() != key_bytes) {
    return make_error("bad_key", "master key " + key_id_text(h) + " is not " +
                                     std::to_string(key_bytes) + " bytes");
  }

  secret_bytes data_key(key_bytes);
  if (crypto_aead_aes256gcm_decrypt_detached(
          data_key.data(), nullptr, h + off_wrapped_key, key_bytes, h + off_wrapped_key + key_bytes,
          h, off_wrapped_key, h + off_wrap_nonce, master_key.data()) != 0) {
    return make_error("key_unwrap_failed", "the data key does not unwrap under master key " +
                                               key_id_text(h) +
                                               ": wrong master key or damaged header");
  }

  const mac commitment = hmac(derive_subkey(data_key, label_commit), h, off_commitment);
  if (crypto_verify_32(commitment.data(), h + off_commitment) != 0) {
    return make_error("key_commitment", "the header's key commitment does not match its data key");
  }

  const secret_bytes header_key = derive_subkey(data_key, label_header);
  if (crypto_auth_hmacsha256_verify(h + off_header_mac, h, off_header_mac, header_key.data()) !=
      0) {
    return make_error("header_auth_failed", "the header MAC does not verify");
  }

  mac header_mac{};
  std::memcpy(header_mac.data(), h + off_header_mac, mac_bytes);
  return make_cipher(data_key, header_mac);
}

gcm_nonce chunk_nonce(std::uint64_t index, bool final) {
  gcm_nonce n{};
  put_u64(n.data(), index);
  n[gcm_nonce_bytes - 1] = final ? 0x01 : 0x00;
  return n;
}

std::array<std::uint8_t, chunk_ad_bytes> chunk_ad(const mac& header_mac, std::uint64_t index,
                                                  std::uint32_t length, std::uint8_t flags) {
  std::array<std::uint8_t, chunk_ad_bytes> ad{};
  std::memcpy(ad.data(), header_mac.data(), mac_bytes);
  put_u64(ad.data() + mac_bytes, index);
  put_u32(ad.data() + mac_bytes + index_bytes, length);
  ad[mac_bytes + index_bytes + length_bytes] = flags;
  return ad;
}

}  // namespace ccrec::crypto::detail
