#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "crypto/ccenx.hpp"
#include "crypto/ccenx_format.hpp"
#include "crypto/ccenx_testing.hpp"
#include "crypto/wiped_buffer.hpp"

namespace ccrec::crypto {

// One reusable buffer per writer holds a whole on-disk chunk:
//   [length u32 | flags u8][plaintext, sealed in place into ciphertext][tag]
// so sealing needs no allocation and each chunk is one sink write.
struct ccenx_writer::impl {
  enum class phase { open, finished, failed };

  std::unique_ptr<byte_sink> sink;
  detail::chunk_cipher cipher;
  detail::wiped_buffer frame;
  std::uint32_t chunk_size = 0;
  std::size_t buffered = 0;
  std::uint64_t next_index = 0;
  std::uint64_t plaintext_bytes = 0;
  std::uint64_t file_bytes = 0;
  phase state = phase::open;

  std::uint8_t* body() { return frame.data() + detail::frame_bytes; }

  result<void> usable() const {
    if (state == phase::finished) {
      return make_error("writer_finished", "the CCENX writer was already finished");
    }
    if (state == phase::failed) {
      return make_error("writer_failed", "the CCENX writer failed earlier and refuses further use");
    }
    return {};
  }

  result<void> write(const std::uint8_t* data, std::size_t size) {
    result<void> r = sink->write(data, size);
    if (!r) {
      state = phase::failed;
      return r.error().with_context("while writing a CCENX file");
    }
    file_bytes += size;
    return {};
  }

  result<void> sync() {
    result<void> r = sink->sync();
    if (!r) {
      state = phase::failed;
      return r.error().with_context("while syncing a CCENX file");
    }
    return {};
  }

  // Seals `size` plaintext bytes at `plaintext` (the buffer's own body, or
  // the caller's bytes for a whole chunk) into the frame and writes it.
  result<void> seal_and_write(const std::uint8_t* plaintext, std::size_t size, bool final) {
    const auto length = static_cast<std::uint32_t>(size);
    const std::uint8_t flags = final ? detail::flag_final : 0;
    const detail::gcm_nonce nonce = detail::chunk_nonce(next_index, final);
    const auto ad = detail::chunk_ad(cipher.header_mac, next_index, length, flags);

    detail::put_u32(frame.data(), length);
    frame.data()[detail::frame_flags_at] = flags;
    crypto_aead_aes256gcm_encrypt_detached_afternm(body(), body() + size, nullptr, plaintext, size,
                                                   ad.data(), ad.size(), nullptr, nonce.data(),
                                                   cipher.state());
    buffered = 0;
    result<void> r = write(frame.data(), detail::frame_bytes + size + detail::gcm_tag_bytes);
    // A failed write leaves the writer failed, so this index is never
    // sealed again even though it is not counted.
    if (r)
      ++next_index;
    return r;
  }
};

// Builds writers from a header plan; the only way to construct one.
class ccenx_writer_access {
 public:
  static result<std::unique_ptr<ccenx_writer>> create(std::unique_ptr<byte_sink> sink,
                                                      const detail::header_plan& plan,
                                                      const secret_bytes& master_key,
                                                      const secret_bytes& data_key) {
    if (!sink)
      return make_error("bad_sink", "no byte sink given to the CCENX writer");
    result<void> ready = initialise();
    if (!ready)
      return ready.error();

    try {
      return build(std::move(sink), plan, master_key, data_key);
    } catch (const std::bad_alloc&) {
      return make_error("out_of_memory", "no guarded memory for a CCENX writer's keys");
    }
  }

