#include "tests/transcode/fixture.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <catch2/catch.hpp>

#include "actors/audio_codec.hpp"
#include "actors/recording_session.hpp"
#include "actors/recordings.hpp"
#include "crypto/secret.hpp"
#include "media/g711.hpp"
#include "media/leg_tracker.hpp"
#include "media/raw_format.hpp"
#include "media/rtp.hpp"
#include "simulators/pcap_reader.hpp"

namespace ccrec::test {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t base_started_ms = 1764806400000;  // 2025-12-04T00:00:00Z
constexpr std::size_t frame_samples = 160;               // 20 ms at 8 kHz
constexpr double two_pi = 6.283185307179586;

std::vector<std::uint8_t> stream_start(const std::string& json) {
  std::vector<std::uint8_t> out;
  media::append_raw_magic(out);
  media::append_raw_record(out, media::record_type::metadata, 0, 0, 0, 0,
                           reinterpret_cast<const std::uint8_t*>(json.data()), json.size());
  return out;
}

struct placed {
  std::uint8_t leg = 0;
  std::uint8_t payload_type = 0;
  std::uint64_t offset = 0;
  std::vector<std::uint8_t> data;
};

}  // namespace

std::shared_ptr<crypto::secret_bytes> transcode_secret() {
  return std::make_shared<crypto::secret_bytes>(
      crypto::secret_bytes::copy_of(reinterpret_cast<const std::uint8_t*>(transcode_test_secret),
                                    std::strlen(transcode_test_secret)));
}

data_fixture::data_fixture() : data_dir_(dir_.file("data")) {
  fs::create_directories(recordings_dir());
  auto db = storage::database::open(db_uri());
  REQUIRE(db.ok());
  db_ = std::move(*db);
  REQUIRE(db_->migrate().ok());
  REQUIRE(crypto::initialise().ok());
  keyring_options opts;
  opts.kdf_profile = "test";
  auto secret = transcode_secret();
  auto ring = open_keyring(*db_, secret.get(), opts);
  REQUIRE(ring.ok());
  ring_ = std::move(*ring);
}

storage::recording_row data_fixture::add_raw(const std::string& id,
                                             const std::vector<std::uint8_t>& stream,
                                             bool encrypted, const std::string& status) {
  storage::recording_row row;
  row.id = id;
  row.call_id = "call-" + id;
  row.kind = "audio";
  row.started_ms = base_started_ms;
  row.ended_ms = base_started_ms + 60000;
  row.path = recording_relative_path(id, row.started_ms, "audio", encrypted);
  row.key_id = encrypted ? ring_.active_id : 0;
  row.encryption = encrypted ? "ccenx" : "none";
  row.schedule = "record-all";
  row.agent = "agent-1";
  row.status = status;

  fs::create_directories(fs::path{abs(row.path)}.parent_path());
  if (encrypted)
    write_ccenx(abs(row.path), stream, ring_, crypto::ccenx_content::raw_call_audio);
  else
    write_file(abs(row.path), stream);
  row.bytes = static_cast<std::int64_t>(fs::file_size(abs(row.path)));
  REQUIRE(db_->upsert_recording(row).ok());
  auto stored = db_->recording(id);
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  return **stored;
}

storage::recording_row data_fixture::add_plain_wav(const std::string& id,
                                                   const std::vector<std::int16_t>& interleaved,
                                                   const std::string& status) {
  storage::recording_row row;
  row.id = id;
  row.call_id = "call-" + id;
  row.kind = "audio";
  row.started_ms = base_started_ms;
  row.ended_ms = base_started_ms + 60000;
  row.path = std::string{storage::plaintext_spool_dir} + "/" +
             fs::path{recording_relative_path(id, row.started_ms, "audio", false)}
                 .replace_extension(".wav")
                 .string();
  row.encryption = "none";
  row.schedule = "record-all";
  row.agent = "agent-1";
  row.status = status;

  auto bytes = audio::wav_header(audio::pcm_format{}, interleaved.size() / 2);
  const auto* pcm = reinterpret_cast<const std::uint8_t*>(interleaved.data());
  bytes.insert(bytes.end(), pcm, pcm + interleaved.size() * 2);
  fs::create_directories(fs::path{abs(row.path)}.parent_path());
  write_file(abs(row.path), bytes);
  row.bytes = static_cast<std::int64_t>(bytes.size());
  REQUIRE(db_->upsert_recording(row).ok());
  auto stored = db_->recording(id);
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  return **stored;
}

std::vector<std::uint8_t> stream_from_capture(const std::string& pcap_name, int repeat) {
  auto capture = pbxsim::read_pcap(testdata_dir() + "/pcap/" + pcap_name);
  REQUIRE(capture.ok());
  REQUIRE_FALSE(capture->calls.empty());
  const auto& call = capture->calls.front();

  // Both legs' packets in arrival order, as the media receiver sees them.
  struct arrival {
    std::int64_t time_ns;
    std::uint8_t leg;
    const std::vector<std::uint8_t>* bytes;
  };
  std::vector<arrival> arrivals;
  for (std::size_t leg = 0; leg < call.legs.size(); ++leg)
    for (const auto& p : call.legs[leg].packets)
      arrivals.push_back({p.time_ns, static_cast<std::uint8_t>(leg), &p.bytes});
  std::stable_sort(arrivals.begin(), arrivals.end(),
                   [](const arrival& a, const arrival& b) { return a.time_ns < b.time_ns; });

  std::vector<placed> records;
  std::uint64_t end = 0;
  std::vector<media::leg_tracker> trackers;
  for (std::size_t i = 0; i < call.legs.size(); ++i)
    trackers.emplace_back(call.first_time_ns());
  auto sink_for = [&](std::uint8_t leg) {
    return [&records, &end, leg](const media::placed_frame& f) {
      records.push_back({leg, f.payload_type, f.sample_offset, {f.data, f.data + f.size}});
      end = std::max<std::uint64_t>(end, f.sample_offset + f.size);
    };
  };
  for (const auto& a : arrivals) {
    media::rtp_packet pkt;
    if (media::parse_rtp(a.bytes->data(), a.bytes->size(), pkt) != media::rtp_error::none)
      continue;
    trackers[a.leg].push(pkt, a.time_ns, sink_for(a.leg));
  }
  for (std::size_t leg = 0; leg < trackers.size(); ++leg)
    trackers[leg].flush(sink_for(static_cast<std::uint8_t>(leg)));

  auto out = stream_start(R"({"format":"ccraw","source":")" + pcap_name + R"("})");
  const std::uint64_t span = end + frame_samples;
  for (int r = 0; r < repeat; ++r)
    for (const auto& rec : records)
      media::append_raw_record(out, media::record_type::audio, rec.leg, rec.payload_type, 0,
                               rec.offset + static_cast<std::uint64_t>(r) * span, rec.data.data(),
                               rec.data.size());
  return out;
}

