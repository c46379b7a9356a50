// The CTI client and the loopback guards, against a real ROUTER socket.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>

#include "simulators/cti_client.hpp"
#include "simulators/loopback.hpp"
#include "tests/simulators/fake_engine.hpp"

using namespace ccrec;
using namespace ccrec::pbxsim;
using namespace std::chrono_literals;

TEST_CASE("only loopback CTI endpoints are accepted", "[cti]") {
  for (const char* ok : {"tcp://127.0.0.1:5570", "tcp://localhost:1", "tcp://[::1]:65535",
                         "ipc:///tmp/ccrec.cti", "inproc://cti"}) {
    INFO(ok);
    CHECK(check_cti_endpoint(ok).ok());
  }
  for (const char* bad :
       {"tcp://10.0.0.1:5570", "tcp://192.168.1.5:5570", "tcp://example.com:1",
        "tcp://127.0.0.2:5570", "tcp://*:5570", "tcp://127.0.0.1:0", "tcp://127.0.0.1:70000",
        "tcp://127.0.0.1:", "tcp://127.0.0.1", "ipc://", "udp://127.0.0.1:5570", ""}) {
    INFO(bad);
    auto r = check_cti_endpoint(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "refused_endpoint");
    CHECK(r.error().message.find(std::string("'") + bad + "'") != std::string::npos);
  }
  auto refused = cti_client::connect("tcp://10.1.2.3:5570");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "refused_endpoint");
}

TEST_CASE("media destinations must be loopback", "[cti]") {
  auto v4 = loopback_destination("127.0.0.1", 40002);
  REQUIRE(v4.ok());
  CHECK(v4->family == AF_INET);
  CHECK(v4->text == "127.0.0.1:40002");
  CHECK(loopback_destination("127.9.8.7", 1)->text == "127.9.8.7:1");
  CHECK(loopback_destination("", 7)->text == "127.0.0.1:7");
  CHECK(loopback_destination("localhost", 7)->text == "127.0.0.1:7");
  auto v6 = loopback_destination("::1", 40004);
  REQUIRE(v6.ok());
  CHECK(v6->family == AF_INET6);
  CHECK(v6->text == "[::1]:40004");

  for (const char* bad : {"10.0.0.5", "192.0.2.21", "0.0.0.0", "::", "2001:db8::1",
                          "::ffff:10.0.0.1", "engine.example"}) {
    INFO(bad);
    auto r = loopback_destination(bad, 40000);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "refused_destination");
    CHECK(r.error().message.find(bad) != std::string::npos);
  }
  CHECK(loopback_destination("127.0.0.1", 0).error().code == "bad_port");
}

TEST_CASE("replies are parsed, malformed ones are errors", "[cti]") {
  auto full = parse_cti_ack(
      R"({"v":1,"type":"ack","seq":12,"ok":true,"record":true,"recording_id":"r-0a1b",)"
      R"("schedule":"all-calls","media":{"caller":{"host":"127.0.0.1","port":40002},)"
      R"("agent":{"host":"127.0.0.1","port":40004}},"screen":{"host":"127.0.0.1","port":40006}})");
  REQUIRE(full.ok());
  CHECK(full->seq == 12);
  CHECK(full->ok);
  CHECK(full->record);
  CHECK(full->recording_id == "r-0a1b");
  CHECK(full->schedule == "all-calls");
  REQUIRE(full->caller);
  CHECK(full->caller->port == 40002);
  REQUIRE(full->agent);
  CHECK(full->agent->port == 40004);
  REQUIRE(full->screen);
  CHECK(full->screen->port == 40006);

  auto no_screen = parse_cti_ack(R"({"seq":3,"ok":true,"record":false,"screen":null})");
  REQUIRE(no_screen.ok());
  CHECK_FALSE(no_screen->record);
  CHECK_FALSE(no_screen->screen);
  CHECK_FALSE(no_screen->caller);

  auto refused = parse_cti_ack(
      R"({"v":1,"type":"ack","seq":12,"ok":false,"error":"bad_event","message":"missing agent"})");
  REQUIRE(refused.ok());
  CHECK_FALSE(refused->ok);
  CHECK(refused->error == "bad_event");
  CHECK(refused->message == "missing agent");

  for (const char* bad : {"not json", "[1,2]", R"({"ok":true})", R"({"seq":"1","ok":true})",
                          R"({"seq":1})", R"({"seq":1,"ok":true,"media":{"caller":{"port":5}}})",
                          R"({"seq":1,"ok":true,"screen":{"host":"127.0.0.1","port":0}})"}) {
    INFO(bad);
    auto r = parse_cti_ack(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "bad_reply");
  }
}

