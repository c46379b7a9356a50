#include "simulators/load_probe.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace ccrec::pbxsim {
namespace {

constexpr std::size_t stat_utime_field = 14;  // 1-based, after the command name
constexpr std::size_t stat_stime_field = 15;
constexpr std::uint64_t bytes_per_kib = 1024;

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return {};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "VmRSS:	  123456 kB" -> bytes; 0 when the key is missing.
std::uint64_t status_kib(const std::string& status, const char* key) {
  auto at = status.find(key);
  if (at == std::string::npos)
    return 0;
  return std::strtoull(status.c_str() + at + std::strlen(key), nullptr, 10) * bytes_per_kib;
}

}  // namespace

proc_sample read_proc_sample(pid_t pid) {
  proc_sample s;
  const std::string base = "/proc/" + std::to_string(pid);
  const std::string stat = read_file(base + "/stat");
  // The command name is in parentheses and may hold spaces: fields are
  // counted from the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos)
    return s;

  std::istringstream fields{stat.substr(close + 2)};
  std::string field;
  std::uint64_t utime = 0;
  std::uint64_t stime = 0;
  for (std::size_t n = 3; fields >> field; ++n) {
    if (n == stat_utime_field)
      utime = std::stoull(field);
    if (n == stat_stime_field) {
      stime = std::stoull(field);
      break;
    }
  }
  const auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.cpu_seconds = static_cast<double>(utime + stime) / ticks;

  const std::string status = read_file(base + "/status");
  s.rss_bytes = status_kib(status, "VmRSS:");
  s.hwm_bytes = status_kib(status, "VmHWM:");
  s.ok = s.rss_bytes > 0;
  return s;
}

double load_average_1m() {
  double one = -1.0;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &one) != 1)
      one = -1.0;
    std::fclose(f);
  }
  return one;
}

void port_set::mark(std::uint16_t port) {
  bits_[port / 64].fetch_or(std::uint64_t{1} << (port % 64), std::memory_order_relaxed);
}

bool port_set::contains(std::uint16_t port) const {
  return (bits_[port / 64].load(std::memory_order_relaxed) >> (port % 64)) & 1u;
}

std::uint64_t udp_drop_counter::poll() {
  std::ifstream in{"/proc/net/udp"};
  std::string line;
  std::getline(in, line);  // column titles

  std::uint64_t increase = 0;
  std::uint64_t queued = 0;
  // Rebuilt on every poll, so closed sockets are forgotten.
  std::unordered_map<std::uint64_t, std::uint64_t> now_by_inode;
  while (std::getline(in, line)) {
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    unsigned local_ip = 0;
    unsigned local_port = 0;
    unsigned tx_queue = 0;
    unsigned rx_queue = 0;
    unsigned long long inode = 0;
    unsigned long long drops = 0;
    const int got = std::sscanf(
        line.c_str(), " %*u: %x:%x %*x:%*x %*x %x:%x %*x:%*x %*x %*u %*u %llu %*u %*s %llu",
        &local_ip, &local_port, &tx_queue, &rx_queue, &inode, &drops);
    if (got != 6 || local_port > 65535 || !ports_.contains(static_cast<std::uint16_t>(local_port)))
      continue;

    queued += rx_queue;
    const auto before = drops_by_inode_.find(inode);
    const std::uint64_t seen = before == drops_by_inode_.end() ? 0 : before->second;
    if (drops > seen)
      increase += drops - seen;
    now_by_inode[inode] = drops;
  }
  drops_by_inode_.swap(now_by_inode);
  queued_bytes_ = queued;
  return increase;
}

std::uint64_t directory_bytes(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::uint64_t total = 0;
  for (fs::recursive_directory_iterator it{dir, ec}, end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec)
        total += size;
    }
  }
  return total;
}

}  // namespace ccrec::pbxsim
