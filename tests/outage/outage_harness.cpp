#include "tests/outage/outage_harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>

#include <catch2/catch.hpp>

#include "crypto/ccenx.hpp"
#include "crypto/secret.hpp"
#include "media/raw_format.hpp"
#include "media/rtp.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/program.hpp"

namespace ccrec::test {

namespace {

constexpr std::uint16_t port_base = 30000;
constexpr std::uint16_t port_window = 500;
constexpr std::uint16_t port_windows = 20;  // 30000-39999
constexpr std::uint16_t port_slot = 250;
constexpr std::uint16_t engine_ports = 240;
constexpr milliseconds reply_limit{10000};
constexpr milliseconds poll_step{20};
constexpr milliseconds program_limit{60000};
constexpr std::uint32_t rtp_header_bytes = 12;
constexpr std::uint32_t samples_per_frame = 160;
constexpr std::int64_t event_epoch_ms = 1700000000000;
constexpr int default_outage_seconds = 30;

}  // namespace

seconds outage_duration() {
  const char* env = std::getenv("CCREC_OUTAGE_SECONDS");
  if (env == nullptr || *env == '\0')
    return seconds{default_outage_seconds};
  return seconds{std::max(1, std::atoi(env))};
}

// ---------------------------------------------------------------------------
// Engine in-process
// ---------------------------------------------------------------------------

std::shared_ptr<crypto::secret_bytes> outage_secret() {
  return std::make_shared<crypto::secret_bytes>(crypto::secret_bytes::copy_of(
      reinterpret_cast<const std::uint8_t*>(outage_kek_secret), sizeof outage_kek_secret - 1));
}

std::pair<std::uint16_t, std::uint16_t> media_ports(std::uint16_t ports, int slot) {
  auto window = static_cast<std::uint16_t>(static_cast<unsigned>(::getpid()) % port_windows);
  auto low = static_cast<std::uint16_t>(port_base + window * port_window + slot * port_slot);
  return {low, static_cast<std::uint16_t>(low + ports - 1)};
}

engine_config outage_config(const temp_dir& dir, const std::string& db_uri) {
  engine_config cfg;
  cfg.data_dir = dir.path();
  cfg.db = db_uri;
  cfg.kdf_profile = "test";
  cfg.kek_secret = outage_secret();
  cfg.cti_endpoint = "";
  cfg.media_host = "127.0.0.1";
  auto [low, high] = media_ports(engine_ports);
  cfg.media_port_low = low;
  cfg.media_port_high = high;
  cfg.random_seed = 4242;
  cfg.flush_interval_ms = 200;
  cfg.late_grace_ms = 200;
  cfg.db_probe_interval_ms = 500;
  // These tests check the raw recordings packet by packet; the transcoder
  // would replace them with compressed files (its own tests cover that).
  cfg.transcode = false;
  return cfg;
}

timed_reply send_cti(caf::scoped_actor& self, const caf::actor& call_manager, const cti_event& ev) {
  timed_reply out;
  bool answered = false;
  std::string failure;
  auto began = std::chrono::steady_clock::now();
  self->request(call_manager, reply_limit, cti_atom::value, ev)
      .receive(
          [&](cti_reply& r) {
            out.reply = std::move(r);
            answered = true;
          },
          [&](caf::error& err) { failure = caf::to_string(err); });
  out.took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - began);
  if (!answered)
    FAIL("no reply to " << ev.type << " " << ev.call_id << ": " << failure);
  return out;
}

// ---------------------------------------------------------------------------
// RTP pump
// ---------------------------------------------------------------------------

std::array<std::uint8_t, frame_bytes> pump_payload(std::uint8_t leg, std::uint16_t seq) {
  std::array<std::uint8_t, frame_bytes> out{};
  out[0] = leg;
  out[1] = static_cast<std::uint8_t>(seq >> 8);
  out[2] = static_cast<std::uint8_t>(seq & 0xff);
  for (std::size_t j = 3; j < frame_bytes; ++j)
    out[j] = static_cast<std::uint8_t>((seq * 31u + j * 7u + leg * 101u) & 0xffu);
  return out;
}

rtp_pump::rtp_pump() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    throw std::runtime_error("rtp_pump: cannot create a UDP socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("rtp_pump: cannot bind to 127.0.0.1");
  thread_ = std::thread{[this] { loop(); }};
}

rtp_pump::~rtp_pump() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
}

