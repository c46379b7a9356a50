#include "simulators/cti_client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "simulators/loopback.hpp"

namespace ccrec::pbxsim {
namespace {

constexpr int max_port = 65535;

result<std::optional<cti_target>> parse_target(const nlohmann::json& reply, const char* where,
                                               const nlohmann::json& node) {
  if (node.is_null())
    return std::optional<cti_target>{};
  const bool valid = node.is_object() && node.contains("host") && node["host"].is_string() &&
                     node.contains("port") && node["port"].is_number_integer() &&
                     node["port"].get<int>() > 0 && node["port"].get<int>() <= max_port;
  if (!valid) {
    return make_error("bad_reply", std::string("reply has a malformed '") + where +
                                       "' (want {host, port}): " + reply.dump());
  }
  return std::optional<cti_target>{
      cti_target{node["host"].get<std::string>(), node["port"].get<std::uint16_t>()}};
}

std::string string_field(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

}  // namespace

std::int64_t epoch_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

result<cti_ack> parse_cti_ack(const std::string& frame) {
  auto j = nlohmann::json::parse(frame, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error("bad_reply", "reply is not a JSON object: " + frame.substr(0, 200));
  }
  if (!j.contains("seq") || !j["seq"].is_number_unsigned() || !j.contains("ok") ||
      !j["ok"].is_boolean()) {
    return make_error("bad_reply",
                      "reply lacks an integer 'seq' or a boolean 'ok': " + frame.substr(0, 200));
  }

  cti_ack ack;
  ack.seq = j["seq"].get<std::uint64_t>();
  ack.ok = j["ok"].get<bool>();
  ack.error = string_field(j, "error");
  ack.message = string_field(j, "message");
  ack.recording_id = string_field(j, "recording_id");
  ack.schedule = string_field(j, "schedule");
  ack.record = j.contains("record") && j["record"].is_boolean() && j["record"].get<bool>();

  if (j.contains("media") && j["media"].is_object()) {
    const auto& media = j["media"];
    for (const char* leg : {"caller", "agent"}) {
      if (!media.contains(leg))
        continue;
      auto target = parse_target(j, leg, media[leg]);
      if (!target)
        return target.error();
      (std::string(leg) == "caller" ? ack.caller : ack.agent) = *target;
    }
  }
  if (j.contains("screen")) {
    auto target = parse_target(j, "screen", j["screen"]);
    if (!target)
      return target.error();
    ack.screen = *target;
  }
  ack.raw = std::move(j);
  return ack;
}

result<std::unique_ptr<cti_client>> cti_client::connect(const std::string& endpoint,
                                                        std::chrono::milliseconds timeout,
                                                        zmq::context_t* context) {
  if (auto ok = check_cti_endpoint(endpoint); !ok)
    return ok.error();

  try {
    std::unique_ptr<zmq::context_t> owned;
    if (context == nullptr) {
      owned = std::make_unique<zmq::context_t>(1);
      context = owned.get();
    }
    return std::unique_ptr<cti_client>(
        new cti_client(endpoint, timeout, std::move(owned), *context));
  } catch (const zmq::error_t& e) {
    return make_error("cti_connect_failed",
                      "cannot connect to CTI endpoint " + endpoint + ": " + e.what());
  }
}

cti_client::cti_client(std::string endpoint, std::chrono::milliseconds timeout,
                       std::unique_ptr<zmq::context_t> owned, zmq::context_t& context)
    : endpoint_(std::move(endpoint)),
      timeout_(timeout),
      owned_context_(std::move(owned)),
      socket_(context, zmq::socket_type::dealer) {
  // Unsent events must not keep the process alive after a failed run.
  socket_.set(zmq::sockopt::linger, 0);
  if (endpoint_.find('[') != std::string::npos)
    socket_.set(zmq::sockopt::ipv6, 1);
  socket_.connect(endpoint_);
}

cti_client::~cti_client() = default;

std::string cti_client::describe_timeout(std::uint64_t seq, const std::string& type,
                                         std::chrono::milliseconds waited) const {
  char secs[32];
  std::snprintf(secs, sizeof secs, "%g", static_cast<double>(waited.count()) / 1000.0);
  return "engine did not answer event seq " + std::to_string(seq) + " (" + type + ") within " +
         secs + " s at " + endpoint_;
}

result<cti_ack> cti_client::send(nlohmann::json event) {
  const std::string type = event.value("type", std::string("?"));
  std::lock_guard<std::mutex> lock(mutex_);
  const std::uint64_t seq = next_seq_++;
  event["v"] = cti_protocol_version;
  event["seq"] = seq;
  if (!event.contains("ts"))
    event["ts"] = epoch_ms_now();
  const std::string text = event.dump();

  try {
    // DEALER queues for a connecting peer; "would block" means the queue is
    // full because the engine has not been reachable for a long while.
    if (!socket_.send(zmq::buffer(text), zmq::send_flags::dontwait)) {
      return make_error("cti_send_failed", "cannot queue event seq " + std::to_string(seq) + " (" +
                                               type + ") for " + endpoint_ +
                                               ": send queue full, engine unreachable");
    }
    return await_reply(seq, type);
  } catch (const zmq::error_t& e) {
    return make_error("cti_send_failed", "event seq " + std::to_string(seq) + " (" + type +
                                             ") to " + endpoint_ + ": " + e.what());
  }
}

void cti_client::stop_when(const std::atomic<bool>* stop, std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(mutex_);
  stop_ = stop;
  stop_grace_ = grace;
}

std::chrono::milliseconds cti_client::current_wait() const {
  return unanswered_ ? std::min(timeout_, cti_unanswered_wait) : timeout_;
}

// When the reply to an event sent at `start` is given up: the full timeout,
// the short one while the engine seems gone, and never past the stop
// deadline once a stop was asked for.
std::chrono::steady_clock::time_point cti_client::wait_deadline(
    std::chrono::steady_clock::time_point start) {
  auto deadline = start + current_wait();
  if (stop_ == nullptr || !stop_->load())
    return deadline;
  if (!stop_deadline_)
    stop_deadline_ = std::chrono::steady_clock::now() + stop_grace_;
  return std::min(deadline, *stop_deadline_);
}

result<cti_ack> cti_client::await_reply(std::uint64_t seq, const std::string& type) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const auto deadline = wait_deadline(start);
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline && stop_deadline_ && deadline == *stop_deadline_)
      return make_error("cti_stopped", "stopping: no reply to event seq " + std::to_string(seq) +
                                           " (" + type + ") from " + endpoint_ +
                                           " before the stop deadline");
    if (now >= deadline) {
      auto waited = current_wait();
      unanswered_ = true;
      return make_error("cti_timeout", describe_timeout(seq, type, waited));
    }
    // Rounded up: zmq_poll counts whole milliseconds and may wake a little
    // early. In slices, so that a stop is noticed.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);

    std::vector<zmq::pollitem_t> items{{socket_.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, std::min(left, cti_stop_check));
    if (!(items[0].revents & ZMQ_POLLIN))
      continue;

    zmq::message_t frame;
    if (!socket_.recv(frame, zmq::recv_flags::dontwait))
      continue;
    auto ack = parse_cti_ack(frame.to_string());
    unanswered_ = false;  // whatever it says, the engine is answering again
    if (!ack)
      return ack.error().with_context("reply to event seq " + std::to_string(seq));
    if (ack->seq < seq) {
      spdlog::warn("dropping late CTI reply seq {} (waiting for {})", ack->seq, seq);
      continue;
    }
    if (ack->seq > seq) {
      return make_error("bad_reply", "engine answered seq " + std::to_string(ack->seq) +
                                         " while event seq " + std::to_string(seq) + " (" + type +
                                         ") was outstanding");
    }
    return ack;
  }
}

}  // namespace ccrec::pbxsim
