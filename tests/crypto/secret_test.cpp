// secret_bytes and initialise(): guarded, wiped, excluded from core dumps.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "crypto/secret.hpp"

using namespace ccrec;

namespace {

// The VmFlags line of the mapping in /proc/self/smaps that holds `p`.
std::string vm_flags_of(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  bool inside = false;
  std::string line;
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = addr >= lo && addr < hi;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0)
      return line + " ";
  }
  return "";
}

bool all_zero(const crypto::secret_bytes& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s.data()[i] != 0)
      return false;
  }
  return true;
}

}  // namespace

TEST_CASE("initialise succeeds on a CPU with AES-NI", "[secret]") {
  // The test machines have AES-NI and PCLMUL; without them the whole
  // engine refuses to run, with code "aes_unavailable".
  result<void> r = crypto::initialise();
  CHECK(r.ok());
  CHECK(crypto::initialise().ok());  // idempotent
}

TEST_CASE("secret_bytes sizes, copies and moves", "[secret]") {
  REQUIRE(crypto::initialise().ok());

  crypto::secret_bytes empty(0);
  CHECK(empty.empty());
  CHECK(empty.data() == nullptr);
  CHECK(crypto::secret_bytes::random(0).empty());

  crypto::secret_bytes zeros(64);
  CHECK(zeros.size() == 64);
  CHECK(all_zero(zeros));

  const crypto::secret_bytes a = crypto::secret_bytes::random(32);
  const crypto::secret_bytes b = crypto::secret_bytes::random(32);
  CHECK_FALSE(all_zero(a));
  CHECK(std::memcmp(a.data(), b.data(), 32) != 0);

  crypto::secret_bytes c = crypto::secret_bytes::copy_of(a.data(), a.size());
  CHECK(c.data() != a.data());
  CHECK(std::memcmp(c.data(), a.data(), 32) == 0);

  const std::uint8_t* where = c.data();
  crypto::secret_bytes d(std::move(c));
  CHECK(c.empty());
  CHECK(c.data() == nullptr);
  CHECK(d.data() == where);

  d = crypto::secret_bytes::random(16);
  CHECK(d.size() == 16);
  crypto::secret_bytes& alias = d;
  d = std::move(alias);  // self-move leaves it intact
  CHECK(d.size() == 16);
}

TEST_CASE("secret_bytes memory is excluded from core dumps", "[secret]") {
  REQUIRE(crypto::initialise().ok());
  const crypto::secret_bytes key = crypto::secret_bytes::random(crypto::key_bytes);
  const std::string flags = vm_flags_of(key.data());
  INFO(flags);
  REQUIRE_FALSE(flags.empty());
  CHECK(flags.find(" dd ") != std::string::npos);  // VM_DONTDUMP
}
