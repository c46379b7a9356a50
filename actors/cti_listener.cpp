#include "actors/cti_listener.hpp"

#include <optional>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/cti_codec.hpp"
#include "actors/errors.hpp"
#include "common/log_text.hpp"
#include "messages/messages.hpp"

namespace ccrec {

namespace {

constexpr std::chrono::milliseconds poll_interval{50};
constexpr std::size_t max_in_flight = 64;  // events handed on before the first answer is awaited

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

cti_reply failure(std::int64_t seq, const std::string& code, const std::string& message) {
  cti_reply r;
  r.seq = seq;
  r.ok = false;
  r.error = code;
  r.message = message;
  return r;
}

}  // namespace

result<std::shared_ptr<cti_socket>> bind_cti_socket(const std::string& endpoint) {
  auto out = std::make_shared<cti_socket>();
  try {
    out->context = std::make_unique<zmq::context_t>(1);
    out->socket = std::make_unique<zmq::socket_t>(*out->context, zmq::socket_type::router);
    out->socket->set(zmq::sockopt::linger, 0);
    out->socket->bind(endpoint);
    out->endpoint = out->socket->get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return make_error("cti_bind_failed",
                      "cannot bind the CTI endpoint " + endpoint + ": " + e.what());
  }
  return out;
}

cti_listener::cti_listener(caf::actor_config& cfg, std::shared_ptr<cti_socket> sock,
                           caf::actor call_manager, std::shared_ptr<cti_counters> counters,
                           std::chrono::milliseconds timeout)
    : caf::blocking_actor(cfg),
      sock_(std::move(sock)),
      call_manager_(std::move(call_manager)),
      counters_(std::move(counters)),
      timeout_(timeout) {}

// One event taken off the socket: either answered already (malformed), or
// handed to the call manager and waiting for its answer.
struct cti_listener::pending {
  using handle = decltype(std::declval<caf::blocking_actor&>().request(
      std::declval<caf::actor&>(), std::declval<std::chrono::milliseconds>(), cti_atom::value,
      std::declval<cti_event&>()));

  std::vector<zmq::message_t> frames;
  const zmq::message_t* delimiter = nullptr;
  std::string ready_reply;  // set: answer this without asking
  cti_event event;
  std::optional<handle> request;
};

void cti_listener::act() {
  bool running = true;
  while (running) {
    zmq::pollitem_t items[] = {{static_cast<void*>(*sock_->socket), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 1, poll_interval);
    } catch (const zmq::error_t& e) {
      spdlog::warn("CTI listener: poll failed: {}", e.what());
    }
    if (items[0].revents & ZMQ_POLLIN)
      serve_available();

    receive([&](shutdown_atom) { running = false; }, caf::after(std::chrono::seconds(0)) >> [] {});
  }
  sock_->socket->close();
}

// Hands on every event waiting (up to max_in_flight), then answers them in
// the order they came.
void cti_listener::serve_available() {
  std::vector<pending> batch;
  batch.reserve(max_in_flight);
  while (batch.size() < max_in_flight) {
    pending p;
    if (!take_event(p))
      break;
    batch.push_back(std::move(p));
  }
  for (auto& p : batch)
    answer(p);
}

// Reads one message; decodes it and asks the call manager, or prepares the
// refusal. False when nothing is waiting.
bool cti_listener::take_event(pending& p) {
  do {
    zmq::message_t part;
    // The parts of a message arrive together: nothing here means no message.
    if (!sock_->socket->recv(part, zmq::recv_flags::dontwait))
      return false;
    p.frames.push_back(std::move(part));
  } while (p.frames.back().more());
  ++counters_->received;

  // [identity][payload] from a DEALER; [identity][empty][payload] from REQ.
  std::size_t payload_at = 1;
  if (p.frames.size() == 3 && p.frames[1].size() == 0) {
    p.delimiter = &p.frames[1];
    payload_at = 2;
  }
  if (p.frames.size() != payload_at + 1) {
    ++counters_->malformed;
    const auto parts = std::to_string(p.frames.size() - 1);
    spdlog::warn("CTI: refused a message of {} frames (expected one JSON frame)", parts);
    p.ready_reply = encode_cti_reply(
        failure(0, "bad_json", "message has " + parts + " frames; expected one JSON frame"));
    return true;
  }

  auto text = p.frames[payload_at].to_string_view();
  auto ev = decode_cti_event(text, now_ms());
  if (!ev) {
    ++counters_->malformed;
    spdlog::warn("CTI: refused malformed event: {}", ev.error().message);
    p.ready_reply =
        encode_cti_reply(failure(salvage_seq(text), ev.error().code, ev.error().message));
    return true;
  }
  p.event = std::move(*ev);
  p.request.emplace(request(call_manager_, timeout_, cti_atom::value, p.event));
  return true;
}

void cti_listener::answer(pending& p) {
  if (!p.request)
    return reply(p.frames[0], p.delimiter, p.ready_reply);

  cti_reply result;
  const auto& ev = p.event;
  p.request->receive([&](cti_reply& r) { result = std::move(r); },
                     [&](caf::error& err) {
                       result = failure(ev.seq, "internal",
                                        ev.type + ": " + log_safe(describe(err), 256));
                     });
  if (!result.ok) {
    ++counters_->refused;
    spdlog::warn("CTI: {} for call '{}' refused: {}", ev.type, log_safe(ev.call_id),
                 result.message);
  }
  reply(p.frames[0], p.delimiter, encode_cti_reply(result));
}

void cti_listener::reply(const zmq::message_t& identity, const zmq::message_t* delimiter,
                         const std::string& payload) {
  try {
    sock_->socket->send(zmq::buffer(identity.data(), identity.size()), zmq::send_flags::sndmore);
    if (delimiter != nullptr)
      sock_->socket->send(zmq::message_t{}, zmq::send_flags::sndmore);
    sock_->socket->send(zmq::buffer(payload), zmq::send_flags::none);
  } catch (const zmq::error_t& e) {
    spdlog::warn("CTI: could not send a reply: {}", e.what());
  }
}

}  // namespace ccrec
