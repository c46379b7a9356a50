// Replaying real captures through the library and the CLI against a fake
// engine with real sockets: the events, their order and fields, and every
// RTP packet byte for byte.
#include <sodium.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "media/rtp.hpp"
#include "simulators/call_player.hpp"
#include "simulators/cli.hpp"
#include "simulators/manifest.hpp"
#include "simulators/pcap_reader.hpp"
#include "tests/simulators/fake_engine.hpp"
#include "tests/simulators/pcap_builder.hpp"
#include "tests/support/temp_dir.hpp"

using namespace ccrec;
using namespace ccrec::pbxsim;
using namespace std::chrono_literals;

namespace {

const std::string pcma_path = test::testdata_dir() + "/pcap/call1_pcma.pcap";

media_call load_pcma_call() {
  auto cap = read_pcap(pcma_path);
  REQUIRE(cap.ok());
  REQUIRE(cap->calls.size() == 1);
  return cap->calls[0];
}

std::unique_ptr<cti_client> connect(const test::fake_engine& engine,
                                    std::chrono::milliseconds timeout = 2000ms) {
  auto client = cti_client::connect(engine.endpoint(), timeout);
  REQUIRE(client.ok());
  return std::move(*client);
}

std::vector<std::vector<std::uint8_t>> bytes_of(const std::vector<test::datagram>& ds) {
  std::vector<std::vector<std::uint8_t>> out;
  for (const auto& d : ds)
    out.push_back(d.bytes);
  return out;
}

std::vector<std::vector<std::uint8_t>> bytes_of(const media_leg& leg) {
  std::vector<std::vector<std::uint8_t>> out;
  for (const auto& p : leg.packets)
    out.push_back(p.bytes);
  return out;
}

std::string sha256_of_payloads(const std::vector<std::vector<std::uint8_t>>& packets) {
  REQUIRE(sodium_init() >= 0);
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  for (const auto& p : packets) {
    media::rtp_packet rtp;
    REQUIRE(media::parse_rtp(p.data(), p.size(), rtp) == media::rtp_error::none);
    crypto_hash_sha256_update(&st, rtp.payload, rtp.payload_size);
  }
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, digest);
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

run_options fast(double speed = 50.0) {
  run_options o;
  o.speed = speed;
  return o;
}

}  // namespace

TEST_CASE("replaying call1_pcma: events in order, every packet byte-identical", "[replay]") {
  const auto call = load_pcma_call();
  test::fake_engine engine;
  auto cti = connect(engine);

  const auto report = run_calls(*cti, {call}, fast());
  REQUIRE(report.ok);
  REQUIRE(report.calls.size() == 1);
  const auto& c = report.calls[0];
  CHECK(c.ok);
  CHECK(c.record);
  CHECK(c.recording_id == "r-test-1");
  CHECK(c.agent == "agent-1001");
  CHECK(c.queue == "sales");
  CHECK(std::regex_match(c.call_id, std::regex("sim-" + std::to_string(::getpid()) + "-[0-9]+")));

  // The events, exactly.
  const auto events = engine.events();
  CHECK(engine.event_types() == std::vector<std::string>{"agent_login", "call_offered",
                                                         "call_answered", "call_ended",
                                                         "agent_logout"});
  REQUIRE(events.size() == 5);
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i]["v"] == 1);
    CHECK(events[i]["seq"] == i + 1);
    CHECK(events[i]["ts"].is_number_integer());
    CHECK(events[i]["pbx"] == "ccrec-pbxsim");
  }
  CHECK(events[0]["agent"] == "agent-1001");
  CHECK(events[1]["call_id"] == c.call_id);
  CHECK(events[1]["direction"] == "inbound");
  CHECK(events[1]["from"].is_string());
  CHECK(events[1]["to"].is_string());
  CHECK(events[1]["queue"] == "sales");
  CHECK(events[1]["legs"] ==
        nlohmann::json::parse(R"([{"name":"caller","address":"192.0.2.21:40002"},)"
                              R"({"name":"agent","address":"198.51.100.11:16386"}])"));
  CHECK(events[2]["call_id"] == c.call_id);
  CHECK(events[2]["agent"] == "agent-1001");
  CHECK(events[2]["queue"] == "sales");
  CHECK(events[3]["call_id"] == c.call_id);
  CHECK(events[4]["agent"] == "agent-1001");

  // Every packet, in order, exactly as captured, on its leg's port.
  auto* media = engine.media_for(c.call_id);
  REQUIRE(media != nullptr);
  REQUIRE(media->caller->wait_for(405, 2000ms));
  REQUIRE(media->agent->wait_for(405, 2000ms));
  std::this_thread::sleep_for(50ms);
  CHECK(bytes_of(media->caller->datagrams()) == bytes_of(call.legs[0]));
  CHECK(bytes_of(media->agent->datagrams()) == bytes_of(call.legs[1]));

  // The report says the same, with hashes computed here independently.
  REQUIRE(c.legs.size() == 2);
  CHECK(c.legs[0].name == "caller");
  CHECK(c.legs[0].packets_sent == 405);
  CHECK(c.legs[1].packets_sent == 405);
  CHECK(c.legs[0].port == media->caller->port());
  CHECK(c.legs[1].port == media->agent->port());
  CHECK(c.legs[0].destination == "127.0.0.1:" + std::to_string(media->caller->port()));
  CHECK(c.legs[0].payload_sha256 == sha256_of_payloads(bytes_of(call.legs[0])));
  CHECK(c.legs[1].payload_sha256 == sha256_of_payloads(bytes_of(call.legs[1])));
  CHECK(c.legs[0].payload_bytes == 405 * 160);
  CHECK(c.screen_frames_sent == 0);
  REQUIRE(c.legs[0].packets.size() == 405);
  media::rtp_packet first;
  REQUIRE(media::parse_rtp(call.legs[0].packets[0].bytes.data(),
                           call.legs[0].packets[0].bytes.size(), first) == media::rtp_error::none);
  CHECK(c.legs[0].packets[0].seq == first.seq);
  CHECK(c.legs[0].packets[0].timestamp == first.timestamp);
  CHECK(c.legs[0].packets[0].payload_size == 160);
  CHECK(c.legs[0].ssrcs == std::vector<std::uint32_t>{first.ssrc});
}

