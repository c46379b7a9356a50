// Synthetic calls: the generator's bytes, and a real-time run against the
// fake engine (packet rate, sizes, payload type, screen frames).
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "media/g711.hpp"
#include "media/rtp.hpp"
#include "simulators/call_player.hpp"
#include "simulators/screen_frames.hpp"
#include "simulators/synth.hpp"
#include "tests/simulators/fake_engine.hpp"

using namespace ccrec;
using namespace ccrec::pbxsim;
using namespace std::chrono_literals;

namespace {

media::rtp_packet parsed(const std::vector<std::uint8_t>& b) {
  media::rtp_packet out;
  REQUIRE(media::parse_rtp(b.data(), b.size(), out) == media::rtp_error::none);
  return out;
}

// Sign changes of the decoded leg, over its whole length: 2 per cycle.
double measured_hz(const media_leg& leg) {
  std::vector<std::int16_t> pcm;
  for (const auto& p : leg.packets) {
    const auto rtp = parsed(p.bytes);
    for (std::size_t i = 0; i < rtp.payload_size; ++i) {
      pcm.push_back(media::g711_to_linear(rtp.payload_type, rtp.payload[i]));
    }
  }
  std::size_t crossings = 0;
  for (std::size_t i = 1; i < pcm.size(); ++i)
    crossings += (pcm[i - 1] < 0) != (pcm[i] < 0);
  const double seconds = static_cast<double>(pcm.size()) / media::g711_rate;
  return static_cast<double>(crossings) / 2.0 / seconds;
}

// Least-squares slope of arrival time over datagram index: robust to one
// late wake-up, unlike first-to-last.
double seconds_per_packet(const std::vector<test::datagram>& got) {
  const auto n = static_cast<double>(got.size());
  double sum_i = 0, sum_t = 0, sum_ii = 0, sum_it = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double t = std::chrono::duration<double>(got[i].arrived - got[0].arrived).count();
    const auto x = static_cast<double>(i);
    sum_i += x;
    sum_t += t;
    sum_ii += x * x;
    sum_it += x * t;
  }
  return (n * sum_it - sum_i * sum_t) / (n * sum_ii - sum_i * sum_i);
}

std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

}  // namespace

TEST_CASE("synthetic calls: 20 ms packets of 160 bytes, tones per leg and call", "[synth]") {
  synth_options o;
  o.calls = 3;
  o.duration_s = 2.0;
  o.payload_type = media::pt_pcma;
  o.seed = 42;
  const auto calls = make_synth_calls(o);
  REQUIRE(calls.size() == 3);

  for (std::size_t c = 0; c < calls.size(); ++c) {
    REQUIRE(calls[c].legs.size() == 2);
    CHECK(calls[c].legs[0].name == "caller");
    CHECK(calls[c].legs[1].name == "agent");
    for (std::size_t l = 0; l < 2; ++l) {
      const auto& leg = calls[c].legs[l];
      REQUIRE(leg.packets.size() == 100);
      CHECK(leg.payload_type == media::pt_pcma);
      const auto first = parsed(leg.packets[0].bytes);
      CHECK(first.marker);
      for (std::size_t k = 0; k < leg.packets.size(); ++k) {
        const auto rtp = parsed(leg.packets[k].bytes);
        CHECK(leg.packets[k].time_ns == static_cast<std::int64_t>(k) * 20000000);
        CHECK(rtp.payload_type == media::pt_pcma);
        CHECK(rtp.payload_size == 160);
        CHECK(rtp.ssrc == first.ssrc);
        CHECK(rtp.seq == static_cast<std::uint16_t>(first.seq + k));
        CHECK(rtp.timestamp == static_cast<std::uint32_t>(first.timestamp + 160 * k));
      }
      const double want = (l == 0 ? 300.0 : 500.0) + 10.0 * static_cast<double>(c);
      CHECK(synth_tone_hz(c, l) == want);
      CHECK(measured_hz(leg) == Approx(want).margin(1.0));
    }
    CHECK(parsed(calls[c].legs[0].packets[0].bytes).ssrc !=
          parsed(calls[c].legs[1].packets[0].bytes).ssrc);
  }

  // Same seed, same bytes; another seed, other SSRCs.
  const auto again = make_synth_calls(o);
  CHECK(again[2].legs[1].packets[57].bytes == calls[2].legs[1].packets[57].bytes);
  o.seed = 43;
  const auto other = make_synth_calls(o);
  CHECK(parsed(other[0].legs[0].packets[0].bytes).ssrc !=
        parsed(calls[0].legs[0].packets[0].bytes).ssrc);
}

