// outage_harness: what the database-outage tests share — an engine
// configuration on a real PostgreSQL (tests/support/pg_server.hpp), CTI
// events sent in-process or over ZeroMQ, an RTP pump that keeps many calls'
// media flowing over real UDP, `ccrec` run as a child process (so that it can
// be SIGKILLed), and checks of the rows and files the engine leaves.
//
// Test-thread only, except rtp_pump, which runs its own sender thread and is
// safe to call from the test thread while it runs.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "actors/config.hpp"
#include "actors/engine.hpp"
#include "actors/keyring.hpp"
#include "messages/messages.hpp"
#include "storage/database.hpp"
#include "tests/actors/engine_harness.hpp"
#include "tests/support/temp_dir.hpp"

namespace ccrec::test {

using std::chrono::milliseconds;
using std::chrono::seconds;

inline constexpr char outage_kek_secret[] = "ccrec outage test secret, not for production";
inline constexpr std::uint16_t legs_per_call = 2;
inline constexpr std::size_t frame_bytes = 160;  // 20 ms of G.711 at 8 kHz
inline constexpr milliseconds frame_interval{20};
// The margin for the engine to have read a busy pump's last packets before a
// call ends: more than the single-call tests' media_settle, since the pump
// keeps hundreds of calls' media flowing.
inline constexpr milliseconds pump_settle{300};

// How long the outage of the load tests lasts: 30 s as the issue states, or
// CCREC_OUTAGE_SECONDS when set (for quick local runs).
seconds outage_duration();

// ---------------------------------------------------------------------------
// Engine in-process
// ---------------------------------------------------------------------------

// actor_env and start_engine come from tests/actors/engine_harness.hpp.

std::shared_ptr<crypto::secret_bytes> outage_secret();

// A media port range of `ports` ports for this process, away from the ranges
// the other test executables use (30000-39999, by pid).
std::pair<std::uint16_t, std::uint16_t> media_ports(std::uint16_t ports, int slot = 0);

// Test KDF, the test secret, no CTI socket, 240 media ports, short flush and
// probe intervals, no transcoding, the database `db_uri`.
engine_config outage_config(const temp_dir& dir, const std::string& db_uri);

struct timed_reply {
  cti_reply reply;
  milliseconds took{0};
};
// Sends one event to the call manager and waits (10 s at most) for its reply.
timed_reply send_cti(caf::scoped_actor& self, const caf::actor& call_manager, const cti_event& ev);

// ---------------------------------------------------------------------------
// RTP media for many calls
// ---------------------------------------------------------------------------

// Sends one G.711 packet per leg per 20 ms for every running call, from a
// thread of its own. Each payload names its leg and sequence number
// (bytes 0-2) and fills the rest from them, so a recording can be checked
// packet by packet.
class rtp_pump {
 public:
  rtp_pump();
  ~rtp_pump();
  rtp_pump(const rtp_pump&) = delete;
  rtp_pump& operator=(const rtp_pump&) = delete;

  void start_call(const std::string& call_id, std::uint16_t caller_port, std::uint16_t agent_port);
  // Stops sending the call's media; returns what was sent, per leg.
  std::array<std::uint32_t, legs_per_call> stop_call(const std::string& call_id);
  std::array<std::uint32_t, legs_per_call> sent(const std::string& call_id) const;
  std::size_t running() const;

 private:
  struct stream {
    std::array<std::uint16_t, legs_per_call> ports{};
    std::uint32_t ssrc = 0;
    std::uint32_t sent = 0;  // per leg; both legs send together
    bool running = true;
  };
  void loop();

