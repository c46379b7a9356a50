// Malformed CTI over a real ZeroMQ socket: each bad message gets exactly one
// refusal, and the link keeps working for good ones.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "tests/actors/engine_harness.hpp"

using namespace ccrec;
using namespace ccrec::test;
using json = nlohmann::json;

namespace {

constexpr int receive_timeout_ms = 10000;
constexpr std::chrono::milliseconds quiet_period{300};

// A PBX adapter's end of the CTI link.
class cti_client {
 public:
  explicit cti_client(const std::string& endpoint) : socket_(context_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, receive_timeout_ms);
    socket_.connect(endpoint);
  }

  void send(const std::string& text) {
    REQUIRE(socket_.send(zmq::buffer(text), zmq::send_flags::none));
  }

  void send_frames(const std::vector<std::string>& frames) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      REQUIRE(socket_.send(zmq::buffer(frames[i]), flags));
    }
  }

  // The next reply, which must be a single frame of JSON.
  json receive() {
    zmq::message_t msg;
    auto got = socket_.recv(msg);
    REQUIRE(got.has_value());
    REQUIRE_FALSE(msg.more());
    auto parsed = json::parse(msg.to_string(), nullptr, false);
    REQUIRE_FALSE(parsed.is_discarded());
    return parsed;
  }

  // True when nothing more arrives within the quiet period.
  bool quiet() {
    zmq::pollitem_t items[] = {{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 1, quiet_period);
    return (items[0].revents & ZMQ_POLLIN) == 0;
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
};

void require_refusal(const json& reply, std::int64_t seq, const std::string& code,
                     const std::string& message) {
  INFO(reply.dump());
  CHECK(reply.at("v") == 1);
  CHECK(reply.at("type") == "ack");
  CHECK(reply.at("seq") == seq);
  CHECK(reply.at("ok") == false);
  CHECK(reply.at("error") == code);
  CHECK(reply.at("message") == message);
}

}  // namespace

TEST_CASE("malformed CTI over ZeroMQ is refused once each, the link goes on", "[engine][zmq]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  cfg.cti_endpoint = "tcp://127.0.0.1:*";
  actor_env env;
  auto eng = start_engine(env.sys(), cfg);
  REQUIRE_THAT(eng->cti_endpoint(), Catch::StartsWith("tcp://127.0.0.1:"));
  REQUIRE(eng->cti_endpoint() != "tcp://127.0.0.1:*");

  cti_client pbx{eng->cti_endpoint()};

  pbx.send(std::string{"\x00\x01\xfe\xff garbage \x80", 13});
  require_refusal(pbx.receive(), 0, "bad_json", "message is not valid JSON");
  CHECK(pbx.quiet());

  pbx.send_frames({R"({"v":1,"type":"agent_login","seq":1,"agent":"a1"})", "second frame"});
  require_refusal(pbx.receive(), 0, "bad_json", "message has 2 frames; expected one JSON frame");
  CHECK(pbx.quiet());

  pbx.send(R"({"v":1,"type":"call_offered","seq":5,)");
  require_refusal(pbx.receive(), 0, "bad_json", "message is not valid JSON");
  CHECK(pbx.quiet());

  pbx.send(R"({"v":1,"type":"call_answered","seq":77,"call_id":"c1"})");
  require_refusal(pbx.receive(), 77, "bad_event", "call_answered: missing required field 'agent'");
  CHECK(pbx.quiet());

  std::string oversized = R"({"v":1,"type":"agent_login","seq":55,"agent":"a1","pbx":")";
  oversized += std::string(100 * 1024, 'p') + "\"}";
  pbx.send(oversized);
  require_refusal(pbx.receive(), 55, "bad_json",
                  "message of " + std::to_string(oversized.size()) +
                      " bytes is larger than the limit of 65536");
  CHECK(pbx.quiet());

  // A whole call still goes through, in order, one reply per event.
  pbx.send(R"({"v":1,"type":"agent_login","seq":100,"agent":"a1"})");
  pbx.send(R"({"v":1,"type":"call_offered","seq":101,"call_id":"z1","direction":"inbound"})");
  pbx.send(R"({"v":1,"type":"call_answered","seq":102,"call_id":"z1","agent":"a1"})");
  pbx.send(R"({"v":1,"type":"call_ended","seq":103,"call_id":"z1"})");
  auto login = pbx.receive();
  auto offered = pbx.receive();
  auto answered = pbx.receive();
  auto ended = pbx.receive();
  CHECK(pbx.quiet());

  CHECK(login == json::parse(R"({"v":1,"type":"ack","seq":100,"ok":true,"record":false})"));
  CHECK(offered == json::parse(R"({"v":1,"type":"ack","seq":101,"ok":true,"record":false})"));
  CHECK(ended == json::parse(R"({"v":1,"type":"ack","seq":103,"ok":true,"record":false})"));
  INFO(answered.dump());
  CHECK(answered.at("seq") == 102);
  CHECK(answered.at("ok") == true);
  REQUIRE(answered.at("record") == true);
  CHECK(answered.at("schedule") == "record-all");
  CHECK(answered.at("screen").is_null());
  const auto& media = answered.at("media");
  REQUIRE(media.size() == 2);
  CHECK(media.at("caller").at("host") == "127.0.0.1");
  CHECK(media.at("agent").at("host") == "127.0.0.1");
  CHECK(media.at("caller").at("port") != media.at("agent").at("port"));

  auto id = answered.at("recording_id").get<std::string>();
  auto row = wait_final_recording(cfg.database_uri(), id);
  REQUIRE(row);
  CHECK(row->status == "complete");

  // Five malformed messages: received by the engine, rejected, never events.
  auto status = eng->status();
  CHECK(status.cti_received == 9);
  CHECK(status.cti_events == 4);
  CHECK(status.cti_rejected == 5);
  CHECK(status.recordings_started == 1);
}

TEST_CASE("a REQ client with its empty delimiter frame is answered too", "[engine][zmq]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  cfg.cti_endpoint = "tcp://127.0.0.1:*";
  actor_env env;
  auto eng = start_engine(env.sys(), cfg);

  zmq::context_t ctx{1};
  zmq::socket_t req{ctx, zmq::socket_type::req};
  req.set(zmq::sockopt::linger, 0);
  req.set(zmq::sockopt::rcvtimeo, receive_timeout_ms);
  req.connect(eng->cti_endpoint());

  REQUIRE(
      req.send(zmq::buffer(std::string{R"({"v":1,"type":"agent_logout","seq":9,"agent":"a1"})"}),
               zmq::send_flags::none));
  zmq::message_t msg;
  REQUIRE(req.recv(msg).has_value());
  CHECK(json::parse(msg.to_string()) ==
        json::parse(R"({"v":1,"type":"ack","seq":9,"ok":true,"record":false})"));

  REQUIRE(req.send(zmq::buffer(std::string{"nope"}), zmq::send_flags::none));
  REQUIRE(req.recv(msg).has_value());
  auto refused = json::parse(msg.to_string());
  CHECK(refused.at("ok") == false);
  CHECK(refused.at("error") == "bad_json");
}
