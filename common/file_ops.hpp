// file_ops: the few POSIX file steps that every "write a temp, rename it,
// sync the directory" path in ccrec takes, with the errors worded one way.
//
// Each failure is an error value with code "io" and a message naming the
// step, the path and errno's text ("cannot sync directory /x: No space left
// on device"); a layer with its own code rewraps it. Free functions without
// state: any thread may call them. Header-only, as all of common/ is.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/result.hpp"

namespace ccrec::file_ops {

// The error for a failed system call on `path`, read from errno: call it
// right after the call that failed, before anything else can change errno.
inline error io_error(const std::string& what, const std::string& path) {
  return make_error("io", what + " " + path + ": " + std::strerror(errno));
}

// Makes a rename or unlink in `dir` durable: until its directory is synced,
// a crash may bring the old name back.
inline result<void> sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return io_error("cannot open directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0)
    return io_error("cannot sync directory", dir);
  return {};
}

// Removes `path`; a file that is already gone is not an error.
inline result<void> remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return io_error("cannot remove", path);
  return {};
}

}  // namespace ccrec::file_ops