void rtp_pump::start_call(const std::string& call_id, std::uint16_t caller_port,
                          std::uint16_t agent_port) {
  std::lock_guard<std::mutex> lock(mutex_);
  stream s;
  s.ports = {caller_port, agent_port};
  s.ssrc = next_ssrc_++;
  calls_[call_id] = s;
}

std::array<std::uint32_t, legs_per_call> rtp_pump::stop_call(const std::string& call_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& s = calls_.at(call_id);
  s.running = false;
  return {s.sent, s.sent};
}

std::array<std::uint32_t, legs_per_call> rtp_pump::sent(const std::string& call_id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto& s = calls_.at(call_id);
  return {s.sent, s.sent};
}

std::size_t rtp_pump::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<std::size_t>(
      std::count_if(calls_.begin(), calls_.end(), [](const auto& c) { return c.second.running; }));
}

void rtp_pump::loop() {
  std::vector<std::uint8_t> packet(rtp_header_bytes + frame_bytes);
  auto next = std::chrono::steady_clock::now();
  while (!stop_) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& [id, s] : calls_) {
        if (!s.running)
          continue;
        auto seq = static_cast<std::uint16_t>(s.sent);
        for (std::uint8_t leg = 0; leg < legs_per_call; ++leg) {
          media::write_rtp_header(packet.data(), media::pt_pcmu, false, seq,
                                  s.sent * samples_per_frame, s.ssrc + leg * 0x1000u);
          auto payload = pump_payload(leg, seq);
          std::copy(payload.begin(), payload.end(), packet.begin() + rtp_header_bytes);
          sockaddr_in to{};
          to.sin_family = AF_INET;
          to.sin_port = htons(s.ports[leg]);
          to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
          ::sendto(fd_, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to),
                   sizeof to);
        }
        ++s.sent;
      }
    }
    next += frame_interval;
    std::this_thread::sleep_until(next);
  }
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

file_check check_recording_file(const std::string& path, const keyring& ring) {
  file_check out;
  media::raw_decoder decoder{[&out](const media::raw_record& r) {
    if (r.type != media::record_type::audio || !out.error.empty())
      return;
    if (r.leg >= legs_per_call || r.payload.size() != frame_bytes || r.payload[0] != r.leg) {
      out.error = "an audio record that the pump did not send";
      return;
    }
    auto seq = static_cast<std::uint16_t>((r.payload[1] << 8) | r.payload[2]);
    auto expected = pump_payload(r.leg, seq);
    if (!std::equal(expected.begin(), expected.end(), r.payload.begin())) {
      out.error = "the payload of leg " + std::to_string(r.leg) + " seq " + std::to_string(seq) +
                  " differs from what was sent";
      return;
    }
    out.seqs[r.leg].push_back(seq);
  }};
  auto report =
      crypto::read_ccenx(path, ring.resolver(), [&](const std::uint8_t* d, std::size_t n) {
        if (out.error.empty()) {
          if (auto ok = decoder.feed(d, n); !ok)
            out.error = ok.error().message;
        }
      });
  out.ccenx_state = crypto::to_string(report.state);
  if (report.state == crypto::ccenx_state::complete && out.error.empty()) {
    if (auto ok = decoder.finish(); !ok)
      out.error = ok.error().message;
  }
  return out;
}

bool exactly_first(const std::vector<std::uint16_t>& seqs, std::uint32_t count) {
  if (seqs.size() != count)
    return false;
  std::set<std::uint16_t> unique(seqs.begin(), seqs.end());
  return unique.size() == count && (count == 0 || *unique.rbegin() == count - 1);
}

std::string fresh_database(const std::string& prefix) {
  static int made = 0;
  return shared_pg_server().create_database(prefix + "_" + std::to_string(++made));
}

std::unique_ptr<storage::database> open_db(const std::string& uri) {
  auto db = storage::database::open(uri);
  if (!db)
    FAIL("cannot open " << uri << ": " << db.error().message);
  return std::move(*db);
}

final_rows rows_exactly(const std::string& uri, std::size_t total) {
  auto db = open_db(uri);
  auto calls = db->calls();
  auto recordings = db->recordings();
  REQUIRE(calls.ok());
  REQUIRE(recordings.ok());
  REQUIRE(calls->size() == total);
  REQUIRE(recordings->size() == total);
  return final_rows{std::move(*calls), std::move(*recordings)};
}

std::string call_name(const char* prefix, int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s-%02d", prefix, i);
  return buf;
}

