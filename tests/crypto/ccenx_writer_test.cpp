// The CCENX writer when the disk fails: a write that fails after N bytes,
// a sync that fails. The writer must report the error, refuse further use,
// and never report a file as finished that is not.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <functional>

#include "crypto/ccenx.hpp"
#include "tests/crypto/crypto_test_util.hpp"
#include "tests/support/temp_dir.hpp"

using namespace ccrec;
using namespace ccrec::test;
using crypto::ccenx_state;

namespace {

constexpr std::uint64_t key_id = 3;
constexpr std::uint32_t chunk = 32;

struct attempt {
  bool created = false;
  bool finished = false;
  std::string first_error;
  std::string later_error;  // what the writer said when used after failing
};

// Creates a writer on `sink`, appends 100 bytes in pieces with a flush,
// finishes; records the first error and how the writer behaves after it.
attempt write_through(std::unique_ptr<crypto::byte_sink> sink, const crypto::secret_bytes& master,
                      const bytes& plain) {
  attempt a;
  auto w = crypto::ccenx_writer::create(std::move(sink), key_id, master,
                                        crypto::ccenx_content::raw_call_audio, chunk);
  if (!w) {
    a.first_error = w.error().code;
    return a;
  }
  a.created = true;

  std::vector<std::function<result<void>()>> steps = {
      [&] { return (*w)->append(plain.data(), 40); },
      [&] { return (*w)->flush(true); },
      [&] { return (*w)->append(plain.data() + 40, 60); },
      [&] { return (*w)->finish(); },
  };
  for (auto& step : steps) {
    result<void> r = step();
    if (r)
      continue;
    a.first_error = r.error().code;
    result<void> again = (*w)->append(plain.data(), 1);
    a.later_error = again ? "" : again.error().code;
    result<void> fin = (*w)->finish();
    a.finished = fin.ok();
    return a;
  }
  a.finished = true;
  return a;
}

}  // namespace

TEST_CASE("A write that fails after N bytes is reported, never finished", "[ccenx][faults]") {
  keyring keys;
  const auto& master = keys.add(key_id, crypto::secret_bytes::random(crypto::key_bytes));
  const bytes plain = pattern(100, 21);

  // The size of the whole file when nothing fails.
  auto full = std::make_shared<bytes>();
  REQUIRE(write_through(std::make_unique<memory_sink>(full), master, plain).finished);

  for (std::size_t budget = 0; budget < full->size(); ++budget) {
    INFO("the disk fills after " << budget << " bytes");
    auto out = std::make_shared<bytes>();
    const attempt a = write_through(std::make_unique<memory_sink>(out, budget), master, plain);

    CHECK_FALSE(a.finished);
    CHECK(a.first_error == "io");
    if (a.created)
      CHECK(a.later_error == "writer_failed");
    CHECK(out->size() == budget);

    // What reached the disk is a clean prefix: never complete, and only
    // authenticated plaintext comes out.
    const decrypted d = decrypt_bytes(*out, keys.resolver());
    CHECK(d.report.state != ccenx_state::complete);
    CHECK((d.report.state == ccenx_state::truncated || d.report.state == ccenx_state::interrupted));
    CHECK(std::equal(d.plaintext.begin(), d.plaintext.end(), plain.begin()));
  }
}

