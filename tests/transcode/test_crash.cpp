// Kill tests: a child process runs the transcoder or encrypt-existing and is
// killed with SIGKILL, either exactly after step k (the step hook kills its
// own process) or after a random delay; then the files and rows are
// checked, a rerun finishes the job, and the files are counted before and
// after. Nothing may ever be lost: each recording is its original or a
// verified replacement, never neither.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include <catch2/catch.hpp>

#include "actors/encrypt_existing.hpp"
#include "actors/transcoder.hpp"
#include "crypto/ccenx.hpp"
#include "tests/transcode/fixture.hpp"

namespace {

using namespace ccrec;
using namespace ccrec::test;
namespace fs = std::filesystem;

constexpr int recordings_per_run = 4;
constexpr int random_kills = 12;
constexpr std::uint64_t kill_seed = 20261204;

// Runs `work` in a child process; returns true when the child was killed.
template <class Work>
bool run_child(Work work, std::chrono::microseconds kill_after = std::chrono::microseconds{0}) {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    work();
    ::_exit(0);
  }
  if (kill_after.count() > 0) {
    std::this_thread::sleep_for(kill_after);
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  if (WIFEXITED(status))
    REQUIRE(WEXITSTATUS(status) == 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

// How long `work` takes.
template <class Work>
std::chrono::microseconds time_of(Work work) {
  auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

[[noreturn]] void die() {
  ::kill(::getpid(), SIGKILL);
  for (;;)
    ::pause();
}

// --- transcoder ---------------------------------------------------------------

struct transcode_world {
  data_fixture f;
  std::map<std::string, std::vector<std::uint8_t>> expected_wav;  // id -> played audio
  std::map<std::string, std::vector<std::uint8_t>> original;      // id -> raw file bytes

  transcode_world() {
    for (int i = 0; i < recordings_per_run; ++i) {
      auto id = "rec-" + std::to_string(i);
      auto row = i % 2 == 0 ? f.add_raw(id, synthetic_stream(100 + i, 6 + i, 3))
                            : f.add_raw(id, stream_from_capture("call1_pcma.pcap"));
      expected_wav[id] = play_bytes(f.abs(row.path), f.ring(), f.data_dir());
      original[id] = read_file(f.abs(row.path));
    }
  }

  // Every recording is its raw original or a verified compressed file the
  // row points at; nothing else of ours but temp files may be there.
  void check_nothing_lost() {
    for (const auto& [id, wav] : expected_wav) {
      auto row = f.db().recording(id);
      REQUIRE(row.ok());
      REQUIRE(row->has_value());
      const auto& r = **row;
      INFO(id << " form " << r.form << " path " << r.path);
      REQUIRE(fs::exists(f.abs(r.path)));
      if (r.form == "raw") {
        CHECK(read_file(f.abs(r.path)) == original[id]);
      } else {
        REQUIRE(r.form == "compressed");
        REQUIRE(check_compressed(f.abs(r.path), f.keys()).ok());
        CHECK(play_bytes(f.abs(r.path), f.ring(), f.data_dir()) == wav);
      }
    }
  }

  void run_to_end() {
    auto db = storage::database::open(f.db_uri());
    REQUIRE(db.ok());
    transcode_options opts;
    opts.recordings_dir = f.recordings_dir();
    auto done = transcode_backlog(**db, f.keys(), opts);
    REQUIRE(done.ok());
    CHECK(done->failed.empty());
  }

  void check_finished() {
    check_nothing_lost();
    auto files = list_files(f.recordings_dir());
    CHECK(files.size() == expected_wav.size());  // as many files as before
    for (const auto& file : files)
      CHECK(file.size() > std::string{".flac.ccenx"}.size());
    for (const auto& [id, wav] : expected_wav) {
      auto r = **f.db().recording(id);
      CHECK(r.form == "compressed");
      CHECK(r.replaced_path.empty());
      CHECK(fs::path{r.path}.filename() == id + ".flac.ccenx");
    }
  }
};

void transcode_in_child(const transcode_world& w, int kill_recording, int kill_step) {
  auto db = storage::database::open(w.f.db_uri());
  if (!db)
    ::_exit(3);
  transcode_options opts;
  opts.recordings_dir = w.f.recordings_dir();
  int seen = -1;
  std::string current;
  opts.after_step = [&](const std::string& id, transcode_step step) {
    if (id != current) {
      current = id;
      ++seen;
    }
    if (seen == kill_recording && static_cast<int>(step) == kill_step)
      die();
  };
  auto done = transcode_backlog(**db, w.f.keys(), opts);
  ::_exit(done.ok() && done->failed.empty() ? 0 : 4);
}

TEST_CASE("transcoder killed after every step of a recording loses nothing, a rerun finishes",
          "[transcode][crash]") {
  for (int step = 1; step <= transcode_step_count; ++step) {
    for (int victim : {0, recordings_per_run - 1}) {
      transcode_world w;
      auto before = list_files(w.f.recordings_dir());
      REQUIRE(before.size() == recordings_per_run);
      INFO("killed after step " << step << " of recording " << victim);

      bool killed = run_child([&] { transcode_in_child(w, victim, step); });
      CHECK(killed);
      w.check_nothing_lost();
      // Recordings before the victim are done; the victim is raw or compressed.
      auto waiting = w.f.db().recordings_to_transcode();
      REQUIRE(waiting.ok());
      const int expected_left = recordings_per_run - victim - (step >= 4 ? 1 : 0);
      CHECK(static_cast<int>(waiting->size()) == expected_left);

      w.run_to_end();
      w.check_finished();
    }
  }
}

TEST_CASE("transcoder killed at random moments loses nothing, a rerun finishes",
          "[transcode][crash]") {
  // Kill points spread over the time a whole run takes here.
  transcode_world cal;
  auto full = time_of([&] { cal.run_to_end(); });
  std::mt19937_64 rng{kill_seed};
  std::uniform_int_distribution<long> delay_us{0, full.count() / 2};
  transcode_world w;
  auto before = list_files(w.f.recordings_dir());
  int kills = 0;
  for (int round = 0; round < random_kills; ++round) {
    auto after = std::chrono::microseconds{1 + delay_us(rng)};
    kills += run_child([&] { transcode_in_child(w, -1, 0); }, after) ? 1 : 0;
    w.check_nothing_lost();
  }
  std::cout << "[crash] transcoder: " << kills << " of " << random_kills
            << " runs killed at random moments\n";
  CHECK(kills > 0);
  w.run_to_end();
  w.check_finished();
  CHECK(list_files(w.f.recordings_dir()).size() == before.size());
}

// --- encrypt-existing -------------------------------------------------------------

struct legacy_world {
  data_fixture f;
  std::string dir;
  std::map<std::string, std::vector<std::uint8_t>> original;  // path -> plaintext
  std::string text_file;

  legacy_world() : dir(f.recordings_dir() + "/legacy") {
    fs::create_directories(dir + "/2019/03");
    auto put = [&](const std::string& rel, const std::vector<std::uint8_t>& bytes) {
      write_file(dir + "/" + rel, bytes);
      original[dir + "/" + rel] = bytes;
    };
    put("2019/03/a.raw", synthetic_stream(1, 3, 1));
    put("2019/03/b.raw", stream_from_capture("call1_pcmu.pcap"));
    std::vector<std::uint8_t> wav = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'A', 'V', 'E'};
    for (int i = 0; i < 150000; ++i)
      wav.push_back(static_cast<std::uint8_t>(i * 7));
    put("c.wav", wav);
    put("2019/d.raw", synthetic_stream(2, 1, 1));
    text_file = dir + "/notes.txt";
    write_file(text_file, {'h', 'e', 'l', 'l', 'o'});

    // Rows for two of them, as the engine wrote them with encryption off.
    for (const auto& [id, rel] :
         {std::pair{"leg-a", "legacy/2019/03/a.raw"}, std::pair{"leg-c", "legacy/c.wav"}}) {
      storage::recording_row row;
      row.id = id;
      row.call_id = std::string{"call-"} + id;
      row.kind = "audio";
      row.path = rel;
      row.encryption = "none";
      row.status = "complete";
      row.started_ms = 1552000000000;
      REQUIRE(f.db().upsert_recording(row).ok());
    }
  }

  std::vector<std::uint8_t> plaintext_of(const std::string& path) {
    if (!crypto::has_ccenx_magic(path))
      return read_file(path);
    std::vector<std::uint8_t> out;
    auto report = crypto::read_ccenx(
        path, f.ring().resolver(),
        [&](const std::uint8_t* d, std::size_t n) { out.insert(out.end(), d, d + n); });
    REQUIRE(report.state == crypto::ccenx_state::complete);
    return out;
  }

  void check_nothing_lost() {
    for (const auto& [path, bytes] : original) {
      INFO(path);
      REQUIRE(fs::exists(path));
      CHECK(plaintext_of(path) == bytes);
    }
    CHECK(read_file(text_file) == std::vector<std::uint8_t>{'h', 'e', 'l', 'l', 'o'});
  }

  encrypt_existing_options options() {
    encrypt_existing_options opts;
    opts.dir = dir;
    opts.recordings_dir = f.recordings_dir();
    return opts;
  }

  void run_to_end() {
    auto db = storage::database::open(f.db_uri());
    REQUIRE(db.ok());
    auto done = encrypt_existing(db->get(), f.keys(), options());
    REQUIRE(done.ok());
    CHECK(done->failed.empty());
  }

  void check_finished() {
    check_nothing_lost();
    for (const auto& [path, bytes] : original)
      CHECK(crypto::has_ccenx_magic(path));
    CHECK_FALSE(crypto::has_ccenx_magic(text_file));
    for (const auto& file : list_files(dir))
      CHECK(file.find(encrypt_temp_suffix) == std::string::npos);
    auto a = **f.db().recording("leg-a");
    CHECK(a.encryption == "ccenx");
    CHECK(a.key_id == f.ring().active_id);
    CHECK(a.form == "raw");
    CHECK(a.path == "legacy/2019/03/a.raw");
    CHECK(a.bytes == static_cast<std::int64_t>(fs::file_size(dir + "/2019/03/a.raw")));
    auto c = **f.db().recording("leg-c");
    CHECK(c.encryption == "ccenx");
    CHECK(c.form == "wav");
  }
};

void encrypt_in_child(legacy_world& w, int kill_file, int kill_step) {
  auto db = storage::database::open(w.f.db_uri());
  if (!db)
    ::_exit(3);
  auto opts = w.options();
  int seen = -1;
  std::string current;
  opts.after_step = [&](const std::string& path, encrypt_step step) {
    if (path != current) {
      current = path;
      ++seen;
    }
    if (seen == kill_file && static_cast<int>(step) == kill_step)
      die();
  };
  auto done = encrypt_existing(db->get(), w.f.keys(), opts);
  ::_exit(done.ok() && done->failed.empty() ? 0 : 4);
}

TEST_CASE("encrypt-existing killed after every step loses nothing, a rerun finishes",
          "[encrypt_existing][crash]") {
  for (int step = 1; step <= encrypt_step_count; ++step) {
    for (int victim : {0, 3}) {
      legacy_world w;
      const auto before = list_files(w.dir).size();
      INFO("killed after step " << step << " of file " << victim);
      CHECK(run_child([&] { encrypt_in_child(w, victim, step); }));
      w.check_nothing_lost();
      w.run_to_end();
      w.check_finished();
      CHECK(list_files(w.dir).size() == before);
    }
  }
}

TEST_CASE("encrypt-existing killed at random moments loses nothing, a rerun finishes",
          "[encrypt_existing][crash]") {
  legacy_world cal;
  auto full = time_of([&] { cal.run_to_end(); });
  std::mt19937_64 rng{kill_seed + 1};
  std::uniform_int_distribution<long> delay_us{0, full.count() / 2};
  legacy_world w;
  const auto before = list_files(w.dir).size();
  int kills = 0;
  for (int round = 0; round < random_kills; ++round) {
    auto after = std::chrono::microseconds{1 + delay_us(rng)};
    kills += run_child([&] { encrypt_in_child(w, -1, 0); }, after) ? 1 : 0;
    w.check_nothing_lost();
  }
  std::cout << "[crash] encrypt-existing: " << kills << " of " << random_kills
            << " runs killed at random moments\n";
  CHECK(kills > 0);
  w.run_to_end();
  w.check_finished();
  CHECK(list_files(w.dir).size() == before);
}

}  // namespace
