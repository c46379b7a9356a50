// fake_engine: the engine's side of the wire, real sockets, for the
// simulator's tests.
//
// A ZeroMQ ROUTER bound on tcp://127.0.0.1:* (port read back through
// ZMQ_LAST_ENDPOINT) that records every event and acks it, and answers
// call_answered with the ports of fresh UDP sockets bound on 127.0.0.1:0
// (one per leg, plus one for the screen when asked), whose datagrams the
// test reads. Behaviour knobs make it refuse an event type, stay silent,
// delay its first reply, or hand out a non-loopback media host.
// The test thread reads; the engine and collectors run threads of their own.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

namespace ccrec::test {

struct datagram {
  std::vector<std::uint8_t> bytes;
  std::chrono::steady_clock::time_point arrived;
};

// A UDP socket bound on 127.0.0.1:0 with a thread collecting what arrives.
class udp_collector {
 public:
  udp_collector();
  ~udp_collector();
  udp_collector(const udp_collector&) = delete;
  udp_collector& operator=(const udp_collector&) = delete;

  std::uint16_t port() const { return port_; }
  std::vector<datagram> datagrams() const;
  std::size_t count() const;
  // Waits until at least `n` datagrams arrived or `limit` passed.
  bool wait_for(std::size_t n, std::chrono::milliseconds limit) const;

 private:
  void loop();
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<datagram> received_;
  std::thread thread_;
};

struct fake_engine_options {
  bool record = true;
  bool screen = false;
  std::string refuse_type;  // event type answered ok:false, "bad_state"
  bool silent = false;      // never reply
  std::chrono::milliseconds first_reply_delay{0};
  std::string media_host = "127.0.0.1";
};

struct call_media {
  std::string recording_id;
  std::unique_ptr<udp_collector> caller;
  std::unique_ptr<udp_collector> agent;
  std::unique_ptr<udp_collector> screen;  // null unless options.screen
};

class fake_engine {
 public:
  explicit fake_engine(fake_engine_options options = {});
  ~fake_engine();
  fake_engine(const fake_engine&) = delete;
  fake_engine& operator=(const fake_engine&) = delete;

  const std::string& endpoint() const { return endpoint_; }
  std::vector<nlohmann::json> events() const;
  std::vector<std::string> event_types() const;
  // Media sockets handed out for `call_id`; null when none were.
  call_media* media_for(const std::string& call_id);

 private:
  void loop();
  nlohmann::json answer(const nlohmann::json& event);

  fake_engine_options options_;
  zmq::context_t context_{1};
  zmq::socket_t router_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<nlohmann::json> events_;
  std::map<std::string, std::unique_ptr<call_media>> media_;
  int recordings_ = 0;
  std::thread thread_;
};

}  // namespace ccrec::test