TEST_CASE("send stamps v, seq and ts and returns the matching ack", "[cti]") {
  test::fake_engine engine;
  auto client = cti_client::connect(engine.endpoint(), 2000ms);
  REQUIRE(client.ok());

  auto first = (*client)->send({{"type", "agent_login"}, {"agent", "agent-7"}});
  REQUIRE(first.ok());
  CHECK(first->ok);
  CHECK(first->seq == 1);
  auto second = (*client)->send({{"type", "agent_logout"}, {"agent", "agent-7"}});
  REQUIRE(second.ok());
  CHECK(second->seq == 2);

  const auto events = engine.events();
  REQUIRE(events.size() == 2);
  CHECK(events[0]["v"] == 1);
  CHECK(events[0]["seq"] == 1);
  CHECK(events[0]["type"] == "agent_login");
  CHECK(events[0]["agent"] == "agent-7");
  CHECK(events[0]["ts"].is_number_integer());
  CHECK(events[0]["ts"].get<std::int64_t>() > 1600000000000LL);
  CHECK(events[1]["seq"] == 2);
}

TEST_CASE("a refused event comes back as ok=false with the engine's reason", "[cti]") {
  test::fake_engine engine({true, false, "agent_login"});
  auto client = cti_client::connect(engine.endpoint(), 2000ms);
  REQUIRE(client.ok());
  auto ack = (*client)->send({{"type", "agent_login"}, {"agent", "a"}});
  REQUIRE(ack.ok());
  CHECK_FALSE(ack->ok);
  CHECK(ack->error == "bad_state");
  CHECK(ack->message == "agent_login: refused by the test");
}

TEST_CASE("an engine that never answers times out with a clear message", "[cti]") {
  test::fake_engine_options silent;
  silent.silent = true;
  test::fake_engine engine(silent);
  auto client = cti_client::connect(engine.endpoint(), 300ms);
  REQUIRE(client.ok());

  const auto start = std::chrono::steady_clock::now();
  auto ack = (*client)->send({{"type", "call_ended"}, {"call_id", "c1"}});
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(ack.ok());
  INFO(std::chrono::duration<double>(took).count());
  CHECK(ack.error().code == "cti_timeout");
  CHECK(ack.error().message ==
        "engine did not answer event seq 1 (call_ended) within 0.3 s at " + engine.endpoint());
  CHECK(took >= 300ms);
  CHECK(took < 1000ms);

  auto nobody = cti_client::connect("tcp://127.0.0.1:1", 200ms);
  REQUIRE(nobody.ok());
  auto lost = (*nobody)->send({{"type", "agent_login"}, {"agent", "a"}});
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.error().message ==
        "engine did not answer event seq 1 (agent_login) within 0.2 s at tcp://127.0.0.1:1");
}

TEST_CASE("once an event went unanswered, later ones wait only cti_unanswered_wait", "[cti]") {
  test::fake_engine_options silent;
  silent.silent = true;
  test::fake_engine engine(silent);
  auto client = cti_client::connect(engine.endpoint(), 1000ms);
  REQUIRE(client.ok());

  auto start = std::chrono::steady_clock::now();
  auto first = (*client)->send({{"type", "call_ended"}, {"call_id", "c1"}});
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(first.ok());
  CHECK(first.error().message ==
        "engine did not answer event seq 1 (call_ended) within 1 s at " + engine.endpoint());
  CHECK(took >= 1000ms);

  // Four more ends: 250 ms each, not 1 s each, one after another.
  start = std::chrono::steady_clock::now();
  for (int i = 2; i <= 5; ++i) {
    auto ack = (*client)->send({{"type", "call_ended"}, {"call_id", "c" + std::to_string(i)}});
    REQUIRE_FALSE(ack.ok());
    CHECK(ack.error().code == "cti_timeout");
    CHECK(ack.error().message == "engine did not answer event seq " + std::to_string(i) +
                                     " (call_ended) within 0.25 s at " + engine.endpoint());
  }
  took = std::chrono::steady_clock::now() - start;
  INFO(std::chrono::duration<double>(took).count());
  CHECK(took >= 4 * cti_unanswered_wait);
  CHECK(took < 2000ms);
}

