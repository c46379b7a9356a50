#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "crypto/ccenx.hpp"
#include "crypto/ccenx_format.hpp"
#include "crypto/wiped_buffer.hpp"

namespace ccrec::crypto {

namespace {

// A file opened for reading; closes on destruction.
class input_file {
 public:
  static result<input_file> open(const std::string& path) {
    int fd = -1;
    do {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
      return make_error("io", "cannot open " + path + ": " + std::strerror(errno));
    return input_file(fd, path);
  }

  input_file(input_file&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) {
    other.fd_ = -1;
  }
  input_file(const input_file&) = delete;
  input_file& operator=(const input_file&) = delete;
  input_file& operator=(input_file&&) = delete;
  ~input_file() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  // Reads up to `size` bytes; fewer only at end of file.
  result<std::size_t> read_up_to(std::uint8_t* out, std::size_t size) {
    std::size_t got = 0;
    while (got < size) {
      const ssize_t n = ::read(fd_, out + got, size - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return make_error("io", "cannot read " + path_ + ": " + std::strerror(errno));
      if (n == 0)
        break;
      got += static_cast<std::size_t>(n);
    }
    return got;
  }

 private:
  input_file(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  int fd_;
  std::string path_;
};

// Wipes a plaintext range however the scope is left (a throwing callback
// included).
class wipe_on_exit {
 public:
  wipe_on_exit(std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  ~wipe_on_exit() { sodium_memzero(data_, size_); }
  wipe_on_exit(const wipe_on_exit&) = delete;
  wipe_on_exit& operator=(const wipe_on_exit&) = delete;

 private:
  std::uint8_t* data_;
  std::size_t size_;
};

ccenx_report& end(ccenx_report& r, ccenx_state state, const std::string& code,
                  const std::string& reason) {
  r.state = state;
  r.code = code;
  r.reason = reason;
  return r;
}

ccenx_report& end(ccenx_report& r, const error& e) {
  const ccenx_state s = e.code == "truncated" ? ccenx_state::truncated : ccenx_state::corrupt;
  return end(r, s, e.code, e.message);
}

std::string chunk_name(std::uint64_t index) {
  return "chunk " + std::to_string(index) + " (0-based)";
}

// Reads and decrypts chunks after a verified header until the file ends or
// something fails; `buffer` holds chunk_size + tag bytes.
void read_chunks(input_file& file, const detail::chunk_cipher& cipher, std::uint32_t chunk_size,
                 detail::wiped_buffer& buffer, const plaintext_sink& on_plaintext,
                 ccenx_report& report) {
  for (std::uint64_t index = 0;; ++index) {
    std::uint8_t frame[detail::frame_bytes];
    result<std::size_t> got = file.read_up_to(frame, sizeof(frame));
    if (!got) {
      end(report, got.error());
      return;
    }
    if (*got == 0) {
      const std::string after = index == 0 ? "the header" : chunk_name(index - 1);
      end(report, ccenx_state::interrupted, "interrupted",
          "the file ends after " + after + " without a final chunk");
      return;
    }
    if (*got < sizeof(frame)) {
      end(report, ccenx_state::truncated, "truncated",
          "the file ends inside the framing of " + chunk_name(index));
      return;
    }

    const std::uint32_t length = detail::get_u32(frame);
    const std::uint8_t flags = frame[detail::frame_flags_at];
    if ((flags & ~detail::flag_final) != 0) {
      end(report, ccenx_state::corrupt, "bad_chunk_flags",
          chunk_name(index) + " has unknown flag bits " + std::to_string(flags));
      return;
    }
    if (length > chunk_size) {
      end(report, ccenx_state::corrupt, "bad_chunk_length",
          chunk_name(index) + " claims " + std::to_string(length) +
              " bytes, more than the chunk size " + std::to_string(chunk_size));
      return;
    }

    const std::size_t sealed = length + detail::gcm_tag_bytes;
    got = file.read_up_to(buffer.data(), sealed);
    if (!got) {
      end(report, got.error());
      return;
    }
    if (*got < sealed) {
      end(report, ccenx_state::truncated, "truncated",
          "the file ends inside " + chunk_name(index) + ", after " + std::to_string(*got) +
              " of its " + std::to_string(sealed) + " sealed bytes");
      return;
    }

    const bool final = (flags & detail::flag_final) != 0;
    const detail::gcm_nonce nonce = detail::chunk_nonce(index, final);
    const auto ad = detail::chunk_ad(cipher.header_mac, index, length, flags);
    wipe_on_exit wipe(buffer.data(), length);
    if (crypto_aead_aes256gcm_decrypt_detached_afternm(
            buffer.data(), nullptr, buffer.data(), length, buffer.data() + length, ad.data(),
            ad.size(), nonce.data(), cipher.state()) != 0) {
      end(report, ccenx_state::corrupt, "chunk_auth_failed",
          chunk_name(index) + " failed authentication (damaged, moved, dropped or replayed)");
      return;
    }
    if (on_plaintext)
      on_plaintext(buffer.data(), length);
    ++report.chunks;
    report.plaintext_bytes += length;
    if (!final)
      continue;

    std::uint8_t extra = 0;
    got = file.read_up_to(&extra, 1);
    if (!got) {
      end(report, got.error());
      return;
    }
    if (*got != 0) {
      end(report, ccenx_state::corrupt, "trailing_data",
          "bytes follow the final chunk, " + chunk_name(index));
      return;
    }
    end(report, ccenx_state::complete, "", "");
    return;
  }
}

void read_file(const std::string& path, const key_resolver& keys,
               const plaintext_sink& on_plaintext, ccenx_report& report) {
  result<input_file> file = input_file::open(path);
  if (!file) {
    end(report, file.error());
    return;
  }

  detail::header_bytes header{};
  result<std::size_t> got = file->read_up_to(header.data(), header.size());
  if (!got) {
    end(report, got.error());
    return;
  }
  result<void> parsed = detail::parse_header(header.data(), *got, report.header);
  if (!parsed) {
    end(report, parsed.error());
    return;
  }

  const std::uint64_t key_id = report.header.key_id;
  const secret_bytes* master_key = keys ? keys(key_id) : nullptr;
  if (master_key == nullptr) {
    end(report, ccenx_state::corrupt, "unknown_key",
        "no master key with id " + std::to_string(key_id) + " is known");
    return;
  }
  result<detail::chunk_cipher> cipher = detail::open_header(header, *master_key);
  if (!cipher) {
    end(report, cipher.error());
    return;
  }

  result<detail::wiped_buffer> buffer =
      detail::wiped_buffer::allocate(report.header.chunk_size + detail::gcm_tag_bytes);
  if (!buffer) {
    end(report, buffer.error());
    return;
  }
  read_chunks(*file, *cipher, report.header.chunk_size, *buffer, on_plaintext, report);
}

}  // namespace

const char* to_string(ccenx_state s) {
  switch (s) {
    case ccenx_state::complete:
      return "complete";
    case ccenx_state::interrupted:
      return "interrupted";
    case ccenx_state::truncated:
      return "truncated";
    case ccenx_state::corrupt:
      return "corrupt";
  }
  return "unknown";
}

ccenx_report read_ccenx(const std::string& path, const key_resolver& keys,
                        const plaintext_sink& on_plaintext) {
  ccenx_report report;
  result<void> ready = initialise();
  if (!ready) {
    end(report, ready.error());
    return report;
  }

  try {
    read_file(path, keys, on_plaintext, report);
  } catch (const std::bad_alloc&) {
    end(report, ccenx_state::corrupt, "out_of_memory", "no memory to read " + path);
  }
  // I/O errors name the path already.
  if (!report.code.empty() && report.code != "io")
    report.reason = path + ": " + report.reason;
  return report;
}

result<ccenx_header> read_ccenx_header(const std::string& path) {
  result<input_file> file = input_file::open(path);
  if (!file)
    return file.error();

  detail::header_bytes header{};
  result<std::size_t> got = file->read_up_to(header.data(), header.size());
  if (!got)
    return got.error();

  ccenx_header fields;
  result<void> parsed = detail::parse_header(header.data(), *got, fields);
  if (!parsed)
    return parsed.error().with_context(path);
  return fields;
}

bool has_ccenx_magic(const std::string& path) {
  result<input_file> file = input_file::open(path);
  if (!file)
    return false;

  std::uint8_t magic[detail::magic_bytes];
  result<std::size_t> got = file->read_up_to(magic, sizeof(magic));
  return got && *got == sizeof(magic) && std::memcmp(magic, ccenx_magic, sizeof(magic)) == 0;
}

}  // namespace ccrec::crypto
