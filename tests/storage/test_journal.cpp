// The metadata journal (storage/journal.hpp): entries come back in order
// after a reopen, a torn tail is dropped, damage inside the file is kept
// aside, the applied mark makes replay exactly-once, and compaction never
// reuses a sequence number. Real files in a temp dir; the exactly-once test
// replays into a real SQLite database.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "storage/database.hpp"
#include "storage/journal.hpp"
#include "tests/support/temp_dir.hpp"

using namespace ccrec;
using namespace ccrec::storage;
using ccrec::test::temp_dir;

namespace {

std::unique_ptr<journal> open_journal(const std::string& dir, journal_recovery* rec = nullptr) {
  journal_recovery ignored;
  auto j = journal::open(dir, rec != nullptr ? rec : &ignored);
  INFO((j.ok() ? std::string{} : j.error().code + ": " + j.error().message));
  REQUIRE(j.ok());
  return std::move(*j);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << bytes;
}

std::vector<std::string> payloads_of(const std::vector<journal_entry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries)
    out.push_back(e.payload);
  return out;
}

std::vector<std::uint64_t> seqs_of(const std::vector<journal_entry>& entries) {
  std::vector<std::uint64_t> out;
  for (const auto& e : entries)
    out.push_back(e.seq);
  return out;
}

std::uint64_t entry_bytes(const std::string& payload) {
  return journal_entry_overhead + payload.size();
}

std::string jnl(const temp_dir& dir) {
  return dir.file("journal/metadata.jnl");
}

}  // namespace

TEST_CASE("crc32 matches the IEEE check value", "[journal]") {
  const std::string check = "123456789";
  CHECK(crc32(reinterpret_cast<const std::uint8_t*>(check.data()), check.size()) == 0xCBF43926u);
  CHECK(crc32(nullptr, 0) == 0u);
  // Continuing a CRC over a split input gives the CRC of the whole.
  auto first = crc32(reinterpret_cast<const std::uint8_t*>(check.data()), 4);
  CHECK(crc32(reinterpret_cast<const std::uint8_t*>(check.data()) + 4, 5, first) == 0xCBF43926u);
}

TEST_CASE("a new journal is empty and private", "[journal]") {
  temp_dir dir;
  journal_recovery rec;
  auto j = open_journal(dir.file("journal"), &rec);

  CHECK(rec.pending.empty());
  CHECK(rec.applied == 0);
  CHECK(rec.entries == 0);
  CHECK_FALSE(rec.torn);
  CHECK(j->depth() == 0);
  CHECK(j->last_seq() == 0);
  CHECK(j->file_bytes() == journal_header_bytes);
  CHECK(std::filesystem::file_size(jnl(dir)) == journal_header_bytes);
  auto perms = std::filesystem::status(dir.file("journal")).permissions();
  CHECK((perms & std::filesystem::perms::others_all) == std::filesystem::perms::none);
  CHECK((perms & std::filesystem::perms::group_all) == std::filesystem::perms::none);
}

