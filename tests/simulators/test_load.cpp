// The load generator: its RTP (pacer, tone tables) against real UDP
// sockets, a whole run against the fake engine, and its report, JSON and
// picture.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "media/rtp.hpp"
#include "simulators/load.hpp"
#include "simulators/load_pacer.hpp"
#include "simulators/load_plot.hpp"
#include "simulators/load_probe.hpp"
#include "tests/simulators/fake_engine.hpp"

using namespace ccrec;
using namespace ccrec::pbxsim;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t packets_per_leg = 25;

media::rtp_packet parsed(const std::vector<std::uint8_t>& b) {
  media::rtp_packet out;
  REQUIRE(media::parse_rtp(b.data(), b.size(), out) == media::rtp_error::none);
  return out;
}

udp_destination to(std::uint16_t port) {
  auto d = loopback_destination("127.0.0.1", port);
  REQUIRE(d);
  return *d;
}

// Checks one leg's datagrams: consecutive sequence numbers and timestamps
// from the given start, one SSRC, the marker on the first packet only, and
// the tone's bytes as payload.
void check_leg(const std::vector<test::datagram>& got, const tone_bank& tones,
               std::uint8_t payload_type, std::size_t tone, std::uint16_t first_seq,
               std::uint32_t first_ts, std::uint32_t ssrc) {
  for (std::size_t k = 0; k < got.size(); ++k) {
    INFO("packet " << k);
    REQUIRE(got[k].bytes.size() == load_rtp_header_bytes + load_samples_per_packet);
    const auto rtp = parsed(got[k].bytes);
    CHECK(rtp.payload_type == payload_type);
    CHECK(rtp.seq == static_cast<std::uint16_t>(first_seq + k));
    CHECK(rtp.timestamp == static_cast<std::uint32_t>(first_ts + k * load_samples_per_packet));
    CHECK(rtp.ssrc == ssrc);
    CHECK(rtp.marker == (k == 0));
    CHECK(std::equal(rtp.payload, rtp.payload + rtp.payload_size,
                     tones.payload(payload_type, tone, k)));
  }
}

}  // namespace

TEST_CASE("tone tables hold one second: packet 50 repeats packet 0", "[load]") {
  const tone_bank tones;
  for (std::uint8_t pt : {media::pt_pcmu, media::pt_pcma}) {
    for (std::size_t t = 0; t < tone_bank::tones; ++t) {
      CHECK(std::equal(tones.payload(pt, t, 0), tones.payload(pt, t, 0) + load_samples_per_packet,
                       tones.payload(pt, t, load_packets_per_second)));
      CHECK_FALSE(std::equal(tones.payload(pt, t, 0),
                             tones.payload(pt, t, 0) + load_samples_per_packet,
                             tones.payload(pt, t, 1)));
    }
  }
  // Tones differ from each other, and A-law from u-law.
  CHECK_FALSE(
      std::equal(tones.payload(0, 0, 3), tones.payload(0, 0, 3) + 160, tones.payload(0, 1, 3)));
  CHECK_FALSE(
      std::equal(tones.payload(0, 2, 3), tones.payload(0, 2, 3) + 160, tones.payload(8, 2, 3)));
}

TEST_CASE("the pacer sends every leg's packets at 50 per second, then reports it done", "[load]") {
  const tone_bank tones;
  test::udp_collector first;
  test::udp_collector second;
  std::mutex mutex;
  std::vector<std::tuple<std::uint32_t, std::uint8_t, std::uint64_t>> done;
  auto pacer = rtp_pacer::start(tones, pacer_options{}, [&](auto call, auto leg, auto sent) {
    std::lock_guard<std::mutex> lock{mutex};
    done.emplace_back(call, leg, sent);
  });
  REQUIRE(pacer);

  pacer_leg a;
  a.dest = to(first.port());
  a.call = 7;
  a.leg = 0;
  a.payload_type = media::pt_pcmu;
  a.tone = 3;
  a.ssrc = 0x11223344;
  a.first_seq = 65530;  // wraps during the leg
  a.first_timestamp = 0xffffff00;
  a.packets = packets_per_leg;
  pacer_leg b = a;
  b.dest = to(second.port());
  b.leg = 1;
  b.payload_type = media::pt_pcma;
  b.tone = 4;
  b.ssrc = 0x55667788;
  b.first_seq = 100;
  b.first_timestamp = 5000;
  (*pacer)->add(a);
  (*pacer)->add(b);

  REQUIRE(first.wait_for(packets_per_leg, 5000ms));
  REQUIRE(second.wait_for(packets_per_leg, 5000ms));
  std::this_thread::sleep_for(100ms);  // nothing more may come
  const auto got_a = first.datagrams();
  const auto got_b = second.datagrams();
  REQUIRE(got_a.size() == packets_per_leg);
  REQUIRE(got_b.size() == packets_per_leg);
  check_leg(got_a, tones, media::pt_pcmu, 3, 65530, 0xffffff00, 0x11223344);
  check_leg(got_b, tones, media::pt_pcma, 4, 100, 5000, 0x55667788);

  // Paced, not bursted: 25 packets at 20 ms span about 480 ms (a late first
  // packet on a busy machine may shorten that a little, never to a burst).
  const auto span = got_a.back().arrived - got_a.front().arrived;
  CHECK(span >= 400ms);

  std::lock_guard<std::mutex> lock{mutex};
  std::sort(done.begin(), done.end());
  REQUIRE(done.size() == 2);
  CHECK(done[0] == std::make_tuple(7u, std::uint8_t{0}, packets_per_leg));
  CHECK(done[1] == std::make_tuple(7u, std::uint8_t{1}, packets_per_leg));
  CHECK((*pacer)->stats().packets_sent == 2 * packets_per_leg);
  CHECK((*pacer)->stats().active_legs == 0);
}

