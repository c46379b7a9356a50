#include "tests/keys/keys_support.hpp"

#include <sodium.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <thread>

#include <spdlog/sinks/ostream_sink.h>
#include <catch2/catch.hpp>

#include "actors/recordings.hpp"
#include "media/g711.hpp"

namespace ccrec::test {

namespace {

constexpr std::uint32_t caller_ssrc = 0x0a0b0c0d;
constexpr std::uint32_t agent_ssrc = 0x01020304;
constexpr std::uint32_t caller_ts0 = 4000;
constexpr std::uint32_t agent_ts0 = 9000;
constexpr std::uint16_t caller_seq0 = 100;
constexpr std::uint16_t agent_seq0 = 700;

// Never-silent u-law bytes, distinct per leg, packet and sample parity.
std::uint8_t caller_byte(std::size_t packet, std::size_t sample) {
  return static_cast<std::uint8_t>((sample % 2 == 0 ? 0x10 : 0x90) + packet);
}

std::uint8_t agent_byte(std::size_t packet, std::size_t sample) {
  return static_cast<std::uint8_t>((sample % 2 == 0 ? 0x40 : 0xc0) + packet);
}

// `packets` frames of `byte` from the first sound on, silence elsewhere.
void require_channel(const std::vector<std::int16_t>& channel,
                     std::uint8_t (*byte)(std::size_t, std::size_t)) {
  std::size_t anchor = 0;
  while (anchor < channel.size() && channel[anchor] == 0)
    ++anchor;
  REQUIRE(anchor + call_packets * g711_frame_bytes <= channel.size());
  std::size_t wrong = 0;
  for (std::size_t k = 0; k < call_packets; ++k) {
    for (std::size_t j = 0; j < g711_frame_bytes; ++j) {
      if (channel[anchor + k * g711_frame_bytes + j] != media::ulaw_to_linear(byte(k, j)))
        ++wrong;
    }
  }
  CHECK(wrong == 0);
  for (std::size_t i = anchor + call_packets * g711_frame_bytes; i < channel.size(); ++i)
    REQUIRE(channel[i] == 0);
}

std::string hex_of(const crypto::secret_bytes& key, bool upper) {
  std::string out(key.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), key.data(), key.size());
  out.pop_back();
  if (upper) {
    for (auto& c : out)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

crypto::secret_bytes secret_of(const std::string& text) {
  return crypto::secret_bytes::copy_of(reinterpret_cast<const std::uint8_t*>(text.data()),
                                       text.size());
}

crypto::secret_bytes test_kek(storage::database& db) {
  auto secret = test_secret();
  keyring_options opts{"test", false, test_actor};
  auto kek = open_kek(db, secret.get(), opts);
  INFO((kek.ok() ? std::string() : kek.error().code + ": " + kek.error().message));
  REQUIRE(kek.ok());
  return std::move(*kek);
}

keyring test_keyring(storage::database& db) {
  auto secret = test_secret();
  keyring_options opts{"test", false, test_actor};
  auto ring = open_keyring(db, secret.get(), opts);
  INFO((ring.ok() ? std::string() : ring.error().code + ": " + ring.error().message));
  REQUIRE(ring.ok());
  return std::move(*ring);
}

engine_config keys_config(const temp_dir& dir, const std::string& db_uri) {
  auto cfg = test_config(dir);
  cfg.db = db_uri;
  cfg.key_reload_interval_ms = 100;
  return cfg;
}

storage::recording_row record_call(caf::actor_system& sys, engine& eng, const engine_config& cfg,
                                   const std::string& call_id, std::int64_t first_seq) {
  caf::scoped_actor self{sys};
  auto cm = eng.call_manager();
  REQUIRE(send_event(self, cm, call_offered(first_seq, call_id, "inbound", "sales")).ok);
  auto answered = send_event(self, cm, call_answered(first_seq + 1, call_id, "a1"));
  REQUIRE(answered.ok);
  REQUIRE(answered.record);
  auto caller = endpoint_named(answered, "caller");
  auto agent = endpoint_named(answered, "agent");
  REQUIRE(caller);
  REQUIRE(agent);

  udp_sender udp;
  for (std::size_t k = 0; k < call_packets; ++k) {
    udp.send(caller->port,
             rtp_packet(static_cast<std::uint16_t>(caller_seq0 + k),
                        static_cast<std::uint32_t>(caller_ts0 + k * g711_frame_bytes), caller_ssrc,
                        [k](std::size_t j) { return caller_byte(k, j); }));
    udp.send(agent->port, rtp_packet(static_cast<std::uint16_t>(agent_seq0 + k),
                                     static_cast<std::uint32_t>(agent_ts0 + k * g711_frame_bytes),
                                     agent_ssrc, [k](std::size_t j) { return agent_byte(k, j); }));
  }
  std::this_thread::sleep_for(media_settle);
  REQUIRE(send_event(self, cm, call_event(first_seq + 2, "call_ended", call_id)).ok);

  auto row = wait_final_recording(cfg.database_uri(), answered.recording_id);
  REQUIRE(row);
  REQUIRE(row->status == "complete");
  REQUIRE(row->packets == static_cast<std::int64_t>(2 * call_packets));
  return *row;
}

void require_plays(const std::string& path, const keyring& ring, const std::string& wav_out) {
  auto played = play_recording(path, ring, wav_out);
  INFO((played.ok() ? std::string() : played.error().code + ": " + played.error().message));
  REQUIRE(played.ok());
  CHECK(played->stats.leg_samples[0] == call_packets * g711_frame_bytes);
  CHECK(played->stats.leg_samples[1] == call_packets * g711_frame_bytes);
  auto wav = read_wav(wav_out);
  require_channel(wav.left, caller_byte);
  require_channel(wav.right, agent_byte);
}

void export_all(storage::database& db, const std::string& path) {
  auto kek = test_kek(db);
  auto done = export_keys(db, kek, secret_of(test_passphrase), path,
                          crypto::export_kdf_limits::for_tests(), test_actor);
  INFO((done.ok() ? std::string() : done.error().code + ": " + done.error().message));
  REQUIRE(done.ok());
}

kek_source test_kek_source(storage::database& db) {
  return [&db]() -> result<crypto::secret_bytes> {
    auto secret = test_secret();
    keyring_options opts{"test", false, test_actor};
    return open_kek(db, secret.get(), opts);
  };
}

void destroy_database(const fresh_target& target) {
  const auto& uri = target.connection();
  if (target.backend() == "sqlite") {
    const std::string file = uri.substr(std::string{"sqlite:"}.size());
    for (const auto& suffix : {"", "-wal", "-shm"})
      std::filesystem::remove(file + suffix);
    REQUIRE_FALSE(std::filesystem::exists(file));
    return;
  }
  const std::string name = uri.substr(uri.rfind('/') + 1);
  soci::session admin(soci::postgresql, shared_pg_server().uri("postgres") + "?connect_timeout=5");
  admin << "DROP DATABASE " + name + " WITH (FORCE)";
  long long left = -1;
  admin << "SELECT COUNT(*) FROM pg_database WHERE datname = :n", soci::use(name), soci::into(left);
  REQUIRE(left == 0);
}

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::filesystem::remove(path);
  std::ofstream out{path, std::ios::binary};
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::vector<std::string> audit_events(storage::database& db) {
  auto rows = db.audit();
  REQUIRE(rows.ok());
  std::vector<std::string> out;
  for (const auto& r : *rows)
    out.push_back(r.event + "|" + r.actor);
  return out;
}

log_capture::log_capture()
    : out_(std::make_shared<std::ostringstream>()),
      previous_(spdlog::default_logger()),
      previous_level_(spdlog::get_level()) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out_);
  auto logger = std::make_shared<spdlog::logger>("keys-test-capture", sink);
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::trace);
}

log_capture::~log_capture() {
  spdlog::set_default_logger(previous_);
  spdlog::set_level(previous_level_);
}

std::string log_capture::text() const {
  spdlog::default_logger()->flush();
  return out_->str();
}

std::vector<std::string> leak_forms(const crypto::secret_bytes& key) {
  return {std::string(reinterpret_cast<const char*>(key.data()), key.size()), hex_of(key, false),
          hex_of(key, true)};
}

bool contains_any(const std::string& haystack, const std::vector<std::string>& needles) {
  for (const auto& n : needles) {
    if (haystack.find(n) != std::string::npos)
      return true;
  }
  return false;
}

std::vector<std::string> files_containing(const std::string& dir,
                                          const std::vector<std::string>& needles) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file())
      continue;
    auto bytes = read_bytes(entry.path().string());
    if (contains_any(std::string(bytes.begin(), bytes.end()), needles))
      out.push_back(entry.path().string());
  }
  return out;
}

}  // namespace ccrec::test
