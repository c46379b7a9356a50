#include "actors/encrypt_existing.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "actors/audio_codec.hpp"
#include "common/file_ops.hpp"
#include "crypto/ccenx.hpp"
#include "crypto/secret.hpp"

namespace ccrec {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t block_bytes = 64 * 1024;
using digest = std::array<std::uint8_t, crypto_generichash_BYTES>;

using file_ops::io_error;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct file_identity {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const file_identity& o) const { return size == o.size && mtime_ns == o.mtime_ns; }
};

result<file_identity> identity_of(const std::string& path) {
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0)
    return io_error("cannot stat", path);
  return file_identity{
      static_cast<std::uint64_t>(sb.st_size),
      static_cast<std::int64_t>(sb.st_mtim.tv_sec) * 1000000000 + sb.st_mtim.tv_nsec};
}

// Up to `size` bytes from the start of the file at `path`, into `head`: fewer
// when the file is shorter or a read fails. Nothing when it cannot be opened.
std::optional<std::size_t> read_head(const std::string& path, std::uint8_t* head,
                                     std::size_t size) {
  auto src = audio::open_plain_source(path);
  if (!src)
    return std::nullopt;
  std::size_t have = 0;
  while (have < size) {
    auto got = (*src)->read(head + have, size - have);
    if (!got || *got == 0)
      break;
    have += *got;
  }
  return have;
}

// What a plain file is, from its first bytes.
audio::content_kind sniff_file(const std::string& path) {
  std::uint8_t head[audio::sniff_bytes] = {};
  auto have = read_head(path, head, sizeof head);
  if (!have)
    return audio::content_kind::unknown;
  return audio::sniff_content(head, *have);
}

// A temp file this tool made: it starts with CCENX, or with a prefix of it
// when a kill came while the header was being written.
bool is_our_temp(const std::string& path) {
  std::uint8_t head[sizeof crypto::ccenx_magic] = {};
  auto have = read_head(path, head, sizeof head);
  if (!have)
    return false;
  return std::memcmp(head, crypto::ccenx_magic, *have) == 0;
}

struct candidate {
  std::string path;
  audio::content_kind kind = audio::content_kind::unknown;
  std::uint64_t size = 0;
};

struct sealed_copy {
  digest hash{};
  std::uint64_t bytes = 0;
};

// Step 1: the plaintext, in blocks, into a CCENX file at `tmp`.
result<sealed_copy> seal_copy(const candidate& c, const std::string& tmp,
                              const transcode_keys& keys) {
  auto src = audio::open_plain_source(c.path);
  if (!src)
    return src.error();
  auto sink = crypto::open_file_sink(tmp);
  if (!sink)
    return sink.error();
  auto content = c.kind == audio::content_kind::raw_stream ? crypto::ccenx_content::raw_call_audio
                                                           : crypto::ccenx_content::unspecified;
  auto writer = crypto::ccenx_writer::create(
      std::move(*sink), static_cast<std::uint64_t>(keys.active_id), *keys.active, content);
  if (!writer)
    return writer.error();

  crypto_generichash_state hash;
  crypto_generichash_init(&hash, nullptr, 0, crypto_generichash_BYTES);
  crypto::secret_bytes block{block_bytes};
  sealed_copy out;
  for (;;) {
    auto got = (*src)->read(block.data(), block.size());
    if (!got)
      return got.error();
    if (*got == 0)
      break;
    crypto_generichash_update(&hash, block.data(), *got);
    if (auto ok = (*writer)->append(block.data(), *got); !ok)
      return ok.error();
    out.bytes += *got;
  }
  if (auto ok = (*writer)->finish(); !ok)  // seals the final chunk, fdatasync
    return ok.error();
  crypto_generichash_final(&hash, out.hash.data(), out.hash.size());
  return out;
}

// Step 2: the new file decrypts completely to the same bytes.
result<void> verify_copy(const std::string& tmp, const transcode_keys& keys,
                         const sealed_copy& expected) {
  crypto_generichash_state hash;
  crypto_generichash_init(&hash, nullptr, 0, crypto_generichash_BYTES);
  std::uint64_t bytes = 0;
  auto report = crypto::read_ccenx(
      tmp,
      [&](std::uint64_t id) {
        return static_cast<std::int64_t>(id) == keys.active_id ? keys.active.get() : nullptr;
      },
      [&](const std::uint8_t* data, std::size_t size) {
        crypto_generichash_update(&hash, data, size);
        bytes += size;
      });
  digest got{};
  crypto_generichash_final(&hash, got.data(), got.size());
  if (report.state != crypto::ccenx_state::complete)
    return make_error("verify_failed", tmp + ": " + report.reason);
  if (bytes != expected.bytes || sodium_memcmp(got.data(), expected.hash.data(), got.size()) != 0)
    return make_error("verify_failed", tmp + " does not decrypt to the original's bytes");
  return {};
}

std::string relative_to(const std::string& path, const std::string& base) {
  if (base.empty())
    return "";
  std::error_code ec;
  auto rel = fs::relative(fs::weakly_canonical(path, ec), fs::weakly_canonical(base, ec), ec);
  if (ec || rel.empty() || *rel.begin() == "..")
    return "";
  return rel.string();
}