  int fd_ = -1;
  mutable std::mutex mutex_;
  std::map<std::string, stream> calls_;
  std::uint32_t next_ssrc_ = 0x5eed0001;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The payload the pump sends for `leg` at sequence `seq`.
std::array<std::uint8_t, frame_bytes> pump_payload(std::uint8_t leg, std::uint16_t seq);

// ---------------------------------------------------------------------------
// Checking what the engine left
// ---------------------------------------------------------------------------

struct file_check {
  std::string ccenx_state;  // "complete", "interrupted", ...
  std::string error;        // a decoding problem or a payload that differs
  std::array<std::vector<std::uint16_t>, legs_per_call> seqs;  // per leg, as stored
};

// Decrypts a recording and checks every audio record against pump_payload.
file_check check_recording_file(const std::string& path, const keyring& ring);

// True when `seqs` is exactly 0, 1, ..., count-1 (in any order, none twice).
bool exactly_first(const std::vector<std::uint16_t>& seqs, std::uint32_t count);

// A new database on the shared test server, named `prefix` plus a number
// unique within this process.
std::string fresh_database(const std::string& prefix);

std::unique_ptr<storage::database> open_db(const std::string& uri);

// Every call and recording row, read once the engine has stopped; fails the
// test unless there are exactly `total` of each.
struct final_rows {
  std::vector<storage::call_row> calls;
  std::vector<storage::recording_row> recordings;
};
final_rows rows_exactly(const std::string& uri, std::size_t total);

// "prefix-07": call ids that sort in the order the calls were made.
std::string call_name(const char* prefix, int i);
keyring open_keys(const std::string& uri);

// Every master key's bytes, to search files for them.
std::vector<std::string> key_bytes(const keyring& ring);

std::string read_file(const std::string& path);
bool contains(const std::string& haystack, const std::string& needle);

// ---------------------------------------------------------------------------
// `ccrec` as a child process, talking CTI over ZeroMQ
// ---------------------------------------------------------------------------

class child_process {
 public:
  // Runs `argv` (argv[0] a path) with the test secret in CCREC_KEK_SECRET
  // and stdout and stderr appended to `log_path`.
  child_process(const std::vector<std::string>& argv, const std::string& log_path);
  ~child_process();  // SIGKILLs and reaps a child still running
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig);
  // The exit status (128 + signal when killed), or nullopt if still running
  // after `limit`.
  std::optional<int> wait_exit(milliseconds limit);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

struct program_result {
  int status = -1;
  std::string output;  // stdout and stderr
};
// Runs the ccrec binary to completion (60 s at most) with `args`.
program_result run_ccrec(const std::vector<std::string>& args, const temp_dir& dir);

// The path of the ccrec binary under test.
std::string ccrec_binary();

// Writes a config file for a child engine and returns its path.
std::string write_engine_config(const temp_dir& dir, const std::string& db_uri,
                                std::uint16_t port_low, std::uint16_t port_high);

// Waits for a file to exist (and be non-empty).
bool wait_for_file(const std::string& path, milliseconds limit);

// The status file a child `ccrec serve` writes, or null when unreadable.
nlohmann::json read_status(const std::string& data_dir);

// Polls the status file until `pred` holds or `limit` passes.
template <class Pred>
std::pair<nlohmann::json, bool> wait_status_file(const std::string& data_dir, milliseconds limit,
                                                 Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto j = read_status(data_dir);
    if (!j.is_null() && pred(j))
      return {j, true};
    if (std::chrono::steady_clock::now() >= deadline)
      return {j, false};
    std::this_thread::sleep_for(milliseconds{200});
  }
}

// A PBX adapter's side of the CTI protocol: a ZeroMQ DEALER.
class cti_client {
 public:
  explicit cti_client(const std::string& endpoint);
  // Sends an event and waits (10 s at most) for its reply; fails the test
  // when none comes.
  nlohmann::json send(nlohmann::json event);
  nlohmann::json offered(const std::string& call_id);
  nlohmann::json answered(const std::string& call_id, const std::string& agent);
  nlohmann::json ended(const std::string& call_id);

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  std::int64_t seq_ = 0;
};

}  // namespace ccrec::test
