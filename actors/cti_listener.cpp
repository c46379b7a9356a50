#include "actors/cti_listener.hpp"

#include <vector>

#include <spdlog/spdlog.h>

#include "actors/cti_codec.hpp"
#include "actors/errors.hpp"
#include "messages/messages.hpp"

namespace ccrec {

namespace {

constexpr std::chrono::milliseconds poll_interval{50};
constexpr int max_events_per_wakeup = 256;

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

void cti_listener::act() {
  bool running = true;
  while (running) {
    zmq::pollitem_t items[] = {{static_cast<void*>(*sock_->socket), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 1, poll_interval);
    } catch (const zmq::error_t& e) {
      spdlog::warn("CTI listener: poll failed: {}", e.what());
    }
    for (int i = 0; i < max_events_per_wakeup && (items[0].revents & ZMQ_POLLIN); ++i) {
      serve_one();
      if (!(sock_->socket->get(zmq::sockopt::events) & ZMQ_POLLIN))
        break;
    }

    receive([&](shutdown_atom) { running = false; },
            caf::after(std::chrono::seconds(0)) >> [] {});
  }
  sock_->socket->close();
}

void cti_listener::serve_one() {
  std::vector<zmq::message_t> frames;
  do {
    zmq::message_t part;
    if (!sock_->socket->recv(part, zmq::recv_flags::dontwait))
      return;
    frames.push_back(std::move(part));
  } while (frames.back().more());
  ++counters_->received;

  // [identity][payload] from a DEALER; [identity][empty][payload] from REQ.
  const zmq::message_t* delimiter = nullptr;
  std::size_t payload_at = 1;
  if (frames.size() == 3 && frames[1].size() == 0) {
    delimiter = &frames[1];
    payload_at = 2;
  }
  if (frames.size() != payload_at + 1) {
    ++counters_->malformed;
    spdlog::warn("CTI: refused a message of {} frames (expected one JSON frame)",
                 frames.size() - 1);
    return reply(frames[0], delimiter,
                 encode_cti_reply(failure(0, "bad_json", "message has " +
                                                             std::to_string(frames.size() - 1) +
                                                             " frames; expected one JSON frame")));
  }

  auto text = frames[payload_at].to_string_view();
  auto ev = decode_cti_event(text, now_ms());
  if (!ev) {
    ++counters_->malformed;
    spdlog::warn("CTI: refused malformed event: {}", ev.error().message);
    return reply(frames[0], delimiter,
                 encode_cti_reply(failure(salvage_seq(text), ev.error().code, ev.error().message)));
  }

  cti_reply answer;
  request(call_manager_, timeout_, cti_atom::value, *ev)
      .receive([&](cti_reply& r) { answer = std::move(r); },
               [&](caf::error& err) {
                 answer = failure(ev->seq, "internal", ev->type + ": " + describe(err));
               });
  if (!answer.ok) {
    ++counters_->refused;
    spdlog::warn("CTI: {} for call '{}' refused: {}", ev->type, ev->call_id, answer.message);
  }
  reply(frames[0], delimiter, encode_cti_reply(answer));
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