TEST_CASE("entries come back in order after a reopen", "[journal]") {
  temp_dir dir;
  const std::vector<std::string> first = {"call c-1 offered", "call c-1 answered"};
  const std::vector<std::string> second = {"recording r-1 recording", "recording r-1 complete",
                                           "call c-1 ended"};
  {
    auto j = open_journal(dir.file("journal"));
    auto s1 = j->append(first);
    REQUIRE(s1.ok());
    CHECK(*s1 == 1);
    auto s2 = j->append(second);
    REQUIRE(s2.ok());
    CHECK(*s2 == 3);
    CHECK(j->last_seq() == 5);
    CHECK(j->depth() == 5);
  }

  journal_recovery rec;
  auto j = open_journal(dir.file("journal"), &rec);
  std::vector<std::string> all = first;
  all.insert(all.end(), second.begin(), second.end());
  CHECK(payloads_of(rec.pending) == all);
  CHECK(seqs_of(rec.pending) == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  CHECK(rec.entries == 5);
  CHECK(rec.applied == 0);
  CHECK(j->depth() == 5);

  std::uint64_t expected_size = journal_header_bytes;
  for (const auto& p : all)
    expected_size += entry_bytes(p);
  CHECK(std::filesystem::file_size(jnl(dir)) == expected_size);
  CHECK(j->file_bytes() == expected_size);

  // New entries continue the sequence.
  auto s3 = j->append({"call c-2 offered"});
  REQUIRE(s3.ok());
  CHECK(*s3 == 6);
}

TEST_CASE("the applied mark hides entries already in the database", "[journal]") {
  temp_dir dir;
  {
    auto j = open_journal(dir.file("journal"));
    REQUIRE(j->append({"a", "b", "c", "d"}).ok());
    REQUIRE(j->mark_applied(2).ok());
    CHECK(j->applied() == 2);
    CHECK(j->depth() == 2);
    // Marks only move forward.
    REQUIRE(j->mark_applied(1).ok());
    CHECK(j->applied() == 2);
    auto beyond = j->mark_applied(5);
    REQUIRE_FALSE(beyond.ok());
    CHECK(beyond.error().code == "journal_bad_seq");
  }

  journal_recovery rec;
  auto j = open_journal(dir.file("journal"), &rec);
  CHECK(rec.applied == 2);
  CHECK(rec.entries == 4);
  CHECK(payloads_of(rec.pending) == std::vector<std::string>{"c", "d"});
  CHECK(seqs_of(rec.pending) == std::vector<std::uint64_t>{3, 4});
  CHECK(j->depth() == 2);
}

TEST_CASE("a torn last entry is dropped with a warning", "[journal]") {
  temp_dir dir;
  const std::string third = "the third entry, cut short by a crash";
  {
    auto j = open_journal(dir.file("journal"));
    REQUIRE(j->append({"one", "two", third}).ok());
  }
  auto whole = read_bytes(jnl(dir));
  const std::size_t cut = 5;

  SECTION("cut inside the last entry") {
    write_bytes(jnl(dir), whole.substr(0, whole.size() - cut));
    journal_recovery rec;
    auto j = open_journal(dir.file("journal"), &rec);
    CHECK(rec.torn);
    CHECK_FALSE(rec.damaged);
    CHECK(rec.dropped_bytes == entry_bytes(third) - cut);
    CHECK(payloads_of(rec.pending) == std::vector<std::string>{"one", "two"});
    CHECK_THAT(rec.warning, Catch::Contains("torn entry") && Catch::Contains("after entry 2"));
    auto good = journal_header_bytes + entry_bytes("one") + entry_bytes("two");
    CHECK(std::filesystem::file_size(jnl(dir)) == good);

    // The lost entry was never accepted, so its number is free again.
    auto seq = j->append({"three again"});
    REQUIRE(seq.ok());
    CHECK(*seq == 3);
    j.reset();
    journal_recovery again;
    open_journal(dir.file("journal"), &again);
    CHECK_FALSE(again.torn);
    CHECK(payloads_of(again.pending) == std::vector<std::string>{"one", "two", "three again"});
  }

  SECTION("only part of a length prefix") {
    write_bytes(jnl(dir), whole + std::string("\x07\x00\x00", 3));
    journal_recovery rec;
    open_journal(dir.file("journal"), &rec);
    CHECK(rec.torn);
    CHECK(rec.dropped_bytes == 3);
    CHECK(payloads_of(rec.pending) == std::vector<std::string>{"one", "two", third});
  }

  SECTION("a zero-filled tail, as a file system may leave after a crash") {
    write_bytes(jnl(dir), whole + std::string(4096, '\0'));
    journal_recovery rec;
    open_journal(dir.file("journal"), &rec);
    CHECK(rec.torn);
    CHECK_FALSE(rec.damaged);
    CHECK(rec.dropped_bytes == 4096);
    CHECK(rec.pending.size() == 3);
    CHECK(std::filesystem::file_size(jnl(dir)) == whole.size());
  }
}

TEST_CASE("damage inside the journal keeps a copy and the entries before it", "[journal]") {
  temp_dir dir;
  {
    auto j = open_journal(dir.file("journal"));
    REQUIRE(j->append({"first", "second", "third"}).ok());
  }
  auto whole = read_bytes(jnl(dir));
  // Flip one payload byte of the second entry: its CRC fails, and a valid
  // entry follows it, so this is not a torn tail.
  auto second_payload_at = journal_header_bytes + entry_bytes("first") + 12;
  auto damaged = whole;
  damaged[second_payload_at] ^= 0x01;
  write_bytes(jnl(dir), damaged);

  journal_recovery rec;
  open_journal(dir.file("journal"), &rec);
  CHECK(rec.damaged);
  CHECK_FALSE(rec.torn);
  CHECK(payloads_of(rec.pending) == std::vector<std::string>{"first"});
  CHECK(rec.dropped_bytes == entry_bytes("second") + entry_bytes("third"));
  REQUIRE_FALSE(rec.damaged_copy.empty());
  CHECK(read_bytes(rec.damaged_copy) == damaged);
  CHECK_THAT(rec.warning, Catch::Contains("damaged") && Catch::Contains(rec.damaged_copy));
}

TEST_CASE("a file that is not a journal is refused and left alone", "[journal]") {
  temp_dir dir;
  std::filesystem::create_directories(dir.file("journal"));
  const std::string foreign = "this is not a journal at all, just some text";
  write_bytes(jnl(dir), foreign);

  auto j = journal::open(dir.file("journal"), nullptr);
  REQUIRE_FALSE(j.ok());
  CHECK(j.error().code == "journal_corrupt");
  CHECK(read_bytes(jnl(dir)) == foreign);
}

TEST_CASE("oversized and empty entries are refused without writing", "[journal]") {
  temp_dir dir;
  auto j = open_journal(dir.file("journal"));
  auto big = j->append({"fine", std::string(journal_max_entry_bytes + 1, 'x')});
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().code == "journal_entry_too_large");
  auto empty = j->append({""});
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == "journal_entry_too_large");
  CHECK(j->last_seq() == 0);
  CHECK(std::filesystem::file_size(jnl(dir)) == journal_header_bytes);
}

