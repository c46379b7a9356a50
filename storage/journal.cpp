#include "storage/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "common/file_ops.hpp"

namespace ccrec::storage {

namespace {

// "CCJNL", a zero, format version 1, a zero.
constexpr std::array<std::uint8_t, 8> header_magic = {'C', 'C', 'J', 'N', 'L', 0, 1, 0};
// "CCJAPL", a zero, format version 1.
constexpr std::array<std::uint8_t, 8> applied_magic = {'C', 'C', 'J', 'A', 'P', 'L', 0, 1};
constexpr std::size_t applied_file_bytes = 20;
constexpr std::size_t entry_prefix_bytes = 12;  // length (4) + seq (8)
constexpr std::size_t crc_bytes = 4;
constexpr std::uint32_t crc_polynomial = 0xEDB88320u;  // IEEE 802.3, reflected
constexpr mode_t private_file_mode = 0600;
constexpr mode_t private_dir_mode = 0700;

std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < table.size(); ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit)
      c = (c & 1u) ? (crc_polynomial ^ (c >> 1)) : (c >> 1);
    table[i] = c;
  }
  return table;
}

void put_le32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_le64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint32_t get_le32(const std::string& in, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<std::uint8_t>(in[at + static_cast<std::size_t>(i)]);
  return v;
}

std::uint64_t get_le64(const std::string& in, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<std::uint8_t>(in[at + static_cast<std::size_t>(i)]);
  return v;
}

std::uint32_t crc_of(const std::string& in, std::size_t at, std::size_t size) {
  return crc32(reinterpret_cast<const std::uint8_t*>(in.data()) + at, size);
}

error io_error(const std::string& what, const std::string& path) {
  return make_error("journal_io",
                    "journal: cannot " + what + " " + path + ": " + std::strerror(errno));
}

// magic, base sequence, CRC of both.
std::string header_bytes(std::uint64_t base_seq) {
  std::string out(header_magic.begin(), header_magic.end());
  put_le64(out, base_seq);
  put_le32(out, crc_of(out, 0, out.size()));
  return out;
}

std::string applied_bytes(std::uint64_t seq) {
  std::string out(applied_magic.begin(), applied_magic.end());
  put_le64(out, seq);
  put_le32(out, crc_of(out, 0, out.size()));
  return out;
}

bool has_magic(const std::string& in, const std::array<std::uint8_t, 8>& magic) {
  return in.size() >= magic.size() &&
         std::equal(magic.begin(), magic.end(), in.begin(),
                    [](std::uint8_t m, char c) { return m == static_cast<std::uint8_t>(c); });
}

void append_entry(std::string& out, std::uint64_t seq, const std::string& payload) {
  auto start = out.size();
  put_le32(out, static_cast<std::uint32_t>(payload.size()));
  put_le64(out, seq);
  out += payload;
  put_le32(out, crc_of(out, start, out.size() - start));
}

// The entry at `at`, when a whole, checksummed entry with a sequence of at
// least `min_seq` starts there.
bool entry_at(const std::string& in, std::size_t at, std::uint64_t min_seq, journal_entry* out) {
  if (in.size() - at < journal_entry_overhead)
    return false;
  auto length = get_le32(in, at);
  auto seq = get_le64(in, at + 4);
  if (length == 0 || length > journal_max_entry_bytes)
    return false;
  if (in.size() - at - journal_entry_overhead < length)
    return false;
  auto body = entry_prefix_bytes + length;
  if (crc_of(in, at, body) != get_le32(in, at + body) || seq < min_seq)
    return false;
  if (out != nullptr)
    *out = journal_entry{seq, in.substr(at + entry_prefix_bytes, length)};
  return true;
}

result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return io_error("open", path);
  std::string out;
  std::array<char, 64 * 1024> buf{};
  for (;;) {
    auto n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = io_error("read", path);
      ::close(fd);
      return err;
    }
    if (n == 0)
      break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