std::vector<std::uint8_t> synthetic_stream(std::uint64_t seed, int seconds, int reorder) {
  std::mt19937_64 rng{seed};
  std::normal_distribution<double> noise{0.0, 300.0};
  const std::uint64_t frames = static_cast<std::uint64_t>(seconds) * 8000 / frame_samples;

  std::vector<placed> records;
  for (std::uint64_t f = 0; f < frames; ++f) {
    for (std::uint8_t leg = 0; leg < 2; ++leg) {
      // The agent is on hold from 2 s to 3 s: no audio, silence in playback.
      if (leg == 1 && f >= 100 && f < 150)
        continue;
      placed rec;
      rec.leg = leg;
      rec.payload_type = leg == 0 ? 0 : 8;
      rec.offset = f * frame_samples + (leg == 1 ? 37 : 0);
      for (std::size_t i = 0; i < frame_samples; ++i) {
        double t = static_cast<double>(rec.offset + i) / 8000.0;
        double envelope = 0.5 + 0.5 * std::sin(two_pi * 0.7 * t + leg);
        double v = envelope * (4000.0 * std::sin(two_pi * (leg == 0 ? 310.0 : 190.0) * t) +
                               1500.0 * std::sin(two_pi * 1130.0 * t)) +
                   noise(rng);
        auto pcm = static_cast<std::int16_t>(std::clamp(v, -32000.0, 32000.0));
        rec.data.push_back(leg == 0 ? media::linear_to_ulaw(pcm) : media::linear_to_alaw(pcm));
      }
      records.push_back(std::move(rec));
    }
  }
  // Reordering within windows, as jitter and the trackers' release order do.
  for (std::size_t i = 0; reorder > 1 && i < records.size(); i += static_cast<std::size_t>(reorder))
    std::shuffle(records.begin() + static_cast<std::ptrdiff_t>(i),
                 records.begin() + static_cast<std::ptrdiff_t>(std::min(
                                       records.size(), i + static_cast<std::size_t>(reorder))),
                 rng);
  // Overlaps: a few records come again later with other content; the later wins.
  std::vector<placed> again;
  for (std::size_t i = 7; i < records.size(); i += 97) {
    placed copy = records[i];
    for (auto& b : copy.data)
      b = static_cast<std::uint8_t>(b ^ 0x55);
    again.push_back(std::move(copy));
  }

  auto out = stream_start(R"({"format":"ccraw","source":"synthetic"})");
  std::size_t next_again = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    media::append_raw_record(out, media::record_type::audio, r.leg, r.payload_type, 0, r.offset,
                             r.data.data(), r.data.size());
    if (i % 97 == 20 && next_again < again.size()) {
      const auto& a = again[next_again++];
      media::append_raw_record(out, media::record_type::audio, a.leg, a.payload_type, 0, a.offset,
                               a.data.data(), a.data.size());
    }
  }
  // Records playback ignores: a marker, a third leg, and a screen frame.
  const std::uint8_t word[] = {'h', 'o', 'l', 'd'};
  media::append_raw_record(out, media::record_type::marker, 0, 0, 0, 800, word, sizeof word);
  media::append_raw_record(out, media::record_type::audio, 2, 0, 0, 1000, word, sizeof word);
  media::append_raw_record(out, media::record_type::screen, 0, 0, 0, 5, word, sizeof word);
  return out;
}

void write_ccenx(const std::string& path, const std::vector<std::uint8_t>& bytes,
                 const keyring& ring, crypto::ccenx_content content) {
  auto sink = crypto::open_file_sink(path);
  REQUIRE(sink.ok());
  auto key = ring.keys.at(ring.active_id);
  auto writer = crypto::ccenx_writer::create(
      std::move(*sink), static_cast<std::uint64_t>(ring.active_id), *key, content);
  REQUIRE(writer.ok());
  REQUIRE((*writer)->append(bytes.data(), bytes.size()).ok());
  REQUIRE((*writer)->finish().ok());
}

void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::uint8_t> play_bytes(const std::string& path, const keyring& ring,
                                     const std::string& scratch_dir) {
  static int counter = 0;
  auto out = scratch_dir + "/played-" + std::to_string(++counter) + ".wav";
  auto played = play_recording(path, ring, out);
  INFO(path);
  REQUIRE(played.ok());
  auto bytes = read_file(out);
  fs::remove(out);
  return bytes;
}

std::vector<std::string> list_files(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file())
      out.push_back(fs::relative(entry.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace ccrec::test
