#include "apps/ccrec/status_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace ccrec::app {

namespace {

constexpr mode_t kStatusFileMode = 0600;

error write_failure(const std::string& what, const std::string& path) {
  return make_error("status_file", "cannot " + what + " " + path + ": " + std::strerror(errno) +
                                       "; the previous status file is kept");
}

// Writes `text` to `path` and makes it durable; any failure (a full disk
// shows at write, fsync or close) is reported, never a short file.
result<void> write_whole_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kStatusFileMode);
  if (fd < 0)
    return write_failure("create", path);
  std::size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      auto failure = write_failure("write", path);
      ::close(fd);
      return failure;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto failure = write_failure("sync", path);
    ::close(fd);
    return failure;
  }
  if (::close(fd) != 0)
    return write_failure("close", path);
  return {};
}

}  // namespace

std::string status_file_path(const std::string& data_dir) {
  return data_dir + "/" + status_file_name;
}

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

nlohmann::json status_json(const serve_facts& facts, const engine_status& s, std::int64_t now_ms) {
  return {
      {"format", "ccrec-status"},
      {"version", status_file_version},
      {"pid", facts.pid},
      {"state", facts.state},
      {"started_ms", facts.started_ms},
      {"updated_ms", now_ms},
      {"encryption", facts.encryption},
      {"database",
       {{"backend", facts.db_backend},
        {"up", s.db_up},
        {"reason", s.db_reason},
        {"since_ms", s.db_since_ms},
        {"stuck_calls", s.db_stuck_calls}}},
      {"journal",
       {{"depth", s.metadata_pending},
        {"bytes", s.journal_bytes},
        {"ok", s.journal_ok},
        {"written", s.metadata_written},
        {"replayed", s.metadata_replayed},
        {"last_error", s.metadata_error}}},
      {"keys", {{"loaded", s.keys_loaded}, {"active_key_id", s.active_key_id}}},
      {"recordings",
       {{"active", s.active_recordings},
        {"calls", s.active_calls},
        {"started", s.recordings_started},
        {"failed", s.recordings_failed}}},
      {"cti",
       {{"endpoint", facts.cti_endpoint},
        {"received", s.cti_received},
        {"events", s.cti_events},
        {"rejected", s.cti_rejected}}},
      {"media",
       {{"packets", s.media.packets},
        {"invalid", s.media.invalid},
        {"late", s.media.late},
        {"duplicates", s.media.duplicates},
        {"foreign_ssrc", s.media.foreign_ssrc},
        {"after_end", s.media.after_end},
        {"open_ports", s.media.open_ports}}},
  };
}

result<void> write_status_file(const std::string& data_dir, const nlohmann::json& status) {
  auto path = status_file_path(data_dir);
  auto tmp = path + ".tmp";
  // Only a complete, synced file replaces the old one: renaming a file the
  // full disk cut short would leave `ccrec status` nothing to read.
  if (auto ok = write_whole_file(tmp, status.dump(2) + "\n"); !ok)
    return ok;
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return write_failure("rename " + tmp + " to", path);
  return {};
}

}  // namespace ccrec::app
