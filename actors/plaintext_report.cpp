#include "actors/plaintext_report.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "crypto/ccenx.hpp"

namespace ccrec {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t seconds_per_minute = 60;
constexpr std::int64_t seconds_per_hour = 3600;
constexpr std::int64_t seconds_per_day = 86400;

std::int64_t size_or_missing(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? -1 : static_cast<std::int64_t>(size);
}

std::int64_t mtime_ms(const std::string& path) {
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0)
    return 0;
  return static_cast<std::int64_t>(sb.st_mtim.tv_sec) * 1000 + sb.st_mtim.tv_nsec / 1000000;
}

// In the clear: there, and not CCENX.
bool plain_on_disk(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && !crypto::has_ccenx_magic(path);
}

}  // namespace

std::string format_age(std::int64_t s) {
  char buf[32];
  if (s >= seconds_per_day)
    std::snprintf(buf, sizeof buf, "%lldd %02lldh", static_cast<long long>(s / seconds_per_day),
                  static_cast<long long>(s % seconds_per_day / seconds_per_hour));
  else if (s >= seconds_per_hour)
    std::snprintf(buf, sizeof buf, "%lldh %02lldm", static_cast<long long>(s / seconds_per_hour),
                  static_cast<long long>(s % seconds_per_hour / seconds_per_minute));
  else if (s >= seconds_per_minute)
    std::snprintf(buf, sizeof buf, "%lldm %02llds", static_cast<long long>(s / seconds_per_minute),
                  static_cast<long long>(s % seconds_per_minute));
  else
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(std::max<std::int64_t>(s, 0)));
  return buf;
}

result<plaintext_listing> list_plaintext(storage::database& db, const std::string& recordings_dir,
                                         std::int64_t now_ms) {
  auto rows = db.recordings();
  if (!rows)
    return rows.error();

  plaintext_listing out;
  std::set<std::string> named;  // paths some row names, now or as replaced
  auto add = [&](const storage::recording_row& r, const std::string& path,
                 const std::string& state) {
    plaintext_item item;
    item.path = path;
    item.recording_id = r.id;
    item.state = state;
    item.method = r.method;
    item.since_ms = r.started_ms;
    item.bytes = size_or_missing(recordings_dir + "/" + path);
    out.items.push_back(item);
  };
  for (const auto& r : *rows) {
    named.insert(r.path);
    if (!r.replaced_path.empty())
      named.insert(r.replaced_path);
    if (r.form == "plain_wav")
      add(r, r.path, r.status == "recording" ? "recording" : "pending");
    else if (r.encryption == "none" && plain_on_disk(recordings_dir + "/" + r.path))
      add(r, r.path, "unencrypted");
    if (!r.replaced_path.empty() && plain_on_disk(recordings_dir + "/" + r.replaced_path))
      add(r, r.replaced_path, "replaced");
  }

  // Files in the spool that no row names: a crash before the first row was
  // written, or a file put there by hand.
  const fs::path spool = fs::path{recordings_dir} / storage::plaintext_spool_dir;
  std::error_code ec;
  for (fs::recursive_directory_iterator it{spool, ec}, end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec))
      continue;
    auto rel = fs::relative(it->path(), recordings_dir, ec).string();
    if (named.count(rel) != 0 || !plain_on_disk(it->path().string()))
      continue;
    plaintext_item item;
    item.path = rel;
    item.state = "orphan";
    item.since_ms = mtime_ms(it->path().string());
    item.bytes = size_or_missing(it->path().string());
    out.items.push_back(item);
  }

  for (auto& item : out.items) {
    item.age_seconds = std::max<std::int64_t>(0, (now_ms - item.since_ms) / 1000);
    out.oldest_age_seconds = std::max(out.oldest_age_seconds, item.age_seconds);
    out.total_bytes += std::max<std::int64_t>(0, item.bytes);
  }
  std::stable_sort(
      out.items.begin(), out.items.end(),
      [](const plaintext_item& a, const plaintext_item& b) { return a.since_ms < b.since_ms; });
  return out;
}

}  // namespace ccrec