TEST_CASE("pacing follows the capture's own times divided by speed", "[replay]") {
  const auto call = load_pcma_call();
  test::fake_engine engine;
  auto cti = connect(engine);
  constexpr double speed = 8.0;

  const auto report = run_calls(*cti, {call}, fast(speed));
  REQUIRE(report.ok);
  auto* media = engine.media_for(report.calls[0].call_id);
  REQUIRE(media != nullptr);
  REQUIRE(media->caller->wait_for(405, 2000ms));
  REQUIRE(media->agent->wait_for(405, 2000ms));

  // For every packet: arrival minus its scheduled offset (capture offset /
  // speed). The smallest is the best estimate of the run's start; a packet's
  // lateness is how far its own value sits above that. Pacing that drifts
  // (accumulated sleeps) or ignores the speed makes lateness grow along the
  // call; one scheduling hiccup only moves one packet.
  std::vector<double> offsets;
  for (std::size_t l = 0; l < 2; ++l) {
    const auto got = l == 0 ? media->caller->datagrams() : media->agent->datagrams();
    REQUIRE(got.size() == 405);
    for (std::size_t i = 0; i < got.size(); ++i) {
      const double scheduled =
          static_cast<double>(call.legs[l].packets[i].time_ns - call.first_time_ns()) / 1e9 / speed;
      offsets.push_back(std::chrono::duration<double>(got[i].arrived.time_since_epoch()).count() -
                        scheduled);
    }
  }
  const double start = *std::min_element(offsets.begin(), offsets.end());
  std::vector<double> lateness;
  for (double o : offsets)
    lateness.push_back(o - start);
  std::sort(lateness.begin(), lateness.end());
  INFO("lateness median " << lateness[lateness.size() / 2] << " s, 90th "
                          << lateness[lateness.size() * 9 / 10] << " s, max " << lateness.back());
  CHECK(lateness[lateness.size() * 9 / 10] < 0.02);
  CHECK(lateness.back() < 0.1);

  // And the whole call took its captured length / speed, not less.
  const double captured_s = static_cast<double>(call.last_time_ns() - call.first_time_ns()) / 1e9;
  const auto caller = media->caller->datagrams();
  const auto agent = media->agent->datagrams();
  const double arrived_s =
      std::chrono::duration<double>(std::max(caller.back().arrived, agent.back().arrived) -
                                    std::min(caller.front().arrived, agent.front().arrived))
          .count();
  CHECK(arrived_s >= captured_s / speed - 0.02);
  CHECK(arrived_s <= captured_s / speed + 0.1);
}

