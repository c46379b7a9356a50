// progress_bar: a one-line progress bar on standard error, drawn only when
// standard error is a terminal (a log file or a pipe gets the summary only).
// Main thread only.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace ccrec::app {

class progress_bar {
 public:
  explicit progress_bar(std::string what) : what_(std::move(what)), on_(::isatty(2) == 1) {}
  ~progress_bar() { done(); }

  // `done` of `total` items; `bytes_done` of `bytes_total` weighs the bar.
  void update(std::size_t done, std::size_t total, std::uint64_t bytes_done,
              std::uint64_t bytes_total) {
    if (!on_)
      return;
    const double share = bytes_total > 0 ? static_cast<double>(bytes_done) / bytes_total
                         : total > 0     ? static_cast<double>(done) / total
                                         : 1.0;
    const int filled = static_cast<int>(share * width);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, ' ');
    std::fprintf(stderr, "\r%s [%s] %zu/%zu %3d%%", what_.c_str(), bar.c_str(), done, total,
                 static_cast<int>(share * 100));
    std::fflush(stderr);
    drawn_ = true;
  }

  // Ends the line so that what follows starts on a fresh one.
  void done() {
    if (drawn_)
      std::fputc('\n', stderr);
    drawn_ = false;
  }

 private:
  static constexpr int width = 30;
  std::string what_;
  bool on_;
  bool drawn_ = false;
};

}  // namespace ccrec::app