TEST_CASE("screen frames: CCSF header, 64x48 picture, under 4 KB", "[synth]") {
  const auto f = make_screen_frame(7, 1400);
  REQUIRE(f.size() == 12 + 64 * 48);
  CHECK(f.size() < 4096);
  CHECK(std::string(f.begin(), f.begin() + 4) == "CCSF");
  CHECK(be32(f.data() + 4) == 7);
  CHECK(be32(f.data() + 8) == 1400);
  // The bar sits at column frame % 64 on every row.
  for (std::size_t y = 0; y < 48; ++y) {
    CHECK(f[12 + y * 64 + 7] == 0xff);
    CHECK(f[12 + y * 64 + 8] == 0xff);
    CHECK(f[12 + y * 64 + 20] != 0xff);
  }
  CHECK(make_screen_frame(8, 1600) != f);
}

TEST_CASE("synth in real time: 50 packets/s per leg, PCMA, screen at 5 frames/s", "[synth]") {
  test::fake_engine_options with_screen;
  with_screen.screen = true;
  test::fake_engine engine(with_screen);
  auto cti = cti_client::connect(engine.endpoint(), 2000ms);
  REQUIRE(cti.ok());

  synth_options so;
  so.calls = 3;
  so.duration_s = 1.0;
  so.payload_type = media::pt_pcma;
  so.seed = 7;
  const auto calls = make_synth_calls(so);
  const auto report = run_calls(**cti, calls, run_options{});
  REQUIRE(report.ok);
  REQUIRE(report.calls.size() == 3);

  std::set<std::string> agents;
  for (std::size_t c = 0; c < 3; ++c) {
    const auto& call = report.calls[c];
    agents.insert(call.agent);
    CHECK(call.queue == (c % 2 == 0 ? "sales" : "support"));
    auto* media = engine.media_for(call.call_id);
    REQUIRE(media != nullptr);
    for (std::size_t l = 0; l < 2; ++l) {
      const auto& collector = l == 0 ? media->caller : media->agent;
      REQUIRE(collector->wait_for(50, 2000ms));
      std::this_thread::sleep_for(30ms);
      const auto got = collector->datagrams();
      REQUIRE(got.size() == 50);
      const double rate = 1.0 / seconds_per_packet(got);
      INFO("call " << c << " leg " << l << ": " << rate << " packets/s");
      CHECK(rate == Approx(50.0).margin(1.0));
      for (std::size_t k = 0; k < got.size(); ++k) {
        const auto rtp = parsed(got[k].bytes);
        CHECK(rtp.payload_type == media::pt_pcma);
        CHECK(rtp.payload_size == 160);
        CHECK(got[k].bytes == calls[c].legs[l].packets[k].bytes);
      }
      CHECK(call.legs[l].packets_sent == 50);
    }

    // Call time 0..980 ms: frames at 0, 200, 400, 600, 800 ms.
    REQUIRE(media->screen != nullptr);
    REQUIRE(media->screen->wait_for(5, 2000ms));
    std::this_thread::sleep_for(30ms);
    const auto frames = media->screen->datagrams();
    REQUIRE(frames.size() == 5);
    CHECK(call.screen_frames_sent == 5);
    for (std::uint32_t n = 0; n < frames.size(); ++n) {
      CHECK(frames[n].bytes == make_screen_frame(n, n * 200));
    }
    CHECK(1.0 / seconds_per_packet(frames) == Approx(5.0).margin(0.25));
  }
  CHECK(agents.size() == 3);
}

TEST_CASE("concurrency 1: one agent takes the calls one after another", "[synth]") {
  test::fake_engine engine;
  auto cti = cti_client::connect(engine.endpoint(), 2000ms);
  REQUIRE(cti.ok());

  synth_options so;
  so.calls = 3;
  so.duration_s = 0.2;
  run_options ro;
  ro.concurrency = 1;
  ro.speed = 2.0;
  ro.agents = {"agent-77"};
  const auto report = run_calls(**cti, make_synth_calls(so), ro);
  REQUIRE(report.ok);
  CHECK(engine.event_types() ==
        std::vector<std::string>{"agent_login", "call_offered", "call_answered", "call_ended",
                                 "call_offered", "call_answered", "call_ended", "call_offered",
                                 "call_answered", "call_ended", "agent_logout"});
  for (const auto& e : engine.events()) {
    if (e.contains("agent"))
      CHECK(e["agent"] == "agent-77");
  }
  for (const auto& c : report.calls) {
    CHECK(c.legs[0].packets_sent == 10);
    CHECK(c.legs[0].payload_type == media::pt_pcmu);
  }
}
