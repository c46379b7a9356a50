#include "tests/actors/engine_harness.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <catch2/catch.hpp>

#include "crypto/ccenx.hpp"
#include "crypto/secret.hpp"
#include "media/rtp.hpp"

namespace ccrec::test {

namespace {

// Media ports: each process takes a window chosen from its pid, and each
// engine within it a slice of that window. A port another program holds is
// skipped by the engine, so an overlap costs nothing but a retry.
constexpr std::uint16_t media_base_port = 20000;
constexpr std::uint16_t media_window_ports = 400;
constexpr std::uint16_t media_windows = 25;  // 20000-29999
constexpr std::uint16_t media_slice_ports = 40;
constexpr std::chrono::milliseconds poll_interval{20};
constexpr std::size_t wav_header_bytes = 44;
constexpr std::uint32_t random_seed = 424242;

std::atomic<unsigned> engines_made{0};

std::pair<std::uint16_t, std::uint16_t> next_port_slice() {
  auto pid = static_cast<unsigned>(::getpid());
  auto window = pid % media_windows;
  // Start each process at a slice of its own too: test processes run side
  // by side, and most make a single engine.
  auto slice = (pid / media_windows + engines_made++) % (media_window_ports / media_slice_ports);
  auto low = static_cast<std::uint16_t>(media_base_port + window * media_window_ports +
                                        slice * media_slice_ports);
  return {low, static_cast<std::uint16_t>(low + media_slice_ports - 1)};
}

std::unique_ptr<storage::database> open_db(const std::string& db_uri) {
  auto db = storage::database::open(db_uri);
  if (!db)
    FAIL("cannot open " << db_uri << ": " << db.error().message);
  return std::move(*db);
}

std::uint16_t read_u16(const std::vector<std::uint8_t>& b, std::size_t at) {
  return static_cast<std::uint16_t>(b[at] | (b[at + 1] << 8));
}

std::uint32_t read_u32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return static_cast<std::uint32_t>(b[at]) | (static_cast<std::uint32_t>(b[at + 1]) << 8) |
         (static_cast<std::uint32_t>(b[at + 2]) << 16) |
         (static_cast<std::uint32_t>(b[at + 3]) << 24);
}

void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(v >> shift));
}

}  // namespace

// ---------------------------------------------------------------------------
// Actor system and engine
// ---------------------------------------------------------------------------

actor_env::actor_env() : sys_(configure(cfg_)) {}

caf::actor_system_config& actor_env::configure(caf::actor_system_config& cfg) {
  add_engine_types(cfg);
  return cfg;
}

std::shared_ptr<crypto::secret_bytes> test_secret() {
  return std::make_shared<crypto::secret_bytes>(crypto::secret_bytes::copy_of(
      reinterpret_cast<const std::uint8_t*>(test_kek_secret), sizeof test_kek_secret - 1));
}

engine_config test_config(const temp_dir& dir) {
  engine_config cfg;
  cfg.data_dir = dir.path();
  cfg.kdf_profile = "test";
  cfg.kek_secret = test_secret();
  cfg.cti_endpoint = "";
  cfg.media_host = "127.0.0.1";
  auto [low, high] = next_port_slice();
  cfg.media_port_low = low;
  cfg.media_port_high = high;
  cfg.random_seed = random_seed;
  cfg.flush_interval_ms = 100;
  cfg.late_grace_ms = 200;
  cfg.db_probe_interval_ms = 500;
  return cfg;
}

std::unique_ptr<engine> start_engine(caf::actor_system& sys, const engine_config& cfg) {
  auto e = engine::start(sys, cfg);
  if (!e)
    FAIL("engine did not start: " << e.error().code << ": " << e.error().message);
  return std::move(*e);
}

running_engine::running_engine(const engine_config& config)
    : cfg(config),
      eng(start_engine(env.sys(), cfg)),
      self(env.sys()),
      events(env.sys()),
      cm(eng->call_manager()) {}

// ---------------------------------------------------------------------------
// CTI events
// ---------------------------------------------------------------------------

namespace {

cti_event base_event(std::int64_t seq, const std::string& type) {
  cti_event ev;
  ev.type = type;
  ev.seq = seq;
  ev.ts_ms = 1700000000000 + seq;
  ev.pbx = "test-pbx";
  return ev;
}

}  // namespace

cti_event agent_login(std::int64_t seq, const std::string& agent) {
  auto ev = base_event(seq, "agent_login");
  ev.agent = agent;
  return ev;
}

cti_event call_offered(std::int64_t seq, const std::string& call_id, const std::string& direction,
                       const std::string& queue) {
  auto ev = base_event(seq, "call_offered");
  ev.call_id = call_id;
  ev.direction = direction;
  ev.queue = queue;
  ev.from = "+15550001";
  ev.to = "+15550002";
  return ev;
}

cti_event call_answered(std::int64_t seq, const std::string& call_id, const std::string& agent) {
  auto ev = base_event(seq, "call_answered");
  ev.call_id = call_id;
  ev.agent = agent;
  return ev;
}

cti_event call_event(std::int64_t seq, const std::string& type, const std::string& call_id) {
  auto ev = base_event(seq, type);
  ev.call_id = call_id;
  return ev;
}

cti_event recording_control(std::int64_t seq, const std::string& call_id,
                            const std::string& action) {
  auto ev = base_event(seq, "recording_control");
  ev.call_id = call_id;
  ev.action = action;
  return ev;
}

cti_reply send_event(caf::scoped_actor& self, const caf::actor& call_manager, const cti_event& ev) {
  cti_reply out;
  bool answered = false;
  std::string failure;
  self->request(call_manager, reply_timeout, cti_atom::value, ev)
      .receive(
          [&](cti_reply& r) {
            out = std::move(r);
            answered = true;
          },
          [&](caf::error& err) { failure = caf::to_string(err); });
  if (!answered)
    FAIL("no reply to " << ev.type << " seq " << ev.seq << ": " << failure);
  return out;
}

