// FOR TESTS ONLY: a CCENX writer with caller-chosen "random" inputs.
//
// Production files get a fresh random data key, file id and wrap nonce
// from ccenx_writer::create. Reusing a data key across files reuses chunk
// nonces under one key and breaks AES-GCM, so nothing outside tests/ may
// include this header. It exists so that tests can reproduce the golden
// vector byte for byte and know the data key they search files for.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "common/result.hpp"
#include "crypto/ccenx.hpp"
#include "crypto/secret.hpp"

namespace ccrec::crypto::testing {

// Like ccenx_writer::create, with the data key, file id and wrap nonce
// given instead of drawn at random. Same errors.
result<std::unique_ptr<ccenx_writer>> create_writer_with_fixed_inputs_for_tests(
    std::unique_ptr<byte_sink> sink, std::uint64_t key_id, const secret_bytes& master_key,
    ccenx_content content, std::uint32_t chunk_size, const secret_bytes& data_key,
    const std::array<std::uint8_t, 16>& file_id, const std::array<std::uint8_t, 12>& wrap_nonce);

}  // namespace ccrec::crypto::testing