TEST_CASE("a refused event makes the run fail, and the call is still ended", "[replay]") {
  const auto call = load_pcma_call();
  test::fake_engine engine({true, false, "call_answered"});
  auto cti = connect(engine);

  const auto report = run_calls(*cti, {call}, fast());
  CHECK_FALSE(report.ok);
  REQUIRE(report.calls.size() == 1);
  CHECK_FALSE(report.calls[0].ok);
  CHECK(report.calls[0].error == report.calls[0].call_id +
                                     ": engine refused call_answered: bad_state: call_answered: "
                                     "refused by the test");
  CHECK(engine.event_types() == std::vector<std::string>{"agent_login", "call_offered",
                                                         "call_answered", "call_ended",
                                                         "agent_logout"});
  CHECK(report.calls[0].legs[0].packets_sent == 0);
}

TEST_CASE("a refused login stops the run before any call", "[replay]") {
  const auto call = load_pcma_call();
  test::fake_engine engine({true, false, "agent_login"});
  auto cti = connect(engine);
  const auto report = run_calls(*cti, {call}, fast());
  CHECK_FALSE(report.ok);
  CHECK(report.calls.empty());
  REQUIRE(report.errors.size() == 1);
  CHECK(report.errors[0] ==
        "engine refused agent_login of agent-1001: bad_state: agent_login: refused by the test");
  CHECK(engine.event_types() == std::vector<std::string>{"agent_login"});
}

TEST_CASE("an engine that never answers fails the run within the timeout", "[replay]") {
  const auto call = load_pcma_call();
  test::fake_engine_options silent;
  silent.silent = true;
  test::fake_engine engine(silent);
  auto cti = connect(engine, 400ms);

  const auto start = std::chrono::steady_clock::now();
  const auto report = run_calls(*cti, {call}, fast());
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK_FALSE(report.ok);
  REQUIRE(report.errors.size() == 1);
  CHECK(report.errors[0] ==
        "engine did not answer event seq 1 (agent_login) within 0.4 s at " + engine.endpoint());
  CHECK(took >= 400ms);
  CHECK(took < 1500ms);
}

TEST_CASE("a call the engine does not record plays its length without media", "[replay]") {
  const auto call = load_pcma_call();
  test::fake_engine_options no_record;
  no_record.record = false;
  test::fake_engine engine(no_record);
  auto cti = connect(engine);
  constexpr double speed = 20.0;

  const auto start = std::chrono::steady_clock::now();
  const auto report = run_calls(*cti, {call}, fast(speed));
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(report.ok);
  CHECK_FALSE(report.calls[0].record);
  CHECK(report.calls[0].legs[0].packets_sent == 0);
  CHECK(report.calls[0].legs[1].packets_sent == 0);
  CHECK(engine.media_for(report.calls[0].call_id) == nullptr);
  const double call_s = report.calls[0].duration_s;
  // From the first packet of either leg to the last of either.
  CHECK(call_s == Approx(static_cast<double>(call.last_time_ns() - call.first_time_ns()) / 1e9));
  CHECK(call_s > 8.07);
  CHECK(call_s < 8.1);
  CHECK(took >= (call_s + 0.1) / speed);
  CHECK(took < (call_s + 0.1) / speed + 0.5);
}

TEST_CASE("media is never sent to a host that is not loopback", "[replay]") {
  const auto call = load_pcma_call();
  test::fake_engine_options elsewhere;
  elsewhere.media_host = "192.0.2.99";
  test::fake_engine engine(elsewhere);
  auto cti = connect(engine);

  const auto report = run_calls(*cti, {call}, fast());
  CHECK_FALSE(report.ok);
  const auto& c = report.calls[0];
  CHECK(c.error == c.call_id + ": engine asked for media at 192.0.2.99:" +
                       std::to_string(engine.media_for(c.call_id)->caller->port()) +
                       ", which is not loopback; pbxsim only sends to this machine");
  CHECK(c.legs[0].packets_sent == 0);
  CHECK(c.legs[1].packets_sent == 0);
  CHECK(engine.event_types().back() == "agent_logout");
  CHECK(engine.event_types()[3] == "call_ended");
}

TEST_CASE("hold sends call_held/call_retrieved and leaves a gap in the RTP", "[replay]") {
  const auto call = load_pcma_call();
  test::fake_engine engine;
  auto cti = connect(engine);
  run_options o = fast(20.0);
  o.hold_at_s = 2.0;
  o.hold_for_s = 1.5;

  const auto report = run_calls(*cti, {call}, o);
  REQUIRE(report.ok);
  const auto& c = report.calls[0];
  CHECK(c.held);
  CHECK(engine.event_types() ==
        std::vector<std::string>{"agent_login", "call_offered", "call_answered", "call_held",
                                 "call_retrieved", "call_ended", "agent_logout"});

  auto* media = engine.media_for(c.call_id);
  REQUIRE(media != nullptr);
  for (std::size_t l = 0; l < 2; ++l) {
    std::vector<std::vector<std::uint8_t>> expected;
    for (const auto& p : call.legs[l].packets) {
      const auto offset = p.time_ns - call.first_time_ns();
      if (offset >= 2000000000 && offset < 3500000000)
        continue;
      expected.push_back(p.bytes);
    }
    const auto& got = l == 0 ? media->caller : media->agent;
    REQUIRE(got->wait_for(expected.size(), 2000ms));
    std::this_thread::sleep_for(50ms);
    CHECK(bytes_of(got->datagrams()) == expected);
    CHECK(c.legs[l].packets_sent == expected.size());
    CHECK(c.legs[l].packets_held == 405 - expected.size());
    CHECK(c.legs[l].packets_held > 70);  // 1.5 s of 20 ms packets, give or take jitter
  }
}