TEST_CASE("stopping a call ends its legs at once and reports what was sent", "[load]") {
  const tone_bank tones;
  test::udp_collector sink;
  std::mutex mutex;
  std::vector<std::uint64_t> sent;
  auto pacer = rtp_pacer::start(tones, pacer_options{}, [&](auto, auto, auto n) {
    std::lock_guard<std::mutex> lock{mutex};
    sent.push_back(n);
  });
  REQUIRE(pacer);
  pacer_leg leg;
  leg.dest = to(sink.port());
  leg.call = 1;
  leg.packets = 0;  // until stopped
  (*pacer)->add(leg);
  REQUIRE(sink.wait_for(5, 2000ms));
  (*pacer)->stop_call(1);

  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard<std::mutex> lock{mutex};
      if (!sent.empty())
        break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::this_thread::sleep_for(100ms);
  std::lock_guard<std::mutex> lock{mutex};
  REQUIRE(sent.size() == 1);
  CHECK(sent[0] == sink.count());
  CHECK(sent[0] >= 5);
}

TEST_CASE("a load run offers, answers, plays and ends every call", "[load]") {
  test::fake_engine engine;
  load_options o;
  o.cti = engine.endpoint();
  o.calls = 3;
  o.duration_s = 5;
  o.hold_s = 0.5;  // 25 packets per leg, then the call ends and is replaced
  o.ramp_s = 0;
  o.rate = 4;  // at most 4 calls a second: a few calls in 5 s
  o.seed = 9;
  o.settle_s = 0;
  std::ostringstream progress;

  auto report = run_load(o, progress);
  REQUIRE(report);
  INFO(load_summary_text(*report));
  CHECK(report->errors.empty());
  CHECK(report->calls_offered >= 6);
  CHECK(report->calls_recorded + report->calls_abandoned == report->calls_offered);
  CHECK(report->calls_refused == 0);
  CHECK(report->calls_timed_out == 0);
  CHECK(report->calls_up_max <= 3);
  CHECK(report->latency.count == report->calls_answered);
  CHECK(report->packets_source == "unavailable: no --db or --data-dir given");
  CHECK_FALSE(report->packets_lost);
  CHECK(report->send_errors == 0);
  CHECK(progress.str().find("offered") != std::string::npos);

  // On the wire: per call offered, answered, ended in that order; every
  // leg of a call that ran its hold got exactly 25 packets.
  std::map<std::string, std::vector<std::string>> by_call;
  for (const auto& ev : engine.events())
    by_call[ev.value("call_id", "")].push_back(ev.value("type", ""));
  auto received = [&] {
    std::uint64_t n = 0;
    for (const auto& [id, types] : by_call) {
      if (auto* media = engine.media_for(id))
        n += media->caller->count() + media->agent->count();
    }
    return n;
  };
  for (int i = 0; i < 100 && received() < report->packets_sent; ++i)
    std::this_thread::sleep_for(10ms);
  std::uint64_t packets = 0;
  std::size_t full_calls = 0;
  for (const auto& [id, types] : by_call) {
    INFO(id);
    REQUIRE(types.size() >= 2);
    CHECK(types.front() == "call_offered");
    CHECK(types.back() == "call_ended");
    auto* media = engine.media_for(id);
    if (media == nullptr)
      continue;
    const auto a = media->caller->count();
    const auto b = media->agent->count();
    packets += a + b;
    full_calls += a == packets_per_leg && b == packets_per_leg;
    CHECK(a <= packets_per_leg);
  }
  CHECK(full_calls >= 3);
  CHECK(packets == report->packets_sent);

  // The JSON names loss where the issue says, and the picture is an SVG
  // with the run's title.
  const auto j = load_report_json(*report);
  CHECK(j.at("packets_lost").is_null());
  CHECK(j.at("calls_offered") == report->calls_offered);
  CHECK(j.at("timeline").size() == report->timeline.size());
  const auto svg = load_plot_svg(*report);
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("ccrec load test: 3 calls") != std::string::npos);
  CHECK(svg.find("</svg>") != std::string::npos);
}

TEST_CASE("load options are checked before anything starts", "[load]") {
  load_options o;
  o.cti = "tcp://127.0.0.1:5570";
  o.calls = 0;
  o.duration_s = 1;
  CHECK(check_load_options(o).error().code == "bad_option");
  o.calls = 1;
  o.duration_s = 0;
  CHECK(check_load_options(o).error().code == "bad_option");
  o.duration_s = 1;
  o.hold_s = -1;
  CHECK(check_load_options(o).error().code == "bad_option");
  o.hold_s = 0;
  o.cti = "tcp://10.0.0.1:5570";
  CHECK(check_load_options(o).error().code == "refused_endpoint");
  o.cti = "tcp://127.0.0.1:5570";
  CHECK(check_load_options(o).ok());
}

TEST_CASE("a port set remembers exactly the ports marked", "[load]") {
  port_set ports;
  ports.mark(0);
  ports.mark(40000);
  ports.mark(65535);
  CHECK(ports.contains(0));
  CHECK(ports.contains(40000));
  CHECK(ports.contains(65535));
  CHECK_FALSE(ports.contains(40001));
  CHECK_FALSE(ports.contains(39999));
}