 private:
  static result<std::unique_ptr<ccenx_writer>> build(std::unique_ptr<byte_sink> sink,
                                                     const detail::header_plan& plan,
                                                     const secret_bytes& master_key,
                                                     const secret_bytes& data_key) {
    detail::header_bytes header{};
    result<detail::chunk_cipher> cipher = detail::seal_header(plan, master_key, data_key, header);
    if (!cipher)
      return cipher.error();

    result<detail::wiped_buffer> frame = detail::wiped_buffer::allocate(
        detail::frame_bytes + plan.chunk_size + detail::gcm_tag_bytes);
    if (!frame)
      return frame.error();

    auto p = std::make_unique<ccenx_writer::impl>();
    p->sink = std::move(sink);
    p->cipher = std::move(cipher).value();
    p->frame = std::move(frame).value();
    p->chunk_size = plan.chunk_size;

    result<void> written = p->write(header.data(), header.size());
    if (!written)
      return written.error();
    return std::unique_ptr<ccenx_writer>(new ccenx_writer(std::move(p)));
  }
};

result<std::unique_ptr<ccenx_writer>> ccenx_writer::create(std::unique_ptr<byte_sink> sink,
                                                           std::uint64_t key_id,
                                                           const secret_bytes& master_key,
                                                           ccenx_content content,
                                                           std::uint32_t chunk_size) {
  result<void> ready = initialise();
  if (!ready)
    return ready.error();

  detail::header_plan plan;
  plan.key_id = key_id;
  plan.content = static_cast<std::uint8_t>(content);
  plan.chunk_size = chunk_size;
  randombytes_buf(plan.id.data(), plan.id.size());
  randombytes_buf(plan.wrap_nonce.data(), plan.wrap_nonce.size());

  try {
    const secret_bytes data_key = secret_bytes::random(key_bytes);
    return ccenx_writer_access::create(std::move(sink), plan, master_key, data_key);
  } catch (const std::bad_alloc&) {
    return make_error("out_of_memory", "no guarded memory for a CCENX data key");
  }
}

ccenx_writer::ccenx_writer(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

ccenx_writer::~ccenx_writer() = default;

result<void> ccenx_writer::append(const std::uint8_t* data, std::size_t size) {
  impl& w = *impl_;
  result<void> ok = w.usable();
  if (!ok)
    return ok;

  while (size > 0) {
    // A whole chunk with nothing buffered is sealed straight from the
    // caller's bytes: no copy.
    if (w.buffered == 0 && size >= w.chunk_size) {
      result<void> r = w.seal_and_write(data, w.chunk_size, false);
      if (!r)
        return r;
      w.plaintext_bytes += w.chunk_size;
      data += w.chunk_size;
      size -= w.chunk_size;
      continue;
    }

    const std::size_t take = std::min<std::size_t>(size, w.chunk_size - w.buffered);
    std::memcpy(w.body() + w.buffered, data, take);
    w.buffered += take;
    w.plaintext_bytes += take;
    data += take;
    size -= take;
    if (w.buffered == w.chunk_size) {
      result<void> r = w.seal_and_write(w.body(), w.buffered, false);
      if (!r)
        return r;
    }
  }
  return {};
}

result<void> ccenx_writer::flush(bool sync) {
  impl& w = *impl_;
  result<void> ok = w.usable();
  if (!ok)
    return ok;

  if (w.buffered > 0) {
    result<void> r = w.seal_and_write(w.body(), w.buffered, false);
    if (!r)
      return r;
  }
  if (sync)
    return w.sync();
  return {};
}

result<void> ccenx_writer::finish() {
  impl& w = *impl_;
  result<void> ok = w.usable();
  if (!ok)
    return ok;

  result<void> sealed = w.seal_and_write(w.body(), w.buffered, true);
  if (!sealed)
    return sealed;

  result<void> synced = w.sync();
  if (!synced)
    return synced;
  w.state = impl::phase::finished;
  return {};
}

std::uint64_t ccenx_writer::plaintext_bytes() const {
  return impl_->plaintext_bytes;
}
std::uint64_t ccenx_writer::file_bytes() const {
  return impl_->file_bytes;
}
std::uint64_t ccenx_writer::chunks_written() const {
  return impl_->next_index;
}

namespace testing {

result<std::unique_ptr<ccenx_writer>> create_writer_with_fixed_inputs_for_tests(
    std::unique_ptr<byte_sink> sink, std::uint64_t key_id, const secret_bytes& master_key,
    ccenx_content content, std::uint32_t chunk_size, const secret_bytes& data_key,
    const std::array<std::uint8_t, 16>& file_id, const std::array<std::uint8_t, 12>& wrap_nonce) {
  detail::header_plan plan;
  plan.key_id = key_id;
  plan.content = static_cast<std::uint8_t>(content);
  plan.chunk_size = chunk_size;
  plan.id = file_id;
  plan.wrap_nonce = wrap_nonce;
  return ccenx_writer_access::create(std::move(sink), plan, master_key, data_key);
}

}  // namespace testing

}  // namespace ccrec::crypto