TEST_CASE("A failing sync fails flush(true) and finish()", "[ccenx][faults]") {
  const crypto::secret_bytes master = crypto::secret_bytes::random(crypto::key_bytes);
  const bytes plain = pattern(10, 1);

  SECTION("finish") {
    auto out = std::make_shared<bytes>();
    auto w = crypto::ccenx_writer::create(std::make_unique<memory_sink>(out, SIZE_MAX, true),
                                          key_id, master, crypto::ccenx_content::metadata, chunk);
    REQUIRE(w.ok());
    REQUIRE((*w)->append(plain.data(), plain.size()).ok());
    REQUIRE((*w)->flush(false).ok());  // no sync asked, none attempted
    result<void> r = (*w)->finish();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "io");
    CHECK_THAT(r.error().message, Catch::Contains("fdatasync"));
    CHECK((*w)->finish().error().code == "writer_failed");
  }
  SECTION("flush with sync, even with nothing buffered") {
    auto out = std::make_shared<bytes>();
    auto w = crypto::ccenx_writer::create(std::make_unique<memory_sink>(out, SIZE_MAX, true),
                                          key_id, master, crypto::ccenx_content::metadata, chunk);
    REQUIRE(w.ok());
    result<void> r = (*w)->flush(true);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "io");
    CHECK((*w)->append(plain.data(), 1).error().code == "writer_failed");
  }
}

TEST_CASE("Writer syncs on finish and refuses use after it", "[ccenx]") {
  const crypto::secret_bytes master = crypto::secret_bytes::random(crypto::key_bytes);
  auto out = std::make_shared<bytes>();
  auto sink = std::make_unique<memory_sink>(out);
  memory_sink* probe = sink.get();
  auto w = crypto::ccenx_writer::create(std::move(sink), key_id, master,
                                        crypto::ccenx_content::metadata, chunk);
  REQUIRE(w.ok());
  const std::uint8_t byte = 1;
  REQUIRE((*w)->append(&byte, 1).ok());
  CHECK(probe->syncs() == 0);
  REQUIRE((*w)->flush(true).ok());
  CHECK(probe->syncs() == 1);
  CHECK((*w)->chunks_written() == 1);
  REQUIRE((*w)->finish().ok());
  CHECK(probe->syncs() == 2);
  CHECK((*w)->chunks_written() == 2);

  CHECK((*w)->append(&byte, 1).error().code == "writer_finished");
  CHECK((*w)->flush().error().code == "writer_finished");
  CHECK((*w)->finish().error().code == "writer_finished");
  CHECK((*w)->plaintext_bytes() == 1);
  CHECK((*w)->file_bytes() == out->size());
}

TEST_CASE("Writer creation refuses bad parameters", "[ccenx]") {
  const crypto::secret_bytes master = crypto::secret_bytes::random(crypto::key_bytes);
  auto make = [&](std::uint32_t chunk_size, const crypto::secret_bytes& key) {
    return crypto::ccenx_writer::create(std::make_unique<memory_sink>(std::make_shared<bytes>()), 1,
                                        key, crypto::ccenx_content::unspecified, chunk_size);
  };
  CHECK(make(0, master).error().code == "bad_chunk_size");
  CHECK(make(crypto::ccenx_max_chunk + 1, master).error().code == "bad_chunk_size");
  CHECK(make(16, crypto::secret_bytes::random(16)).error().code == "bad_key");
  CHECK(make(16, crypto::secret_bytes()).error().code == "bad_key");
  CHECK(crypto::ccenx_writer::create(nullptr, 1, master, crypto::ccenx_content::unspecified)
            .error()
            .code == "bad_sink");
}

TEST_CASE("open_file_sink creates exclusively with mode 0600", "[ccenx]") {
  temp_dir dir;
  const std::string path = dir.file("r.ccenx");
  {
    auto sink = crypto::open_file_sink(path);
    REQUIRE(sink.ok());
    const std::uint8_t data[3] = {1, 2, 3};
    REQUIRE((*sink)->write(data, sizeof(data)).ok());
    REQUIRE((*sink)->sync().ok());
  }
  CHECK(read_file(path) == bytes{1, 2, 3});
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto again = crypto::open_file_sink(path);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == "io");
  CHECK_THAT(again.error().message, Catch::Contains(path) && Catch::Contains("File exists"));
  CHECK(read_file(path) == bytes{1, 2, 3});  // untouched

  auto nodir = crypto::open_file_sink(dir.file("no/such/dir.ccenx"));
  REQUIRE_FALSE(nodir.ok());
  CHECK(nodir.error().code == "io");
}