TEST_CASE("an unreadable applied mark means replay everything, never skip", "[journal]") {
  temp_dir dir;
  {
    auto j = open_journal(dir.file("journal"));
    REQUIRE(j->append({"a", "b", "c"}).ok());
    REQUIRE(j->mark_applied(3).ok());
  }
  auto applied_path = dir.file("journal/metadata.applied");
  auto mark = read_bytes(applied_path);
  REQUIRE(mark.size() == 20);
  mark[9] ^= 0x40;  // the stored sequence no longer matches its CRC
  write_bytes(applied_path, mark);

  journal_recovery rec;
  open_journal(dir.file("journal"), &rec);
  CHECK(rec.applied == 0);
  CHECK(payloads_of(rec.pending) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("compaction empties the file and never reuses a sequence", "[journal]") {
  temp_dir dir;
  auto j = open_journal(dir.file("journal"));
  REQUIRE(j->append({"a", "b", "c", "d", "e"}).ok());

  REQUIRE(j->mark_applied(3).ok());
  auto early = j->compact();
  REQUIRE_FALSE(early.ok());
  CHECK(early.error().code == "journal_not_applied");
  CHECK(j->file_bytes() > journal_header_bytes);

  REQUIRE(j->mark_applied(5).ok());
  REQUIRE(j->compact().ok());
  CHECK(j->file_bytes() == journal_header_bytes);
  CHECK(std::filesystem::file_size(jnl(dir)) == journal_header_bytes);
  CHECK_FALSE(std::filesystem::exists(jnl(dir) + ".tmp"));

  auto next = j->append({"f"});
  REQUIRE(next.ok());
  CHECK(*next == 6);
  j.reset();

  journal_recovery rec;
  auto reopened = open_journal(dir.file("journal"), &rec);
  CHECK(rec.applied == 5);
  CHECK(seqs_of(rec.pending) == std::vector<std::uint64_t>{6});
  CHECK(payloads_of(rec.pending) == std::vector<std::string>{"f"});

  // Even with the applied mark lost, the compacted base says 1-5 were done.
  reopened.reset();
  std::filesystem::remove(dir.file("journal/metadata.applied"));
  journal_recovery without_mark;
  open_journal(dir.file("journal"), &without_mark);
  CHECK(without_mark.applied == 5);
  CHECK(seqs_of(without_mark.pending) == std::vector<std::uint64_t>{6});
}

TEST_CASE("replay through a crash writes every row once and leaves the count exact", "[journal]") {
  temp_dir dir;
  constexpr int total = 100;
  constexpr int before_crash = 40;
  auto db_uri = "sqlite:" + dir.file("ccrec.db");
  auto db = database::open(db_uri);
  REQUIRE(db.ok());
  REQUIRE((*db)->migrate().ok());

  // Each entry names a call and its state; later entries update earlier
  // calls, as a real call's rows do.
  std::vector<std::string> payloads;
  for (int i = 0; i < total; ++i)
    payloads.push_back("c-" + std::to_string(i % 60) + "|" + (i < 60 ? "answered" : "ended"));
  {
    auto j = open_journal(dir.file("journal"));
    REQUIRE(j->append(payloads).ok());
  }

  int writes = 0;
  auto apply = [&](const journal_entry& e) {
    auto bar = e.payload.find('|');
    call_row row;
    row.call_id = e.payload.substr(0, bar);
    row.state = e.payload.substr(bar + 1);
    REQUIRE((*db)->upsert_call(row).ok());
    ++writes;
  };

  {
    journal_recovery rec;
    auto j = open_journal(dir.file("journal"), &rec);
    REQUIRE(rec.pending.size() == total);
    for (int i = 0; i < before_crash; ++i) {
      apply(rec.pending[i]);
      REQUIRE(j->mark_applied(rec.pending[i].seq).ok());
    }
    // The crash: entry 41 reached the database, its mark did not.
    apply(rec.pending[before_crash]);
  }

  journal_recovery rec;
  auto j = open_journal(dir.file("journal"), &rec);
  REQUIRE(rec.applied == before_crash);
  REQUIRE(rec.pending.size() == total - before_crash);
  CHECK(rec.pending.front().seq == before_crash + 1);
  for (const auto& e : rec.pending) {
    apply(e);
    REQUIRE(j->mark_applied(e.seq).ok());
  }

  // 100 entries, one of them written twice; 60 distinct calls.
  CHECK(writes == total + 1);
  CHECK(j->depth() == 0);
  CHECK(j->applied() == total);
  auto calls = (*db)->calls();
  REQUIRE(calls.ok());
  REQUIRE(calls->size() == 60);
  for (const auto& c : *calls)
    CHECK(c.state == (std::stoi(c.call_id.substr(2)) < 40 ? "ended" : "answered"));
  REQUIRE(j->compact().ok());
  CHECK(std::filesystem::file_size(jnl(dir)) == journal_header_bytes);
}