TEST_CASE("after a stop, replies are awaited only until the stop grace ends", "[cti]") {
  test::fake_engine_options silent;
  silent.silent = true;
  test::fake_engine engine(silent);
  auto client = cti_client::connect(engine.endpoint(), 5000ms);
  REQUIRE(client.ok());
  std::atomic<bool> stop{false};
  (*client)->stop_when(&stop, 300ms);

  // The stop comes while the first event waits: it ends 300 ms later.
  std::thread stopper([&stop] {
    std::this_thread::sleep_for(200ms);
    stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  auto first = (*client)->send({{"type", "call_ended"}, {"call_id", "c1"}});
  stopper.join();
  REQUIRE_FALSE(first.ok());
  CHECK(first.error().code == "cti_stopped");
  CHECK(first.error().message == "stopping: no reply to event seq 1 (call_ended) from " +
                                     engine.endpoint() + " before the stop deadline");

  // The grace is for all events together: the next ones do not wait.
  for (int i = 2; i <= 4; ++i) {
    auto ack = (*client)->send({{"type", "agent_logout"}, {"agent", "a"}});
    REQUIRE_FALSE(ack.ok());
    CHECK(ack.error().code == "cti_stopped");
  }
  const auto took = std::chrono::steady_clock::now() - start;
  INFO(std::chrono::duration<double>(took).count());
  CHECK(took >= 500ms);
  CHECK(took < 1500ms);
}

TEST_CASE("a stop does not cut short events the engine answers", "[cti]") {
  test::fake_engine engine;
  auto client = cti_client::connect(engine.endpoint(), 1000ms);
  REQUIRE(client.ok());
  std::atomic<bool> stop{true};
  (*client)->stop_when(&stop, 300ms);
  auto ack = (*client)->send({{"type", "agent_logout"}, {"agent", "a"}});
  INFO((ack.ok() ? std::string() : ack.error().message));
  REQUIRE(ack.ok());
  CHECK(ack->ok);
  CHECK(ack->seq == 1);
}

TEST_CASE("a reply that arrives after its timeout is not taken for the next one", "[cti]") {
  test::fake_engine_options slow;
  slow.first_reply_delay = 400ms;
  test::fake_engine engine(slow);
  auto client = cti_client::connect(engine.endpoint(), 300ms);
  REQUIRE(client.ok());

  auto late = (*client)->send({{"type", "agent_login"}, {"agent", "a"}});
  REQUIRE_FALSE(late.ok());
  CHECK(late.error().code == "cti_timeout");

  // The engine answers seq 1 (late) and then seq 2: the client drops the first.
  auto next = (*client)->send({{"type", "agent_login"}, {"agent", "b"}});
  INFO((next.ok() ? std::string() : next.error().message));
  REQUIRE(next.ok());
  CHECK(next->seq == 2);
}

TEST_CASE("many threads share one client, each gets its own reply", "[cti]") {
  test::fake_engine engine;
  auto client = cti_client::connect(engine.endpoint(), 2000ms);
  REQUIRE(client.ok());

  constexpr int threads = 8;
  constexpr int per_thread = 25;
  std::vector<std::vector<std::uint64_t>> seqs(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto ack = (*client)->send({{"type", "agent_login"}, {"agent", "t" + std::to_string(t)}});
        seqs[t].push_back(ack.ok() && ack->ok ? ack->seq : 0);
      }
    });
  }
  for (auto& th : pool)
    th.join();

  std::set<std::uint64_t> all;
  for (const auto& s : seqs)
    all.insert(s.begin(), s.end());
  CHECK(all.size() == threads * per_thread);
  CHECK(*all.begin() == 1);
  CHECK(*all.rbegin() == threads * per_thread);
  const auto events = engine.events();
  REQUIRE(events.size() == threads * per_thread);
  for (std::size_t i = 0; i < events.size(); ++i)
    CHECK(events[i]["seq"] == i + 1);
}
