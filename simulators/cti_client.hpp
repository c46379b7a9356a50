// cti_client: the adapter side of the CTI protocol (docs/cti-protocol.md).
//
// One ZeroMQ DEALER socket connected to the engine's ROUTER. send() stamps
// an event with `v`, the next `seq` and `ts`, sends it as one JSON frame and
// waits for the reply carrying the same `seq`, up to the timeout.
//
// Thread safety: send() may be called from any number of call threads. A
// mutex is held across each send and its receive, so events go out one at a
// time on a single connection. That is what one PBX adapter looks like to
// the engine (one identity, events in one order, e.g. agent_login always
// before that agent's calls); events are small and the engine answers in
// microseconds, so the serialisation costs nothing worth having a socket per
// thread for. A reply that arrives after its event timed out is recognised
// by its older `seq` and dropped by the next send().
//
// Once an event times out, the engine is taken for gone: later events wait
// at most cti_unanswered_wait for their reply, so that ending many calls
// does not cost the full timeout each, one after another. Any reply (even a
// late one) shows the engine is back and restores the full timeout. After
// stop_when()'s flag turns true, every wait ends at most `grace` after the
// first event that saw it: a stopping run ends within a bounded time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "common/result.hpp"

namespace ccrec::pbxsim {

inline constexpr int cti_protocol_version = 1;
inline constexpr std::chrono::milliseconds cti_default_timeout{5000};
// How long an event waits once an earlier one went unanswered: long enough
// for an engine that merely paused to answer, short enough that ending a
// hundred calls to a gone engine takes seconds, not minutes.
inline constexpr std::chrono::milliseconds cti_unanswered_wait{250};
// How often a wait looks at the stop flag.
inline constexpr std::chrono::milliseconds cti_stop_check{50};

struct cti_target {
  std::string host;
  std::uint16_t port = 0;
};

// A parsed reply. `ok == false` is the engine refusing the event; transport
// failures and timeouts are errors of send() instead.
struct cti_ack {
  std::uint64_t seq = 0;
  bool ok = false;
  std::string error;    // engine's error code when !ok
  std::string message;  // engine's explanation when !ok
  bool record = false;
  std::string recording_id;
  std::string schedule;
  std::optional<cti_target> caller;  // media.caller
  std::optional<cti_target> agent;   // media.agent
  std::optional<cti_target> screen;  // null unless the schedule records the screen
  nlohmann::json raw;                // the whole reply, for logs and tests
};

// Parses one reply frame. Error code "bad_reply" when it is not a JSON
// object with an integer `seq` and a boolean `ok`, or a media entry is
// malformed.
result<cti_ack> parse_cti_ack(const std::string& frame);

class cti_client {
 public:
  // Checks the endpoint (loopback only) and connects. With `context` null
  // the client owns a context; pass one to share inproc:// with a peer.
  // Errors: "refused_endpoint", "cti_connect_failed".
  static result<std::unique_ptr<cti_client>> connect(
      const std::string& endpoint, std::chrono::milliseconds timeout = cti_default_timeout,
      zmq::context_t* context = nullptr);

  ~cti_client();
  cti_client(const cti_client&) = delete;
  cti_client& operator=(const cti_client&) = delete;

  // Sends `event` (an object with at least "type") and returns the engine's
  // reply. Errors: "cti_timeout" ("engine did not answer event seq N (type)
  // within T s at ENDPOINT"), "cti_send_failed", "bad_reply", and
  // "cti_stopped" when the stop deadline passed before the reply came.
  result<cti_ack> send(nlohmann::json event);

  // From when `*stop` turns true, replies are awaited for at most `grace`
  // in all (see above). `stop` must outlive the client; call before send().
  void stop_when(const std::atomic<bool>* stop, std::chrono::milliseconds grace);

  const std::string& endpoint() const { return endpoint_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  cti_client(std::string endpoint, std::chrono::milliseconds timeout,
             std::unique_ptr<zmq::context_t> owned, zmq::context_t& context);

  result<cti_ack> await_reply(std::uint64_t seq, const std::string& type);
  std::chrono::steady_clock::time_point wait_deadline(std::chrono::steady_clock::time_point start);
  std::string describe_timeout(std::uint64_t seq, const std::string& type,
                               std::chrono::milliseconds waited) const;
  std::chrono::milliseconds current_wait() const;

  std::string endpoint_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<zmq::context_t> owned_context_;
  zmq::socket_t socket_;
  std::mutex mutex_;  // guards socket_ and next_seq_
  std::uint64_t next_seq_ = 1;
  bool unanswered_ = false;  // the last event timed out and no reply came since
  const std::atomic<bool>* stop_ = nullptr;
  std::chrono::milliseconds stop_grace_{0};
  std::optional<std::chrono::steady_clock::time_point> stop_deadline_;
};

// Milliseconds since the Unix epoch, for the events' `ts`.
std::int64_t epoch_ms_now();

}  // namespace ccrec::pbxsim
