#include "tests/simulators/fake_engine.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <stdexcept>
#include <zmq_addon.hpp>

namespace ccrec::test {
namespace {

constexpr int receive_buffer_bytes = 4 * 1024 * 1024;
constexpr int poll_interval_us = 20000;
constexpr std::size_t max_datagram = 65536;
constexpr std::chrono::milliseconds engine_poll{20};

}  // namespace

// ---- udp_collector ----------------------------------------------------------

udp_collector::udp_collector() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    throw std::runtime_error("udp_collector: socket failed");
  // Root may exceed rmem_max; a burst at high speed must not be dropped.
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer_bytes, sizeof receive_buffer_bytes);
  timeval tv{0, poll_interval_us};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("udp_collector: bind failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { loop(); });
}

udp_collector::~udp_collector() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
}

void udp_collector::loop() {
  std::vector<std::uint8_t> buf(max_datagram);
  while (!stop_) {
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0)
      continue;  // timeout: look at stop_ again
    datagram d{{buf.begin(), buf.begin() + n}, std::chrono::steady_clock::now()};
    std::lock_guard<std::mutex> lock(mutex_);
    received_.push_back(std::move(d));
  }
}

std::vector<datagram> udp_collector::datagrams() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return received_;
}

std::size_t udp_collector::count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return received_.size();
}

bool udp_collector::wait_for(std::size_t n, std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (count() < n) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// ---- fake_engine ------------------------------------------------------------

fake_engine::fake_engine(fake_engine_options options)
    : options_(std::move(options)), router_(context_, zmq::socket_type::router) {
  router_.set(zmq::sockopt::linger, 0);
  router_.bind("tcp://127.0.0.1:*");
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  thread_ = std::thread([this] { loop(); });
}

fake_engine::~fake_engine() {
  stop_ = true;
  thread_.join();
}

std::vector<nlohmann::json> fake_engine::events() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_;
}

std::vector<std::string> fake_engine::event_types() const {
  std::vector<std::string> types;
  for (const auto& e : events())
    types.push_back(e.value("type", ""));
  return types;
}

call_media* fake_engine::media_for(const std::string& call_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = media_.find(call_id);
  return it == media_.end() ? nullptr : it->second.get();
}

void fake_engine::loop() {
  bool first = true;
  while (!stop_) {
    std::vector<zmq::pollitem_t> items{{router_.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, engine_poll);
    if (!(items[0].revents & ZMQ_POLLIN))
      continue;

    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(router_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
      continue;
    }
    if (frames.size() != 2)
      continue;
    auto event = nlohmann::json::parse(frames[1].to_string(), nullptr, false);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back(event);
    }
    if (options_.silent)
      continue;
    if (first && options_.first_reply_delay.count() > 0) {
      std::this_thread::sleep_for(options_.first_reply_delay);
    }
    first = false;

    const std::string reply = answer(event).dump();
    router_.send(frames[0], zmq::send_flags::sndmore);
    router_.send(zmq::buffer(reply), zmq::send_flags::none);
  }
}

nlohmann::json fake_engine::answer(const nlohmann::json& event) {
  const std::string type = event.value("type", "");
  nlohmann::json ack = {{"v", 1}, {"type", "ack"}, {"seq", event.value("seq", 0)}, {"ok", true}};
  if (type == options_.refuse_type) {
    ack["ok"] = false;
    ack["error"] = "bad_state";
    ack["message"] = type + ": refused by the test";
    return ack;
  }
  if (type != "call_answered")
    return ack;
  if (!options_.record) {
    ack["record"] = false;
    return ack;
  }

  auto media = std::make_unique<call_media>();
  media->recording_id = "r-test-" + std::to_string(++recordings_);
  media->caller = std::make_unique<udp_collector>();
  media->agent = std::make_unique<udp_collector>();
  if (options_.screen)
    media->screen = std::make_unique<udp_collector>();

  ack["record"] = true;
  ack["recording_id"] = media->recording_id;
  ack["schedule"] = "all-calls";
  ack["media"] = {{"caller", {{"host", options_.media_host}, {"port", media->caller->port()}}},
                  {"agent", {{"host", options_.media_host}, {"port", media->agent->port()}}}};
  ack["screen"] = options_.screen ? nlohmann::json{{"host", options_.media_host},
                                                   {"port", media->screen->port()}}
                                  : nlohmann::json();
  std::lock_guard<std::mutex> lock(mutex_);
  media_[event.value("call_id", "")] = std::move(media);
  return ack;
}

}  // namespace ccrec::test
