// data_dir_lock: one engine per data directory.
//
// Two engines on one data directory would each mark the other's live
// recordings interrupted, replay each other's journal and overwrite each
// other's status file. The engine takes an exclusive flock on
// <data_dir>/ccrec.lock for its lifetime and writes its pid into the file,
// so that a second one can name the holder when it refuses. The kernel drops
// the lock when the holder exits, however it exits (a crash, SIGKILL), so a
// stale file never blocks a restart.
//
// A lock object belongs to one thread at a time (engine start and stop).
#pragma once

#include <string>

#include "common/result.hpp"

namespace ccrec {

inline constexpr char data_dir_lock_name[] = "ccrec.lock";

class data_dir_lock {
 public:
  data_dir_lock() = default;
  ~data_dir_lock();
  data_dir_lock(data_dir_lock&& other) noexcept;
  data_dir_lock& operator=(data_dir_lock&& other) noexcept;
  data_dir_lock(const data_dir_lock&) = delete;
  data_dir_lock& operator=(const data_dir_lock&) = delete;

  // Locks `data_dir` (which must exist) without waiting. Fails with
  // "data_dir_in_use" naming the directory and the holder's pid when
  // another engine holds it, "data_dir_lock" when the file cannot be used.
  static result<data_dir_lock> acquire(const std::string& data_dir);

  bool held() const { return fd_ >= 0; }
  // Unlocks now (also done by the destructor). Idempotent.
  void release();

 private:
  explicit data_dir_lock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace ccrec
