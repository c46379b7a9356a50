// A PBX event cannot forge a line of the engine's log: the values it sends
// reach the log escaped and shortened, over the real ZeroMQ link.
#include <catch2/catch.hpp>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "tests/actors/engine_harness.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

constexpr int receive_timeout_ms = 10000;

// Sends the log to a string while it lives, then puts the old logger back.
class captured_log {
 public:
  captured_log() : old_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
    sink->set_pattern("%v");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink));
  }
  ~captured_log() { spdlog::set_default_logger(old_); }

  // The lines that contain `part`.
  std::vector<std::string> lines_with(const std::string& part) const {
    std::vector<std::string> out;
    std::istringstream in{text_.str()};
    for (std::string line; std::getline(in, line);) {
      if (line.find(part) != std::string::npos)
        out.push_back(line);
    }
    return out;
  }

 private:
  std::shared_ptr<spdlog::logger> old_;
  std::ostringstream text_;
};

std::string exchange(zmq::socket_t& socket, const std::string& text) {
  REQUIRE(socket.send(zmq::buffer(text), zmq::send_flags::none));
  zmq::message_t reply;
  REQUIRE(socket.recv(reply).has_value());
  return reply.to_string();
}

}  // namespace

TEST_CASE("CTI values cannot forge log lines", "[engine][zmq][log_text]") {
  captured_log log;
  temp_dir dir;
  auto cfg = test_config(dir);
  cfg.cti_endpoint = "tcp://127.0.0.1:*";
  actor_env env;
  auto eng = start_engine(env.sys(), cfg);

  zmq::context_t context{1};
  zmq::socket_t pbx{context, zmq::socket_type::dealer};
  pbx.set(zmq::sockopt::linger, 0);
  pbx.set(zmq::sockopt::rcvtimeo, receive_timeout_ms);
  pbx.connect(eng->cti_endpoint());

  auto type_reply = nlohmann::json::parse(exchange(
      pbx, R"({"v":1,"seq":1,"type":"x\n2026-12-04T00:00:00.000 info FAKE LINE\u001b[31m"})"));
  CHECK(type_reply.at("message") ==
        "event: unknown event type 'x\\n2026-12-04T00:00:00.000 info FAKE LINE\\x1b[31m'");
  exchange(pbx,
           R"({"v":1,"seq":2,"type":"call_offered","call_id":"c1","direction":"in\nFAKE DIR"})");
  exchange(pbx,
           R"({"v":1,"seq":3,"type":"recording_control","call_id":"c1","action":"go\rFAKE ACT"})");
  eng->stop();

  CHECK(log.lines_with("FAKE") ==
        std::vector<std::string>{
            "CTI: refused malformed event: event: unknown event type "
            "'x\\n2026-12-04T00:00:00.000 info FAKE LINE\\x1b[31m'",
            "CTI: refused malformed event: call_offered: field 'direction' must be inbound, "
            "outbound or internal, not 'in\\nFAKE DIR'",
            "CTI: refused malformed event: recording_control: field 'action' must be start, "
            "stop, pause or resume, not 'go\\rFAKE ACT'",
        });
  CHECK(log.lines_with("\x1b").empty());
}
