// The CCENX v1 byte layout and its key schedule (internal to crypto/).
//
// Shared by the writer, the reader and the test hook so that offsets, labels,
// nonces and associated data exist in one place, exactly as written in
// docs/ccenx-format.md. Pure functions; any thread.
#pragma once

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "common/result.hpp"
#include "crypto/ccenx.hpp"
#include "crypto/secret.hpp"

namespace ccrec::crypto::detail {

// Header fields: offsets and sizes (big-endian integers).
inline constexpr std::size_t magic_bytes = sizeof(ccenx_magic);
inline constexpr std::size_t off_version = 5;
inline constexpr std::size_t off_content = 6;
inline constexpr std::size_t off_chunk_size = 7;
inline constexpr std::size_t off_key_id = 11;
inline constexpr std::size_t off_file_id = 19;
inline constexpr std::size_t off_wrap_nonce = 35;
inline constexpr std::size_t off_wrapped_key = 47;
inline constexpr std::size_t off_commitment = 95;
inline constexpr std::size_t off_header_mac = 127;

inline constexpr std::size_t file_id_bytes = 16;
inline constexpr std::size_t gcm_nonce_bytes = crypto_aead_aes256gcm_NPUBBYTES;
inline constexpr std::size_t gcm_tag_bytes = crypto_aead_aes256gcm_ABYTES;
inline constexpr std::size_t mac_bytes = crypto_auth_hmacsha256_BYTES;
inline constexpr std::size_t wrapped_key_bytes = key_bytes + gcm_tag_bytes;

static_assert(off_wrapped_key == off_wrap_nonce + gcm_nonce_bytes);
static_assert(off_commitment == off_wrapped_key + wrapped_key_bytes);
static_assert(off_header_mac == off_commitment + mac_bytes);
static_assert(ccenx_header_size == off_header_mac + mac_bytes);

// Chunk framing: length u32, flags u8, then ciphertext and tag.
inline constexpr std::size_t length_bytes = 4;
inline constexpr std::size_t frame_flags_at = length_bytes;
inline constexpr std::size_t frame_bytes = length_bytes + 1;
inline constexpr std::uint8_t flag_final = 0x01;

// Chunk nonce: index u64, zero padding, final byte. Chunk associated data:
// header MAC, index u64, length u32, flags u8.
inline constexpr std::size_t index_bytes = 8;
inline constexpr std::size_t chunk_ad_bytes = mac_bytes + index_bytes + length_bytes + 1;
static_assert(ccenx_chunk_overhead == frame_bytes + gcm_tag_bytes);

using file_id = std::array<std::uint8_t, file_id_bytes>;
using gcm_nonce = std::array<std::uint8_t, gcm_nonce_bytes>;
using header_bytes = std::array<std::uint8_t, ccenx_header_size>;
using mac = std::array<std::uint8_t, mac_bytes>;

void put_u32(std::uint8_t* out, std::uint32_t v);
void put_u64(std::uint8_t* out, std::uint64_t v);
std::uint32_t get_u32(const std::uint8_t* in);
std::uint64_t get_u64(const std::uint8_t* in);

// The chunk cipher's expanded key schedule (key material, guarded) and the
// header MAC every chunk binds.
struct chunk_cipher {
  secret_bytes gcm_state;  // holds a crypto_aead_aes256gcm_state
  mac header_mac{};

  const crypto_aead_aes256gcm_state* state() const {
    return reinterpret_cast<const crypto_aead_aes256gcm_state*>(gcm_state.data());
  }
};

// What a writer chooses for a header; random in production, fixed in the
// golden-vector test.
struct header_plan {
  std::uint64_t key_id = 0;
  std::uint8_t content = 0;
  std::uint32_t chunk_size = 0;
  file_id id{};
  gcm_nonce wrap_nonce{};
};

// Builds and seals a header for `data_key` under `master_key`. Fails with
// "bad_key", "bad_chunk_size" or "out_of_memory".
result<chunk_cipher> seal_header(const header_plan& plan, const secret_bytes& master_key,
                                 const secret_bytes& data_key, header_bytes& out);

// Checks the keyless fields of the first `size` header bytes (a short file
// gives fewer than ccenx_header_size) and fills `fields` as far as it can.
// Fails with "bad_magic", "unsupported_version", "truncated" or
// "bad_chunk_size".
result<void> parse_header(const std::uint8_t* in, std::size_t size, ccenx_header& fields);

// Unwraps the data key and verifies commitment and header MAC of a parsed
// header. Fails with "key_unwrap_failed", "key_commitment",
// "header_auth_failed", "bad_key" or "out_of_memory".
result<chunk_cipher> open_header(const header_bytes& in, const secret_bytes& master_key);

gcm_nonce chunk_nonce(std::uint64_t index, bool final);
std::array<std::uint8_t, chunk_ad_bytes> chunk_ad(const mac& header_mac, std::uint64_t index,
                                                  std::uint32_t length, std::uint8_t flags);

}  // namespace ccrec::crypto::detail
