// cti_listener — the engine's CTI door: a ZeroMQ ROUTER socket that PBX
// adapters connect to (docs/cti-protocol.md).
//
// Owns:      the bound ROUTER socket. A blocking actor on its own thread,
//            because it waits on ZeroMQ.
// Takes:     (shutdown_atom)  stop taking events and end
// Sends:     (cti_atom, cti_event) to the call manager as a request; the
//            answer goes back to the adapter that sent the event.
// Pipelining: every event already waiting on the socket (up to
//            max_in_flight) is handed to the call manager before the first
//            answer is awaited, so a call_answered that waits for files and
//            ports does not hold back the events behind it. Answers are
//            still sent in the order the events came, as the protocol says;
//            the call manager takes them in that order too (one mailbox).
// Failure:   malformed input (not JSON, missing or mistyped fields, more than
//            one frame, over 64 KiB) is answered with ok=false naming what
//            was wrong, logged at warning and counted; nothing else changes.
//            A call manager that does not answer in time gets the adapter an
//            "internal" error rather than silence.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/all.hpp>
#include <zmq.hpp>

#include "common/result.hpp"

namespace ccrec {

struct cti_counters {
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> malformed{0};
  std::atomic<std::uint64_t> refused{0};  // decoded, but answered ok=false
};

// A bound ROUTER socket, made before the listener starts so that a bind
// failure (address in use, bad endpoint) stops the engine at start.
struct cti_socket {
  std::unique_ptr<zmq::context_t> context;
  std::unique_ptr<zmq::socket_t> socket;
  std::string endpoint;  // as bound (port resolved for "tcp://...:*")
};

result<std::shared_ptr<cti_socket>> bind_cti_socket(const std::string& endpoint);

class cti_listener : public caf::blocking_actor {
 public:
  cti_listener(caf::actor_config& cfg, std::shared_ptr<cti_socket> sock, caf::actor call_manager,
               std::shared_ptr<cti_counters> counters, std::chrono::milliseconds timeout);

  void act() override;

 private:
  struct pending;

  bool take_event(pending& out);
  void answer(pending& p);
  void serve_available();
  void reply(const zmq::message_t& identity, const zmq::message_t* delimiter,
             const std::string& payload);

  std::shared_ptr<cti_socket> sock_;
  caf::actor call_manager_;
  std::shared_ptr<cti_counters> counters_;
  std::chrono::milliseconds timeout_;
};

}  // namespace ccrec