keyring open_keys(const std::string& uri) {
  auto db = open_db(uri);
  auto secret = outage_secret();
  keyring_options opts;
  opts.kdf_profile = "test";
  opts.create_first_key = false;
  auto ring = open_keyring(*db, secret.get(), opts);
  if (!ring)
    FAIL("cannot open the keyring: " << ring.error().code << ": " << ring.error().message);
  return std::move(*ring);
}

std::vector<std::string> key_bytes(const keyring& ring) {
  std::vector<std::string> out;
  for (const auto& [id, key] : ring.keys)
    out.emplace_back(reinterpret_cast<const char*>(key->data()), key->size());
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

std::string ccrec_binary() {
  return CCREC_BINARY;
}

child_process::child_process(const std::vector<std::string>& argv, const std::string& log_path) {
  program_args p;
  p.binary = argv.at(0);
  p.args.assign(argv.begin() + 1, argv.end());
  p.env = {std::string{"CCREC_KEK_SECRET="} + outage_kek_secret, "PATH=/usr/bin:/bin", "LANG=C"};
  pid_ = spawn_program(p, log_path, log_path);
}

child_process::~child_process() {
  if (pid_ <= 0 || reaped_)
    return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

void child_process::signal(int sig) {
  if (pid_ > 0 && !reaped_)
    ::kill(pid_, sig);
}

std::optional<int> child_process::wait_exit(milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      if (WIFEXITED(status))
        return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(poll_step);
  }
}

program_result run_ccrec(const std::vector<std::string>& args, const temp_dir& dir) {
  static int runs = 0;
  auto log = dir.file("run-" + std::to_string(++runs) + ".log");
  std::vector<std::string> argv = {ccrec_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  child_process child{argv, log};
  auto status = child.wait_exit(program_limit);
  program_result out;
  out.status = status ? *status : -1;
  out.output = read_file(log);
  return out;
}

std::string write_engine_config(const temp_dir& dir, const std::string& db_uri,
                                std::uint16_t port_low, std::uint16_t port_high) {
  auto path = dir.file("engine.toml");
  std::ofstream out{path, std::ios::trunc};
  out << "[engine]\n"
      << "data_dir = \"" << dir.file("data") << "\"\n"
      << "db = \"" << db_uri << "\"\n"
      << "cti = \"tcp://127.0.0.1:*\"\n"
      << "kdf_profile = \"test\"\n"
      << "media_ports = \"" << port_low << "-" << port_high << "\"\n"
      << "flush_interval_ms = 200\n"
      << "late_grace_ms = 200\n"
      << "db_probe_interval_ms = 500\n"
      << "transcode = false\n";
  return path;
}

bool wait_for_file(const std::string& path, milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!read_file(path).empty())
      return true;
    std::this_thread::sleep_for(poll_step);
  }
  return false;
}

nlohmann::json read_status(const std::string& data_dir) {
  auto text = read_file(data_dir + "/status.json");
  if (text.empty())
    return nullptr;
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return nullptr;
  }
}

// ---------------------------------------------------------------------------
// CTI over ZeroMQ
// ---------------------------------------------------------------------------

cti_client::cti_client(const std::string& endpoint) : socket_(context_, zmq::socket_type::dealer) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.connect(endpoint);
}

nlohmann::json cti_client::send(nlohmann::json event) {
  event["v"] = 1;
  event["seq"] = ++seq_;
  event["ts"] = event_epoch_ms + seq_;
  event["pbx"] = "outage-test";
  auto text = event.dump();
  socket_.send(zmq::buffer(text), zmq::send_flags::none);

  zmq::pollitem_t items[] = {{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0}};
  zmq::poll(items, 1, reply_limit);
  if ((items[0].revents & ZMQ_POLLIN) == 0)
    FAIL("no CTI reply to " << text);
  zmq::message_t reply;
  if (!socket_.recv(reply, zmq::recv_flags::none))
    FAIL("CTI receive failed after " << text);
  return nlohmann::json::parse(reply.to_string());
}

nlohmann::json cti_client::offered(const std::string& call_id) {
  return send({{"type", "call_offered"},
               {"call_id", call_id},
               {"direction", "inbound"},
               {"from", "+15550100"},
               {"to", "+15550199"},
               {"queue", "support"}});
}

nlohmann::json cti_client::answered(const std::string& call_id, const std::string& agent) {
  return send({{"type", "call_answered"}, {"call_id", call_id}, {"agent", agent}});
}

nlohmann::json cti_client::ended(const std::string& call_id) {
  return send({{"type", "call_ended"}, {"call_id", call_id}});
}

}  // namespace ccrec::test