// Step 4 (and a rerun's reconciliation): rows naming `path` say what the
// file is now. Returns how many rows changed.
result<std::size_t> update_rows(storage::database* db, const encrypt_existing_options& opts,
                                const std::string& path) {
  const auto rel = relative_to(path, opts.recordings_dir);
  if (db == nullptr || rel.empty())
    return std::size_t{0};
  auto rows = db->recordings_at_path(rel);
  if (!rows)
    return rows.error();
  auto header = crypto::read_ccenx_header(path);
  if (!header)
    return header.error();

  std::size_t changed = 0;
  for (const auto& row : *rows) {
    if (row.encryption == "ccenx" && row.key_id == static_cast<std::int64_t>(header->key_id))
      continue;
    storage::recording_file_change c;
    c.id = row.id;
    c.expected_path = rel;
    c.new_path = rel;
    // What the file holds now, by what this tool sealed it as: a raw stream
    // stays "raw", anything else it encrypts is a WAV.
    c.form =
        header->content_type == static_cast<std::uint8_t>(crypto::ccenx_content::raw_call_audio)
            ? "raw"
            : "wav";
    c.key_id = static_cast<std::int64_t>(header->key_id);
    c.encryption = "ccenx";
    std::error_code ec;
    c.bytes = static_cast<std::int64_t>(fs::file_size(path, ec));
    auto ok = db->replace_recording_file(c);
    if (!ok)
      return ok.error();
    changed += *ok ? 1 : 0;
  }
  return changed;
}

void step_done(const encrypt_existing_options& opts, const std::string& path, encrypt_step s) {
  if (opts.after_step)
    opts.after_step(path, s);
}

// Steps 1-4 for one file.
result<std::size_t> encrypt_one(storage::database* db, const transcode_keys& keys,
                                const encrypt_existing_options& opts, const candidate& c,
                                std::uint64_t& bytes) {
  const std::string tmp = c.path + encrypt_temp_suffix;
  if (auto ok = file_ops::remove_file(tmp); !ok)
    return ok.error();
  auto before = identity_of(c.path);
  if (!before)
    return before.error();

  auto sealed = seal_copy(c, tmp, keys);
  if (!sealed) {
    ::unlink(tmp.c_str());
    return sealed.error();
  }
  step_done(opts, c.path, encrypt_step::sealed);

  if (auto ok = verify_copy(tmp, keys, *sealed); !ok) {
    ::unlink(tmp.c_str());
    return ok.error();
  }
  step_done(opts, c.path, encrypt_step::verified);

  auto after = identity_of(c.path);
  if (!after || !(*after == *before)) {
    ::unlink(tmp.c_str());
    return make_error("changed_while_encrypting",
                      c.path + " changed while it was encrypted; run again when it is final");
  }
  if (std::rename(tmp.c_str(), c.path.c_str()) != 0)
    return io_error("cannot rename " + tmp + " over", c.path);
  if (auto ok = file_ops::sync_dir(fs::path{c.path}.parent_path()); !ok)
    return ok.error();
  bytes += sealed->bytes;
  step_done(opts, c.path, encrypt_step::renamed);

  auto rows = update_rows(db, opts, c.path);
  if (!rows)
    return rows.error();
  step_done(opts, c.path, encrypt_step::rows_updated);
  return *rows;
}

}  // namespace

result<encrypt_existing_summary> encrypt_existing(storage::database* db, const transcode_keys& keys,
                                                  const encrypt_existing_options& opts) {
  if (!keys.active)
    return make_error("encryption_disabled",
                      "no active master key: enable encryption (and give the key-encrypting "
                      "secret) to encrypt existing recordings");

  std::vector<std::string> paths;
  std::error_code ec;
  for (fs::recursive_directory_iterator it{opts.dir, ec}, end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec))
      paths.push_back(it->path().string());
  }
  if (ec)
    return make_error("io", "cannot walk " + opts.dir + ": " + ec.message());
  std::sort(paths.begin(), paths.end());

  encrypt_existing_summary out;
  std::vector<candidate> todo;
  std::uint64_t total_bytes = 0;
  for (const auto& path : paths) {
    if (ends_with(path, encrypt_temp_suffix)) {
      // An interrupted run's copy: ours when it starts with CCENX. The
      // original beside it is intact (the rename never happened).
      if (is_our_temp(path)) {
        if (!opts.dry_run)
          ::unlink(path.c_str());
        ++out.leftovers_removed;
      } else {
        ++out.not_recordings;  // someone else's file with our suffix: left alone
      }
      continue;
    }
    if (crypto::has_ccenx_magic(path)) {
      ++out.already_encrypted;
      if (!opts.dry_run) {
        auto rows = update_rows(db, opts, path);
        if (!rows)
          out.failed.emplace_back(path, rows.error());
        else
          out.rows_updated += *rows;
      }
      continue;
    }
    auto kind = sniff_file(path);
    if (kind != audio::content_kind::raw_stream && kind != audio::content_kind::wav) {
      ++out.not_recordings;
      continue;
    }
    auto size = fs::file_size(path, ec);
    todo.push_back({path, kind, ec ? 0 : static_cast<std::uint64_t>(size)});
    total_bytes += todo.back().size;
  }

  if (opts.dry_run) {
    for (const auto& c : todo)
      out.planned.push_back(c.path);
    return out;
  }
  std::uint64_t done_bytes = 0;
  for (std::size_t i = 0; i < todo.size(); ++i) {
    std::uint64_t bytes = 0;
    auto rows = encrypt_one(db, keys, opts, todo[i], bytes);
    if (rows) {
      ++out.encrypted;
      out.rows_updated += *rows;
      out.bytes += bytes;
    } else {
      out.failed.emplace_back(todo[i].path, rows.error());
    }
    done_bytes += todo[i].size;
    if (opts.progress)
      opts.progress(i + 1, todo.size(), done_bytes, total_bytes);
  }
  return out;
}

}  // namespace ccrec
