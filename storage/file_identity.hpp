// file_identity: which file a path leads to (device and inode), to tell
// later whether the file at that path was deleted or replaced. A SQLite
// session keeps writing into a file deleted under it, where every row is
// lost; the database layer and the engine's watchdog both look with this.
//
// Any thread: it only calls stat(2).
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>

namespace ccrec::storage {

enum class file_change { same, deleted, replaced };

struct file_identity {
  dev_t dev = 0;
  ino_t ino = 0;

  // The file at `path` now, or nullopt when there is none.
  static std::optional<file_identity> of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
      return std::nullopt;
    return file_identity{st.st_dev, st.st_ino};
  }

  // Whether `path` still leads to this file.
  file_change at(const std::string& path) const {
    auto now = of(path);
    if (!now)
      return file_change::deleted;
    return now->dev == dev && now->ino == ino ? file_change::same : file_change::replaced;
  }
};

}  // namespace ccrec::storage