TEST_CASE("several calls run concurrently with their own agents and ports", "[replay]") {
  const auto call = load_pcma_call();
  test::fake_engine engine;
  auto cti = connect(engine);
  run_options o = fast(40.0);
  o.stagger = 30ms;
  o.queues = {"billing"};

  std::vector<std::string> ended;
  const auto report = run_calls(*cti, {call, call, call}, o,
                                [&](const call_report& c) { ended.push_back(c.call_id); });
  REQUIRE(report.ok);
  REQUIRE(report.calls.size() == 3);
  CHECK(ended.size() == 3);
  std::set<std::string> agents, ids;
  for (const auto& c : report.calls) {
    agents.insert(c.agent);
    ids.insert(c.call_id);
    CHECK(c.queue == "billing");
    auto* media = engine.media_for(c.call_id);
    REQUIRE(media != nullptr);
    REQUIRE(media->caller->wait_for(405, 2000ms));
    REQUIRE(media->agent->wait_for(405, 2000ms));
    CHECK(bytes_of(media->caller->datagrams()) == bytes_of(call.legs[0]));
    CHECK(bytes_of(media->agent->datagrams()) == bytes_of(call.legs[1]));
  }
  CHECK(agents == std::set<std::string>{"agent-1001", "agent-1002", "agent-1003"});
  CHECK(ids.size() == 3);
  const auto types = engine.event_types();
  CHECK(std::count(types.begin(), types.end(), "agent_login") == 3);
  CHECK(std::count(types.begin(), types.end(), "agent_logout") == 3);
  CHECK(std::count(types.begin(), types.end(), "call_ended") == 3);
}

// ---- the command line ---------------------------------------------------------

namespace {

int run_cli(std::vector<std::string> args, std::string* out_text = nullptr) {
  args.insert(args.begin(), "ccrec-pbxsim");
  std::vector<const char*> argv;
  for (const auto& a : args)
    argv.push_back(a.c_str());
  std::ostringstream out;
  const int rc = pbxsim_main(static_cast<int>(argv.size()), argv.data(), out);
  if (out_text)
    *out_text = out.str();
  return rc;
}

}  // namespace

TEST_CASE("ccrec-pbxsim replay writes a manifest and exits 0", "[replay][cli]") {
  test::temp_dir dir;
  test::fake_engine engine;
  const auto manifest_path = dir.file("manifest.json");
  std::string out;
  const int rc = run_cli({"replay", "--cti", engine.endpoint(), "--speed", "50", "--manifest",
                          manifest_path, "--log-level", "warn", pcma_path},
                         &out);
  REQUIRE(rc == 0);
  CHECK(out.find(" recording=r-test-1 caller=405/405 agent=405/405 ok\n") != std::string::npos);
  CHECK(out.find("1 of 1 calls ok") != std::string::npos);

  std::ifstream f(manifest_path);
  const auto m = nlohmann::json::parse(f);
  CHECK(m["format"] == "ccrec-pbxsim-manifest");
  CHECK(m["version"] == 1);
  CHECK(m["mode"] == "replay");
  CHECK(m["ok"] == true);
  REQUIRE(m["calls"].size() == 1);
  const auto& c = m["calls"][0];
  CHECK(c["recording_id"] == "r-test-1");
  CHECK(c["record"] == true);
  CHECK(c["source"] == pcma_path);
  REQUIRE(c["legs"].size() == 2);
  const auto call = load_pcma_call();
  auto* media = engine.media_for(c["call_id"]);
  REQUIRE(media != nullptr);
  for (std::size_t l = 0; l < 2; ++l) {
    const auto& leg = c["legs"][l];
    CHECK(leg["name"] == (l == 0 ? "caller" : "agent"));
    CHECK(leg["port"] == (l == 0 ? media->caller->port() : media->agent->port()));
    CHECK(leg["packets_sent"] == 405);
    CHECK(leg["payload_type"] == 8);
    CHECK(leg["payload_sha256"] == sha256_of_payloads(bytes_of(call.legs[l])));
    REQUIRE(leg["packets"].size() == 405);
    for (std::size_t i = 0; i < 405; ++i) {
      media::rtp_packet rtp;
      const auto& bytes = call.legs[l].packets[i].bytes;
      REQUIRE(media::parse_rtp(bytes.data(), bytes.size(), rtp) == media::rtp_error::none);
      CHECK(leg["packets"][i] == nlohmann::json::array({rtp.seq, rtp.timestamp, 160}));
    }
  }
}