result<void> write_all(int fd, const std::string& bytes, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return io_error("write", path);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

// A rename is durable only once its directory is synced. The shared step
// words its failure as "cannot ... <dir>: <why>"; the journal's errors carry
// their own code and prefix.
result<void> sync_dir(const std::string& dir) {
  auto ok = file_ops::sync_dir(dir);
  if (!ok)
    return make_error("journal_io", "journal: " + ok.error().message);
  return {};
}

// Writes `bytes` to a new file and renames it to `path`: a crash leaves
// either the old file or the new one, never a mix.
result<void> replace_file(const std::string& dir, const std::string& path,
                          const std::string& bytes) {
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, private_file_mode);
  if (fd < 0)
    return io_error("create", tmp);
  auto written = write_all(fd, bytes, tmp);
  bool synced = written.ok() && ::fdatasync(fd) == 0;
  auto sync_err = synced ? error{} : io_error("sync", tmp);
  ::close(fd);
  if (!written)
    return written.error();
  if (!synced)
    return sync_err;
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return io_error("rename " + tmp + " to", path);
  return sync_dir(dir);
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::uint32_t crc32(const std::uint8_t* data, std::size_t size, std::uint32_t crc) {
  static const auto table = make_crc_table();
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i)
    crc = table[(crc ^ data[i]) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

// ---------------------------------------------------------------------------
// Opening and recovery
// ---------------------------------------------------------------------------

result<std::unique_ptr<journal>> journal::open(const std::string& dir, journal_recovery* recovery) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return make_error("journal_io", "journal: cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), private_dir_mode);

  std::unique_ptr<journal> j{new journal()};
  j->dir_ = dir;
  j->path_ = dir + "/" + journal_file_name;
  j->applied_path_ = dir + "/" + journal_applied_file_name;
  if (!std::filesystem::exists(j->path_, ec)) {
    if (auto ok = j->create_empty(1); !ok)
      return ok.error();
  }

  journal_recovery found;
  auto entries = j->scan(found);
  if (!entries)
    return entries.error();
  if (auto ok = j->load_applied(); !ok)
    return ok.error();

  std::uint64_t last = entries->empty() ? j->base_seq_ - 1 : entries->back().seq;
  j->next_seq_ = std::max(last, j->applied_) + 1;
  for (auto& e : *entries) {
    if (e.seq <= j->applied_)
      continue;
    j->unapplied_seqs_.push_back(e.seq);
    found.pending.push_back(std::move(e));
  }
  found.applied = j->applied_;
  if (auto ok = j->open_for_append(); !ok)
    return ok.error();
  if (recovery != nullptr)
    *recovery = std::move(found);
  return j;
}

journal::~journal() {
  if (fd_ >= 0)
    ::close(fd_);
  if (applied_fd_ >= 0)
    ::close(applied_fd_);
}

result<void> journal::create_empty(std::uint64_t base_seq) {
  if (auto ok = replace_file(dir_, path_, header_bytes(base_seq)); !ok)
    return ok;
  base_seq_ = base_seq;
  file_bytes_ = journal_header_bytes;
  return {};
}

// Reads every valid entry; cuts the file after the last one.
result<std::vector<journal_entry>> journal::scan(journal_recovery& out) {
  auto bytes = read_file(path_);
  if (!bytes)
    return bytes.error();
  const auto& in = *bytes;
  if (in.size() < journal_header_bytes || !has_magic(in, header_magic) ||
      crc_of(in, 0, journal_header_bytes - crc_bytes) != get_le32(in, 16))
    return make_error("journal_corrupt", "journal: " + path_ +
                                             " does not start with a valid journal header; "
                                             "left untouched");
  base_seq_ = get_le64(in, 8);

  std::vector<journal_entry> entries;
  std::size_t at = journal_header_bytes;
  std::uint64_t min_seq = base_seq_;
  journal_entry e;
  while (at < in.size() && entry_at(in, at, min_seq, &e)) {
    at += journal_entry_overhead + e.payload.size();
    min_seq = e.seq + 1;
    entries.push_back(std::move(e));
  }
  out.entries = entries.size();
  file_bytes_ = at;
  if (at == in.size())
    return entries;

  // A torn tail is the last thing written. If a whole, valid entry follows
  // the bad one, the damage is inside the file: keep a copy for people.
  out.dropped_bytes = in.size() - at;
  std::size_t claimed = in.size() - at >= 4 ? journal_entry_overhead + get_le32(in, at) : 0;
  out.damaged =
      claimed > 0 && in.size() - at > claimed && entry_at(in, at + claimed, min_seq, nullptr);
  out.torn = !out.damaged;
  if (out.damaged) {
    out.damaged_copy = path_ + ".damaged-" + std::to_string(now_ms());
    if (auto ok = replace_file(dir_, out.damaged_copy, in); !ok)
      return ok.error();
  }
  if (::truncate(path_.c_str(), static_cast<off_t>(at)) != 0)
    return io_error("truncate", path_);
  int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ::fdatasync(fd) != 0) {
    auto err = io_error("sync", path_);
    if (fd >= 0)
      ::close(fd);
    return err;
  }
  ::close(fd);
  out.warning = out.damaged
                    ? "journal " + path_ + " is damaged after entry " +
                          std::to_string(min_seq - 1) + ": " + std::to_string(out.dropped_bytes) +
                          " bytes dropped, a copy is kept in " + out.damaged_copy
                    : "journal " + path_ + " ended in a torn entry (a crash mid-write): " +
                          std::to_string(out.dropped_bytes) + " bytes dropped after entry " +
                          std::to_string(min_seq - 1);
  return entries;
}

// The applied mark; missing or unreadable means "nothing after the base".
// Replaying an entry twice is harmless (rows are upserts), losing one is not,
// so doubt always falls on the side of replaying.
result<void> journal::load_applied() {
  applied_fd_ = ::open(applied_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, private_file_mode);
  if (applied_fd_ < 0)
    return io_error("open", applied_path_);
  std::string in(applied_file_bytes, '\0');
  auto n = ::pread(applied_fd_, in.data(), in.size(), 0);
  std::uint64_t stored = 0;
  if (n == static_cast<ssize_t>(applied_file_bytes) && has_magic(in, applied_magic) &&
      crc_of(in, 0, applied_file_bytes - crc_bytes) == get_le32(in, 16))
    stored = get_le64(in, 8);
  applied_ = std::max(stored, base_seq_ - 1);
  return {};
}

result<void> journal::open_for_append() {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0)
    return io_error("open", path_);
  return {};
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

result<std::uint64_t> journal::append(const std::vector<std::string>& payloads) {
  if (broken_)
    return make_error("journal_broken",
                      "journal: " + path_ + " refuses writes after an earlier write failure");
  std::string bytes;
  auto seq = next_seq_;
  for (const auto& p : payloads) {
    if (p.empty() || p.size() > journal_max_entry_bytes)
      return make_error(
          "journal_entry_too_large",
          "journal: an entry of " + std::to_string(p.size()) + " bytes is empty or over the limit");
    append_entry(bytes, seq++, p);
  }
  if (payloads.empty())
    return next_seq_;

  if (auto ok = write_all(fd_, bytes, path_); !ok) {
    // Take the partial entry back out, or later entries would sit behind it
    // and be lost at the next scan.
    if (::ftruncate(fd_, static_cast<off_t>(file_bytes_)) != 0)
      broken_ = true;
    return ok.error();
  }
  if (::fdatasync(fd_) != 0) {
    // After a failed sync the kernel may have dropped the pages: nothing
    // written since the last good sync can be trusted.
    broken_ = true;
    return io_error("sync", path_);
  }

  auto first = next_seq_;
  for (auto s = first; s < seq; ++s)
    unapplied_seqs_.push_back(s);
  next_seq_ = seq;
  file_bytes_ += bytes.size();
  return first;
}

result<void> journal::mark_applied(std::uint64_t seq) {
  if (seq <= applied_)
    return {};
  if (seq > last_seq())
    return make_error("journal_bad_seq", "journal: cannot mark " + std::to_string(seq) +
                                             " applied, the last entry is " +
                                             std::to_string(last_seq()));
  auto bytes = applied_bytes(seq);
  auto n = ::pwrite(applied_fd_, bytes.data(), bytes.size(), 0);
  if (n != static_cast<ssize_t>(bytes.size()) || ::fdatasync(applied_fd_) != 0)
    return io_error("write", applied_path_);

  applied_ = seq;
  while (!unapplied_seqs_.empty() && unapplied_seqs_.front() <= seq)
    unapplied_seqs_.pop_front();
  return {};
}

result<void> journal::compact() {
  if (!unapplied_seqs_.empty())
    return make_error("journal_not_applied",
                      "journal: " + std::to_string(depth()) + " entries are not applied yet");
  if (broken_)
    return make_error("journal_broken", "journal: " + path_ + " is broken");

  // The new file starts where the old one ended, so sequences never repeat
  // and the applied mark stays true.
  if (auto ok = create_empty(next_seq_); !ok)
    return ok;
  ::close(fd_);
  fd_ = -1;
  return open_for_append();
}

}  // namespace ccrec::storage
