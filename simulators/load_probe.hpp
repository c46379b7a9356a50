// load_probe: what a load run reads about the engine from outside it.
//
// The engine is another process (or the same one, in the benchmark); the
// load generator learns its CPU time and memory from /proc/<pid>/stat and
// /proc/<pid>/status, the datagrams the kernel dropped at its media sockets
// from /proc/net/udp (per socket "drops": the socket's receive buffer was
// full because the engine did not read fast enough), and the bytes it wrote
// by summing file sizes under its data directory. Linux only. Plain
// functions and small classes; each object is used by one thread, except
// port_set, which any thread may mark and read.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace ccrec::pbxsim {

// CPU time and memory of a process at one moment.
struct proc_sample {
  bool ok = false;              // false: the process is gone or unreadable
  double cpu_seconds = 0.0;     // user + system, all threads
  std::uint64_t rss_bytes = 0;  // VmRSS
  std::uint64_t hwm_bytes = 0;  // VmHWM: peak resident set so far
};

proc_sample read_proc_sample(pid_t pid);

// The system's 1-minute load average, or -1 when unreadable.
double load_average_1m();

// Ports the engine handed out during the run; marked by the CTI side,
// read by the drop counter.
class port_set {
 public:
  void mark(std::uint16_t port);
  bool contains(std::uint16_t port) const;

 private:
  static constexpr std::size_t words = 65536 / 64;
  std::array<std::atomic<std::uint64_t>, words> bits_{};
};

// Sums, over UDP sockets on ports of a port_set, the kernel's per-socket
// drop counters. Sockets come and go (one per leg per recording), so it
// remembers each socket (by inode) and counts increases; drops on a socket
// that closed between two polls are missed, which makes this a live view
// only: the run's final loss comes from the engine's database.
class udp_drop_counter {
 public:
  explicit udp_drop_counter(const port_set& ports) : ports_(ports) {}
  // Reads /proc/net/udp and returns the drops seen since the last poll.
  std::uint64_t poll();
  // Bytes queued, unread, in the watched sockets at the last poll.
  std::uint64_t queued_bytes() const { return queued_bytes_; }

 private:
  const port_set& ports_;
  std::unordered_map<std::uint64_t, std::uint64_t> drops_by_inode_;
  std::uint64_t queued_bytes_ = 0;
};

// Total size of the regular files under `dir` (0 when it does not exist).
std::uint64_t directory_bytes(const std::string& dir);

}  // namespace ccrec::pbxsim