TEST_CASE("ccrec-pbxsim exit codes: 1 refused, 2 usage or unreadable capture", "[replay][cli]") {
  test::temp_dir dir;
  SECTION("refused event") {
    test::fake_engine engine({true, false, "call_offered"});
    CHECK(run_cli({"replay", "--cti", engine.endpoint(), "--speed", "50", "--log-level", "off",
                   pcma_path}) == 1);
  }
  SECTION("silent engine") {
    test::fake_engine_options silent;
    silent.silent = true;
    test::fake_engine engine(silent);
    CHECK(run_cli({"replay", "--cti", engine.endpoint(), "--timeout", "0.2", "--log-level", "off",
                   pcma_path}) == 1);
  }
  SECTION("endpoint on another host") {
    CHECK(run_cli({"replay", "--cti", "tcp://192.0.2.1:5570", pcma_path}) == 2);
  }
  SECTION("unreadable capture") {
    test::save_bytes(dir.file("x.pcap"), {1, 2, 3, 4, 5});
    CHECK(run_cli({"replay", "--log-level", "off", dir.file("x.pcap")}) == 2);
    CHECK(run_cli({"replay", "--log-level", "off", dir.file("missing.pcap")}) == 2);
  }
  SECTION("bad usage") {
    CHECK(run_cli({}) == 2);
    CHECK(run_cli({"replay"}) == 2);
    CHECK(run_cli({"replay", "--speed", "0", pcma_path}) == 2);
    CHECK(run_cli({"synth", "--calls", "1"}) == 2);
    CHECK(run_cli({"synth", "--calls", "1", "--duration", "1", "--codec", "g729"}) == 2);
    CHECK(run_cli({"replay", "--manifest", dir.file("no/such/dir/m.json"), pcma_path}) == 2);
  }
  SECTION("help") {
    std::string out;
    CHECK(run_cli({"replay", "--help"}, &out) == 0);
    for (const char* opt : {"--cti", "--speed", "--stagger", "--manifest", "--timeout", "--hold-at",
                            "--hold-for", "--agent", "--queue"}) {
      CHECK(out.find(opt) != std::string::npos);
    }
  }
}

TEST_CASE("a stop request ends the calls in progress and logs the agents out", "[replay]") {
  const auto call = load_pcma_call();
  test::fake_engine engine;
  auto cti = connect(engine);
  std::atomic<bool> stop{false};
  run_options o = fast(1.0);  // real time: 8 s if nothing stops it
  o.stop = &stop;
  o.stagger = 5000ms;  // the second call would start 5 s in

  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  const auto report = run_calls(*cti, {call, call}, o);
  const auto took = std::chrono::steady_clock::now() - start;
  stopper.join();

  CHECK(took < 1000ms);
  CHECK_FALSE(report.ok);
  REQUIRE(report.calls.size() == 2);
  CHECK(report.calls[0].error == report.calls[0].call_id + ": interrupted");
  CHECK(report.calls[0].legs[0].packets_sent > 0);
  CHECK(report.calls[0].legs[0].packets_sent < 405);
  CHECK(report.calls[1].error == report.calls[1].call_id + ": interrupted before it started");
  CHECK(engine.event_types() ==
        std::vector<std::string>{"agent_login", "agent_login", "call_offered", "call_answered",
                                 "call_ended", "agent_logout", "agent_logout"});
}

TEST_CASE("ccrec-pbxsim: SIGINT ends the calls cleanly, exit 1", "[replay][cli]") {
  test::fake_engine engine;
  std::thread interrupter([] {
    std::this_thread::sleep_for(400ms);
    ::kill(::getpid(), SIGINT);
  });
  std::string out;
  const int rc =
      run_cli({"replay", "--cti", engine.endpoint(), "--log-level", "off", pcma_path}, &out);
  interrupter.join();
  CHECK(rc == 1);
  CHECK(out.find(": interrupted\n") != std::string::npos);
  CHECK(engine.event_types() == std::vector<std::string>{"agent_login", "call_offered",
                                                         "call_answered", "call_ended",
                                                         "agent_logout"});
}
