// engine_harness: what the engine tests share — an actor system with the
// engine's types, a test engine configuration (temp data dir, test KDF,
// fixed seed, a per-process media port range), CTI event builders, a UDP
// sender for RTP and screen datagrams, database polling with a deadline,
// and readers for the files the engine writes.
//
// Test-thread only: every helper blocks the calling thread (a test body),
// never an actor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "actors/config.hpp"
#include "actors/engine.hpp"
#include "actors/keyring.hpp"
#include "media/raw_format.hpp"
#include "messages/messages.hpp"
#include "storage/database.hpp"
#include "tests/support/temp_dir.hpp"

namespace ccrec::test {

inline constexpr std::chrono::seconds reply_timeout{10};
inline constexpr std::chrono::seconds row_timeout{10};
// Loopback delivers a datagram before sendto() returns; the engine's I/O
// thread wakes at least every 10 ms. This is the margin for it to have read
// everything before a test ends the call.
inline constexpr std::chrono::milliseconds media_settle{200};
inline constexpr std::size_t g711_frame_bytes = 160;  // 20 ms at 8 kHz
inline constexpr char test_kek_secret[] = "ccrec actors test secret, not for production";

// An actor system configured for the engine. Declare it before any engine
// or scoped actor, so that it outlives them.
class actor_env {
 public:
  actor_env();
  caf::actor_system& sys() { return sys_; }

 private:
  static caf::actor_system_config& configure(caf::actor_system_config& cfg);
  caf::actor_system_config cfg_;
  caf::actor_system sys_;
};

// A configuration for one test engine in `dir`: test KDF profile, the test
// secret, fixed seed, short flush and grace intervals, no CTI socket, and a
// media port range of its own within this process.
engine_config test_config(const temp_dir& dir);

// The test secret as the engine takes it.
std::shared_ptr<crypto::secret_bytes> test_secret();

// Starts an engine or fails the test with the reason.
std::unique_ptr<engine> start_engine(caf::actor_system& sys, const engine_config& cfg);

// One test engine running on `cfg`, with a scoped actor to talk to it and
// its call manager: the setup most engine tests open with. `events`
// receives the engine's recording events once subscribe_events() ran.
struct running_engine {
  explicit running_engine(const engine_config& config);
  void subscribe_events() { eng->subscribe(events); }

  engine_config cfg;
  actor_env env;  // before the engine and actors, so that it outlives them
  std::unique_ptr<engine> eng;
  caf::scoped_actor self;
  caf::scoped_actor events;
  caf::actor cm;  // the call manager
};

// CTI events as a PBX adapter would send them (already decoded).
cti_event agent_login(std::int64_t seq, const std::string& agent);
cti_event call_offered(std::int64_t seq, const std::string& call_id,
                       const std::string& direction = "inbound", const std::string& queue = "");
cti_event call_answered(std::int64_t seq, const std::string& call_id, const std::string& agent);
cti_event call_event(std::int64_t seq, const std::string& type, const std::string& call_id);
cti_event recording_control(std::int64_t seq, const std::string& call_id,
                            const std::string& action);

// Sends one event to the call manager and waits for its reply.
cti_reply send_event(caf::scoped_actor& self, const caf::actor& call_manager, const cti_event& ev);

// The endpoint named `name` in a reply, or nullopt.
std::optional<media_endpoint> endpoint_named(const cti_reply& reply, const std::string& name);

// A UDP socket on 127.0.0.1 (ephemeral port) that sends to loopback ports.
class udp_sender {
 public:
  udp_sender();
  ~udp_sender();
  udp_sender(const udp_sender&) = delete;
  udp_sender& operator=(const udp_sender&) = delete;
  void send(std::uint16_t port, const std::vector<std::uint8_t>& datagram);

 private:
  int fd_ = -1;
};

// A PCMU packet whose 160 payload bytes are `sample(j)` for j = 0..159.
std::vector<std::uint8_t> rtp_packet(std::uint16_t seq, std::uint32_t timestamp, std::uint32_t ssrc,
                                     const std::function<std::uint8_t(std::size_t)>& sample);

// A screen datagram: "CCSF", frame number and milliseconds (big-endian), bytes.
std::vector<std::uint8_t> screen_datagram(std::uint32_t frame, std::uint32_t ms,
                                          const std::vector<std::uint8_t>& bytes);

// Polls the engine's status until `pred` holds or `limit` passes; returns
// the last status and whether `pred` held.
template <class Pred>
std::pair<engine_status, bool> wait_status(engine& e, std::chrono::milliseconds limit, Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto s = e.status(std::chrono::seconds{2});
    if (pred(s))
      return {s, true};
    if (std::chrono::steady_clock::now() >= deadline)
      return {s, false};
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

// Polls the database until `id` has a row whose status is not "recording",
// or the deadline passes (then nullopt).
std::optional<storage::recording_row> wait_final_recording(const std::string& db_uri,
                                                           const std::string& id);
// Reads rows once (fails the test when the database cannot be read).
std::vector<storage::recording_row> recording_rows(const std::string& db_uri);
std::optional<storage::call_row> call_row(const std::string& db_uri, const std::string& call_id);

// The engine's keyring, opened from its database with the test secret.
keyring open_test_keyring(const std::string& db_uri);

// Every regular file under `dir`, relative to it, sorted.
std::vector<std::string> files_under(const std::string& dir);

// The decrypted raw record stream of a CCENX file, record by record.
struct decoded_stream {
  std::string ccenx_state;  // crypto::to_string of the read's end state
  std::vector<media::raw_record> records;
  std::string error;  // raw decoding error, "" when clean
};
decoded_stream decode_recording(const std::string& path, const keyring& ring);

// A 16-bit stereo WAV file's samples, per channel.
struct wav_samples {
  std::uint16_t channels = 0;
  std::uint32_t rate = 0;
  std::vector<std::int16_t> left;
  std::vector<std::int16_t> right;
};
wav_samples read_wav(const std::string& path);

// Collects recording events sent to `self` until `count` arrived or the
// deadline passed.
std::vector<recording_event> collect_events(caf::scoped_actor& self, std::size_t count);

}  // namespace ccrec::test