std::optional<media_endpoint> endpoint_named(const cti_reply& reply, const std::string& name) {
  for (const auto& m : reply.media) {
    if (m.name == name)
      return m;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// UDP media
// ---------------------------------------------------------------------------

udp_sender::udp_sender() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    throw std::runtime_error("cannot create a UDP socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("cannot bind a UDP socket to 127.0.0.1");
}

udp_sender::~udp_sender() {
  ::close(fd_);
}

void udp_sender::send(std::uint16_t port, const std::vector<std::uint8_t>& datagram) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto sent = ::sendto(fd_, datagram.data(), datagram.size(), 0,
                       reinterpret_cast<const sockaddr*>(&to), sizeof to);
  REQUIRE(sent == static_cast<ssize_t>(datagram.size()));
}

std::vector<std::uint8_t> rtp_packet(std::uint16_t seq, std::uint32_t timestamp, std::uint32_t ssrc,
                                     const std::function<std::uint8_t(std::size_t)>& sample) {
  std::vector<std::uint8_t> out(12 + g711_frame_bytes);
  auto header = media::write_rtp_header(out.data(), media::pt_pcmu, false, seq, timestamp, ssrc);
  REQUIRE(header == 12);
  for (std::size_t j = 0; j < g711_frame_bytes; ++j)
    out[header + j] = sample(j);
  return out;
}

std::vector<std::uint8_t> screen_datagram(std::uint32_t frame, std::uint32_t ms,
                                          const std::vector<std::uint8_t>& bytes) {
  std::vector<std::uint8_t> out = {'C', 'C', 'S', 'F'};
  put_be32(out, frame);
  put_be32(out, ms);
  out.insert(out.end(), bytes.begin(), bytes.end());
  return out;
}

// ---------------------------------------------------------------------------
// Database
// ---------------------------------------------------------------------------

std::optional<storage::recording_row> wait_final_recording(const std::string& db_uri,
                                                           const std::string& id) {
  auto db = open_db(db_uri);
  auto deadline = std::chrono::steady_clock::now() + row_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    // A read can fail while the engine's writer holds the SQLite lock: retry.
    auto row = db->recording(id);
    if (row && row->has_value() && (*row)->status != "recording")
      return **row;
    std::this_thread::sleep_for(poll_interval);
  }
  return std::nullopt;
}

std::vector<storage::recording_row> recording_rows(const std::string& db_uri) {
  auto db = open_db(db_uri);
  auto rows = db->recordings();
  if (!rows)
    FAIL("cannot read recordings: " << rows.error().message);
  return *rows;
}

std::optional<storage::call_row> call_row(const std::string& db_uri, const std::string& call_id) {
  auto db = open_db(db_uri);
  auto row = db->call(call_id);
  if (!row)
    FAIL("cannot read call " << call_id << ": " << row.error().message);
  return *row;
}

keyring open_test_keyring(const std::string& db_uri) {
  auto db = open_db(db_uri);
  auto secret = test_secret();
  keyring_options opts{"test", false};
  auto ring = open_keyring(*db, secret.get(), opts);
  if (!ring)
    FAIL("cannot open the keyring: " << ring.error().code << ": " << ring.error().message);
  return std::move(*ring);
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file())
      out.push_back(std::filesystem::relative(entry.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

decoded_stream decode_recording(const std::string& path, const keyring& ring) {
  decoded_stream out;
  media::raw_decoder decoder{[&out](const media::raw_record& r) { out.records.push_back(r); }};
  auto report =
      crypto::read_ccenx(path, ring.resolver(), [&](const std::uint8_t* d, std::size_t n) {
        if (out.error.empty()) {
          if (auto ok = decoder.feed(d, n); !ok)
            out.error = ok.error().message;
        }
      });
  out.ccenx_state = crypto::to_string(report.state);
  if (out.error.empty()) {
    if (auto ok = decoder.finish(); !ok)
      out.error = ok.error().message;
  }
  return out;
}

wav_samples read_wav(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in),
                                  std::istreambuf_iterator<char>()};
  REQUIRE(bytes.size() >= wav_header_bytes);
  REQUIRE(std::memcmp(bytes.data(), "RIFF", 4) == 0);
  REQUIRE(std::memcmp(bytes.data() + 8, "WAVE", 4) == 0);
  REQUIRE(std::memcmp(bytes.data() + 36, "data", 4) == 0);

  wav_samples out;
  out.channels = read_u16(bytes, 22);
  out.rate = read_u32(bytes, 24);
  auto data_bytes = read_u32(bytes, 40);
  REQUIRE(out.channels == 2);
  REQUIRE(read_u16(bytes, 34) == 16);
  REQUIRE(bytes.size() == wav_header_bytes + data_bytes);
  for (std::size_t at = wav_header_bytes; at + 4 <= bytes.size(); at += 4) {
    out.left.push_back(static_cast<std::int16_t>(read_u16(bytes, at)));
    out.right.push_back(static_cast<std::int16_t>(read_u16(bytes, at + 2)));
  }
  return out;
}

std::vector<recording_event> collect_events(caf::scoped_actor& self, std::size_t count) {
  std::vector<recording_event> out;
  auto deadline = std::chrono::steady_clock::now() + reply_timeout;
  while (out.size() < count) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      break;
    bool timed_out = false;
    self->receive([&](event_atom, recording_event& ev) { out.push_back(std::move(ev)); },
                  caf::after(left) >> [&] { timed_out = true; });
    if (timed_out)
      break;
  }
  return out;
}

}  // namespace ccrec::test
