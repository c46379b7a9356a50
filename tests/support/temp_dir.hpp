// temp_dir: a fresh private directory for one test, removed afterwards.
#pragma once

#include <string>

namespace ccrec::test {

class temp_dir {
 public:
  temp_dir();  // under $TMPDIR or /tmp, mode 0700
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Directory of the shared captures (…/testdata/pcap/…).
inline std::string testdata_dir() {
  return CCREC_TESTDATA_DIR;
}

}  // namespace ccrec::test
