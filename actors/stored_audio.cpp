#include "actors/stored_audio.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "common/file_ops.hpp"
#include "crypto/secret.hpp"

namespace ccrec {

namespace {

constexpr std::size_t copy_bytes = 64 * 1024;

using file_ops::io_error;

struct opened_file {
  std::unique_ptr<audio::byte_source> src;
  audio::ccenx_source* ccenx = nullptr;  // src, when the file is encrypted
};

result<opened_file> open_stored(const std::string& path, const keyring& ring) {
  opened_file out;
  if (!crypto::has_ccenx_magic(path)) {
    auto plain = audio::open_plain_source(path);
    if (!plain)
      return plain.error();
    out.src = std::move(*plain);
    return out;
  }

  auto header = crypto::read_ccenx_header(path);
  if (!header)
    return header.error();
  if (ring.keys.empty())
    return encryption_disabled_error(path);
  auto key = ring.keys.find(static_cast<std::int64_t>(header->key_id));
  if (key == ring.keys.end())
    return key_not_loaded_error(path, header->key_id);
  auto src = audio::ccenx_source::open(path, key->second);
  if (!src)
    return src.error();
  out.ccenx = src->get();
  out.src = std::move(*src);
  return out;
}

result<std::vector<std::uint8_t>> read_prefix(audio::byte_source& src, std::size_t size) {
  std::vector<std::uint8_t> out(size);
  std::size_t have = 0;
  while (have < size) {
    auto got = src.read(out.data() + have, size - have);
    if (!got)
      return got.error();
    if (*got == 0)
      break;
    have += *got;
  }
  out.resize(have);
  return out;
}

std::uint32_t le(const std::vector<std::uint8_t>& b, std::size_t at, std::size_t width) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < width && at + i < b.size(); ++i)
    v |= std::uint32_t{b[at + i]} << (8 * i);
  return v;
}

// A WAV is already what playback produces: it is copied byte for byte into
// a temporary file beside `out` (mode 0600), synced and renamed into place.
// Without `out` it is only read through.
result<std::uint64_t> copy_through(audio::byte_source& src, const std::string* out) {
  int fd = -1;
  std::string tmp;
  if (out != nullptr) {
    std::string pattern = *out + ".tmp-XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    fd = ::mkstemp(name.data());
    if (fd < 0)
      return io_error("cannot create a temporary file for", *out);
    tmp = name.data();
  }
  auto fail = [&](error e) -> error {
    if (fd >= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
    }
    return e;
  };

  crypto::secret_bytes buf{copy_bytes};
  std::uint64_t total = 0;
  for (;;) {
    auto got = src.read(buf.data(), buf.size());
    if (!got)
      return fail(got.error());
    if (*got == 0)
      break;
    total += *got;
    for (std::size_t done = 0; fd >= 0 && done < *got;) {
      ssize_t n = ::write(fd, buf.data() + done, *got - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return fail(io_error("cannot write", tmp));
      done += static_cast<std::size_t>(n);
    }
  }
  if (fd >= 0) {
    if (::fsync(fd) != 0)
      return fail(io_error("cannot sync", tmp));
    ::close(fd);
    fd = -1;
    if (std::rename(tmp.c_str(), out->c_str()) != 0) {
      ::unlink(tmp.c_str());
      return io_error("cannot rename " + tmp + " to", *out);
    }
  }
  return total;
}

result<void> decode_flac_to(audio::byte_source& src, const std::string* out, stored_play& play) {
  std::unique_ptr<audio::wav_writer> wav;
  std::optional<error> open_failed;
  auto decoded = audio::decode_flac(
      src,
      [&](const std::int16_t* pcm, std::size_t frames) -> result<void> {
        if (open_failed)
          return *open_failed;
        return wav ? wav->write(pcm, frames) : result<void>{};
      },
      [&](audio::pcm_format format) {
        if (out == nullptr)
          return;
        auto w = audio::wav_writer::create(*out, format);
        if (w)
          wav = std::move(*w);
        else
          open_failed = w.error();
      });
  if (open_failed)
    return *open_failed;
  if (!decoded)
    return decoded.error();
  play.format = decoded->format;
  play.frames = decoded->frames;
  play.comment = decoded->comment;
  if (wav)
    return wav->finish();
  return {};
}

result<stored_play> run(const std::string& path, const keyring& ring, const std::string* out) {
  auto file = open_stored(path, ring);
  if (!file)
    return file.error();
  // Enough for the sniff and for a WAV's format fields.
  auto prefix = read_prefix(*file->src, audio::wav_header_bytes);
  if (!prefix)
    return prefix.error();

  stored_play play;
  play.encrypted = file->ccenx != nullptr;
  play.content = audio::sniff_content(prefix->data(), prefix->size());
  auto header = *prefix;
  audio::replay_source all{std::move(*prefix), *file->src};

  result<void> done;
  if (play.content == audio::content_kind::flac) {
    done = decode_flac_to(all, out, play);
  } else if (play.content == audio::content_kind::wav) {
    auto bytes = copy_through(all, out);
    if (bytes) {
      play.format.channels = static_cast<int>(le(header, 22, 2));
      play.format.rate = static_cast<int>(le(header, 24, 4));
      const std::uint64_t block = le(header, 32, 2);
      play.frames = block == 0 || *bytes < audio::wav_header_bytes
                        ? 0
                        : (*bytes - audio::wav_header_bytes) / block;
    } else {
      done = bytes.error();
    }
  } else {
    done = make_error("unsupported_content", path + " holds " + audio::to_string(play.content) +
                                                 " data, which this command cannot play");
  }
  sodium_memzero(header.data(), header.size());

  if (file->ccenx != nullptr) {
    play.report = file->ccenx->report();
    if (play.report.state == crypto::ccenx_state::corrupt)
      return make_error(play.report.code, path + ": " + play.report.reason);
  }
  if (!done)
    return done.error().with_context(path);
  return play;
}

}  // namespace

result<audio::content_kind> stored_content(const std::string& path, const keyring& ring) {
  auto file = open_stored(path, ring);
  if (!file)
    return file.error();
  auto prefix = read_prefix(*file->src, audio::sniff_bytes);
  if (!prefix)
    return prefix.error();
  auto kind = audio::sniff_content(prefix->data(), prefix->size());
  sodium_memzero(prefix->data(), prefix->size());
  return kind;
}

result<stored_play> play_stored(const std::string& path, const keyring& ring,
                                const std::string& wav_out) {
  return run(path, ring, &wav_out);
}

result<stored_play> verify_stored(const std::string& path, const keyring& ring) {
  return run(path, ring, nullptr);
}

}  // namespace ccrec
