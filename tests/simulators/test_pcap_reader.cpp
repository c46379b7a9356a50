// The pcap reader against the three shared captures (exact counts from
// testdata/README.md) and against hand-built files for every variant and
// every kind of damage it claims to handle.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "media/rtp.hpp"
#include "simulators/pcap_reader.hpp"
#include "tests/simulators/pcap_builder.hpp"
#include "tests/support/temp_dir.hpp"

using namespace ccrec;
using namespace ccrec::pbxsim;
using ccrec::test::bytes;

namespace {

std::string capture_path(const std::string& name) {
  return test::testdata_dir() + "/pcap/" + name;
}

media::rtp_packet parsed(const media_packet& p) {
  media::rtp_packet out;
  REQUIRE(media::parse_rtp(p.bytes.data(), p.bytes.size(), out) == media::rtp_error::none);
  return out;
}

const media_leg& leg_from(const media_call& call, const std::string& src) {
  for (const auto& leg : call.legs) {
    if (leg.src_address == src)
      return leg;
  }
  FAIL("no leg from " << src);
  throw std::logic_error("unreachable");
}

std::uint32_t le32_at(const bytes& b, std::size_t off) {
  return std::uint32_t(b[off]) | std::uint32_t(b[off + 1]) << 8 | std::uint32_t(b[off + 2]) << 16 |
         std::uint32_t(b[off + 3]) << 24;
}

constexpr std::uint8_t ip_a[4] = {198, 51, 100, 7};
constexpr std::uint8_t ip_b[4] = {192, 0, 2, 9};
constexpr std::uint8_t ip6_a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr std::uint8_t ip6_b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
constexpr std::int64_t t0 = 1700000000LL * 1000000000LL;
constexpr std::int64_t ms = 1000000;

bytes eth_rtp(std::uint16_t sport, std::uint16_t dport, bool a_to_b, std::uint16_t seq,
              std::uint8_t pt = 0) {
  const auto payload = test::rtp_packet(pt, seq, seq * 160u, a_to_b ? 0x1111 : 0x2222, 160,
                                        static_cast<std::uint8_t>(seq));
  const auto l4 = test::udp(sport, dport, payload);
  return test::ethernet(0x0800, a_to_b ? test::ipv4(ip_a, ip_b, l4) : test::ipv4(ip_b, ip_a, l4));
}

}  // namespace

// ---- the shared captures ------------------------------------------------------

TEST_CASE("sipp_g711a.pcap is one one-leg PCMA call of 236 packets", "[pcap]") {
  auto cap = read_pcap(capture_path("sipp_g711a.pcap"));
  REQUIRE(cap.ok());
  CHECK(cap->link_type == 1);
  CHECK(cap->stats.records == 236);
  CHECK(cap->stats.truncated == 0);
  CHECK(cap->stats.rtp_flows == 1);
  REQUIRE(cap->calls.size() == 1);
  REQUIRE(cap->calls[0].legs.size() == 1);
  const auto& leg = cap->calls[0].legs[0];
  CHECK(leg.name == "caller");
  CHECK(leg.payload_type == media::pt_pcma);
  REQUIRE(leg.packets.size() == 236);
  for (const auto& p : leg.packets)
    CHECK(parsed(p).payload_type == media::pt_pcma);
}

TEST_CASE("call1_pcmu.pcap is one two-leg PCMU call, legs as the README says", "[pcap]") {
  auto cap = read_pcap(capture_path("call1_pcmu.pcap"));
  REQUIRE(cap.ok());
  REQUIRE(cap->calls.size() == 1);
  const auto& call = cap->calls[0];
  REQUIRE(call.legs.size() == 2);

  const auto& out = leg_from(call, "198.51.100.10:16384");
  CHECK(out.dst_address == "192.0.2.20:40000");
  CHECK(out.payload_type == media::pt_pcmu);
  REQUIRE(out.packets.size() == 591);
  CHECK(parsed(out.packets.front()).ssrc == 0xDB0DB55B);
  CHECK(parsed(out.packets.front()).seq == 473);
  CHECK(parsed(out.packets.back()).seq == 1063);

  const auto& back = leg_from(call, "192.0.2.20:40000");
  CHECK(back.dst_address == "198.51.100.10:16384");
  REQUIRE(back.packets.size() == 593);
  CHECK(parsed(back.packets.front()).ssrc == 0xD2C7ADA6);
  CHECK(parsed(back.packets.front()).seq == 15259);
  CHECK(parsed(back.packets.back()).seq == 15850);
  std::set<std::uint16_t> seqs;
  for (const auto& p : back.packets) {
    CHECK(parsed(p).ssrc == 0xD2C7ADA6);
    seqs.insert(parsed(p).seq);
  }
  CHECK(seqs.size() == 592);  // one duplicate

  // The leg whose first packet came first is the caller.
  CHECK(call.legs[0].packets.front().time_ns < call.legs[1].packets.front().time_ns);
  CHECK(call.legs[0].name == "caller");
  CHECK(call.legs[1].name == "agent");
  CHECK(call.legs[0].src_address == "192.0.2.20:40000");
}

TEST_CASE("call1_pcma.pcap is one two-leg PCMA call of 405 packets a leg", "[pcap]") {
  const auto path = capture_path("call1_pcma.pcap");
  auto cap = read_pcap(path);
  REQUIRE(cap.ok());
  CHECK(cap->stats.records == 810);
  CHECK(cap->stats.udp_datagrams == 810);
  REQUIRE(cap->calls.size() == 1);
  const auto& call = cap->calls[0];
  REQUIRE(call.legs.size() == 2);
  CHECK(call.legs[0].packets.size() == 405);
  CHECK(call.legs[1].packets.size() == 405);
  CHECK(call.legs[0].payload_type == media::pt_pcma);
  CHECK(call.legs[1].payload_type == media::pt_pcma);
  std::set<std::string> addresses{call.legs[0].src_address, call.legs[1].src_address};
  CHECK(addresses == std::set<std::string>{"198.51.100.11:16386", "192.0.2.21:40002"});

  // The first record, decoded by hand: time from its header, RTP bytes after
  // Ethernet (14), IPv4 (20) and UDP (8) headers.
  const bytes file = test::load_bytes(path);
  const std::int64_t sec = le32_at(file, 24);
  const std::int64_t usec = le32_at(file, 28);
  const std::size_t incl = le32_at(file, 32);
  const std::size_t rtp_at = 24 + 16 + 14 + 20 + 8;
  const bytes first_rtp(file.begin() + rtp_at, file.begin() + 24 + 16 + incl);
  CHECK(call.legs[0].packets.front().time_ns == sec * 1000000000 + usec * 1000);
  CHECK(call.legs[0].packets.front().bytes == first_rtp);
}

// ---- formats --------------------------------------------------------------------

TEST_CASE("both byte orders and both timestamp resolutions", "[pcap]") {
  test::temp_dir dir;
  for (bool big_endian : {false, true}) {
    for (bool nanos : {false, true}) {
      test::pcap_builder b(1, big_endian, nanos);
      const std::int64_t frac = nanos ? 123456789 : 123456000;
      b.record(t0 + frac, eth_rtp(5004, 6004, true, 10));
      b.record(t0 + frac + 5 * ms, eth_rtp(6004, 5004, false, 70));
      b.record(t0 + frac + 20 * ms, eth_rtp(5004, 6004, true, 11));
      const auto path = dir.file("order.pcap");
      b.save(path);

      auto cap = read_pcap(path);
      REQUIRE(cap.ok());
      CHECK(cap->big_endian == big_endian);
      CHECK(cap->nanosecond_timestamps == nanos);
      REQUIRE(cap->calls.size() == 1);
      const auto& legs = cap->calls[0].legs;
      REQUIRE(legs.size() == 2);
      CHECK(legs[0].src_address == "198.51.100.7:5004");
      CHECK(legs[0].dst_address == "192.0.2.9:6004");
      CHECK(legs[1].src_address == "192.0.2.9:6004");
      REQUIRE(legs[0].packets.size() == 2);
      CHECK(legs[0].packets[0].time_ns == t0 + frac);
      CHECK(legs[0].packets[1].time_ns == t0 + frac + 20 * ms);
      CHECK(legs[1].packets[0].time_ns == t0 + frac + 5 * ms);
      CHECK(legs[0].packets[1].bytes ==
            test::rtp_packet(0, 11, 11 * 160u, 0x1111, 160, static_cast<std::uint8_t>(11)));
    }
  }
}

TEST_CASE("VLAN tags, Linux cooked capture, raw IP and IPv6 all yield the RTP", "[pcap]") {
  test::temp_dir dir;
  const auto payload = test::rtp_packet(8, 1, 160, 0xabc, 160, 0xd5);
  const auto l4 = test::udp(7000, 8000, payload);
  const auto v4 = test::ipv4(ip_a, ip_b, l4);
  const auto v6 = test::ipv6(ip6_a, ip6_b, l4);
  const bytes hop_by_hop = {17, 0, 0, 0, 0, 0, 0, 0};  // next: UDP, 8 bytes
  const auto v6_ext = test::ipv6(ip6_a, ip6_b, l4, 0, hop_by_hop);

  struct variant {
    const char* what;
    std::uint32_t link;
    bytes frame;
    const char* src;
  };
  const std::vector<variant> variants = {
      {"802.1Q", 1, test::ethernet(0x0800, v4, {0x8100}), "198.51.100.7:7000"},
      {"802.1ad+802.1Q", 1, test::ethernet(0x0800, v4, {0x88a8, 0x8100}), "198.51.100.7:7000"},
      {"SLL", 113, test::linux_sll(0x0800, v4), "198.51.100.7:7000"},
      {"SLL2", 276, test::linux_sll2(0x0800, v4), "198.51.100.7:7000"},
      {"raw IPv4", 101, v4, "198.51.100.7:7000"},
      {"IPv6", 1, test::ethernet(0x86dd, v6), "[2001:db8::1]:7000"},
      {"IPv6 hop-by-hop", 1, test::ethernet(0x86dd, v6_ext), "[2001:db8::1]:7000"},
      {"SLL IPv6", 113, test::linux_sll(0x86dd, v6), "[2001:db8::1]:7000"},
  };
  for (const auto& v : variants) {
    INFO(v.what);
    test::pcap_builder b(v.link);
    b.record(t0, v.frame);
    b.record(t0 + 20 * ms, v.frame);
    const auto path = dir.file("variant.pcap");
    b.save(path);

    auto cap = read_pcap(path);
    REQUIRE(cap.ok());
    CHECK(cap->stats.records == 2);
    CHECK(cap->stats.udp_datagrams == 2);
    REQUIRE(cap->calls.size() == 1);
    REQUIRE(cap->calls[0].legs.size() == 1);
    CHECK(cap->calls[0].legs[0].src_address == v.src);
    CHECK(cap->calls[0].legs[0].payload_type == media::pt_pcma);
    REQUIRE(cap->calls[0].legs[0].packets.size() == 2);
    CHECK(cap->calls[0].legs[0].packets[0].bytes == payload);
  }
}

TEST_CASE("non-UDP, fragments, snap-length cuts and non-RTP are skipped and counted", "[pcap]") {
  test::temp_dir dir;
  test::pcap_builder b(1);
  const auto good = eth_rtp(5004, 6004, true, 1);
  b.record(t0, good);
  b.record(t0 + 1 * ms, test::ethernet(0x0806, bytes(28, 0)));                             // ARP
  b.record(t0 + 2 * ms, test::ethernet(0x0800, test::ipv4(ip_a, ip_b, bytes(20, 0), 6)));  // TCP
  const auto l4 = test::udp(5004, 6004, test::rtp_packet(0, 2, 320, 0x1111, 160, 2));
  b.record(t0 + 3 * ms, test::ethernet(0x0800, test::ipv4(ip_a, ip_b, l4, 17, 0x2000)));  // MF
  b.record(t0 + 4 * ms, test::ethernet(0x0800, test::ipv4(ip_a, ip_b, l4, 17, 0x0010)));  // offset
  const bytes frag_ext = {17, 0, 0, 1, 0, 0, 0, 7};
  b.record(t0 + 5 * ms, test::ethernet(0x86dd, test::ipv6(ip6_a, ip6_b, l4, 44, frag_ext)));
  // Captured 60 bytes of a longer frame: headers whole, payload cut.
  const auto cut_source = eth_rtp(5004, 6004, true, 3);
  b.record(t0 + 6 * ms, bytes(cut_source.begin(), cut_source.begin() + 60),
           static_cast<std::uint32_t>(cut_source.size()));
  // A DNS-looking flow (first byte 0x12: RTP version 0).
  const auto dns = test::ethernet(
      0x0800, test::ipv4(ip_a, ip_b, test::udp(53000, 53, bytes{0x12, 0x34, 1, 0, 0, 1})));
  b.record(t0 + 7 * ms, dns);
  b.record(t0 + 8 * ms, dns);
  // An RTCP sender report inside the RTP flow: dropped from the leg.
  bytes rtcp = {0x80, 200, 0, 6};
  rtcp.resize(28, 0);
  b.record(t0 + 9 * ms,
           test::ethernet(0x0800, test::ipv4(ip_a, ip_b, test::udp(5004, 6004, rtcp))));
  b.record(t0 + 20 * ms, eth_rtp(5004, 6004, true, 4));
  const auto path = dir.file("mixed.pcap");
  b.save(path);

  auto cap = read_pcap(path);
  REQUIRE(cap.ok());
  const auto& s = cap->stats;
  CHECK(s.records == 11);
  CHECK(s.non_udp == 2);
  CHECK(s.fragments == 3);
  CHECK(s.truncated == 1);
  CHECK(s.udp_datagrams == 5);  // two RTP, two DNS, one RTCP
  CHECK(s.flows == 2);
  CHECK(s.rtp_flows == 1);
  CHECK(s.non_rtp_datagrams == 3);  // two DNS, one RTCP
  REQUIRE(cap->calls.size() == 1);
  REQUIRE(cap->calls[0].legs.size() == 1);
  const auto& leg = cap->calls[0].legs[0];
  REQUIRE(leg.packets.size() == 2);
  CHECK(parsed(leg.packets[0]).seq == 1);
  CHECK(parsed(leg.packets[1]).seq == 4);
}

TEST_CASE("separate port pairs are separate calls, ordered by first packet", "[pcap]") {
  test::temp_dir dir;
  test::pcap_builder b(1);
  b.record(t0, eth_rtp(9000, 9100, true, 1));  // lone flow, starts first
  b.record(t0 + 10 * ms, eth_rtp(5004, 6004, false, 1));
  b.record(t0 + 15 * ms, eth_rtp(6004, 5004, true, 1));
  b.record(t0 + 20 * ms, eth_rtp(9000, 9100, true, 2));
  const auto path = dir.file("calls.pcap");
  b.save(path);

  auto cap = read_pcap(path);
  REQUIRE(cap.ok());
  REQUIRE(cap->calls.size() == 2);
  REQUIRE(cap->calls[0].legs.size() == 1);
  CHECK(cap->calls[0].legs[0].src_address == "198.51.100.7:9000");
  CHECK(cap->calls[0].legs[0].packets.size() == 2);
  REQUIRE(cap->calls[1].legs.size() == 2);
  CHECK(cap->calls[1].legs[0].src_address == "192.0.2.9:5004");
  CHECK(cap->calls[1].legs[1].src_address == "198.51.100.7:6004");
  CHECK(cap->calls[1].source == path);
}

// ---- damage -----------------------------------------------------------------------

TEST_CASE("files that are not pcap are refused with the file named", "[pcap]") {
  test::temp_dir dir;
  const auto path = dir.file("bad.pcap");

  SECTION("missing") {
    auto cap = read_pcap(dir.file("absent.pcap"));
    REQUIRE_FALSE(cap.ok());
    CHECK(cap.error().code == "io_error");
    CHECK(cap.error().message == dir.file("absent.pcap") + ": cannot open for reading");
  }
  SECTION("empty") {
    test::save_bytes(path, {});
    auto cap = read_pcap(path);
    REQUIRE_FALSE(cap.ok());
    CHECK(cap.error().code == "not_pcap");
    CHECK(cap.error().message == path + ": empty file, not a pcap capture");
  }
  SECTION("wrong magic") {
    test::save_bytes(path, bytes(100, 0x41));
    auto cap = read_pcap(path);
    REQUIRE_FALSE(cap.ok());
    CHECK(cap.error().code == "not_pcap");
    CHECK(cap.error().message == path + ": not a pcap capture (magic 0x41414141)");
  }
  SECTION("pcapng") {
    bytes ng = {0x0a, 0x0d, 0x0d, 0x0a};
    ng.resize(64, 0);
    test::save_bytes(path, ng);
    auto cap = read_pcap(path);
    REQUIRE_FALSE(cap.ok());
    CHECK(cap.error().code == "not_pcap");
    CHECK(cap.error().message.find("pcapng") != std::string::npos);
  }
  SECTION("truncated file header") {
    test::pcap_builder b(1);
    test::save_bytes(path, bytes(b.data().begin(), b.data().begin() + 10));
    auto cap = read_pcap(path);
    REQUIRE_FALSE(cap.ok());
    CHECK(cap.error().code == "truncated_header");
    CHECK(cap.error().message == path + ": truncated pcap file header (10 of 24 bytes)");
  }
  SECTION("unsupported link type") {
    test::pcap_builder b(105);  // 802.11
    b.save(path);
    auto cap = read_pcap(path);
    REQUIRE_FALSE(cap.ok());
    CHECK(cap.error().code == "unsupported_link_type");
    CHECK(cap.error().message.rfind(path + ": unsupported link type 105", 0) == 0);
  }
  SECTION("impossible record length") {
    test::pcap_builder b(1);
    b.record(t0, eth_rtp(5004, 6004, true, 1));
    b.u32(0);
    b.u32(0);
    b.u32(0x7fffffff);
    b.u32(0x7fffffff);
    b.save(path);
    auto cap = read_pcap(path);
    REQUIRE_FALSE(cap.ok());
    CHECK(cap.error().code == "corrupt_record");
    CHECK(cap.error().message.rfind(path + ": record at byte 254 claims 2147483647 bytes", 0) == 0);
  }
}

TEST_CASE("a capture cut short keeps its whole records and counts the cut one", "[pcap]") {
  test::temp_dir dir;
  const bytes file = test::load_bytes(capture_path("call1_pcma.pcap"));
  // Every record of this capture is 16 + 214 bytes.
  const std::size_t record = 16 + 214;
  const auto path = dir.file("cut.pcap");

  SECTION("inside a record header") {
    test::save_bytes(path, bytes(file.begin(), file.begin() + 24 + 3 * record + 7));
    auto cap = read_pcap(path);
    REQUIRE(cap.ok());
    CHECK(cap->stats.records == 3);
    CHECK(cap->stats.truncated == 1);
    CHECK(cap->calls.size() == 1);
    std::size_t packets = 0;
    for (const auto& c : cap->calls)
      packets += c.packet_count();
    CHECK(packets == 3);
  }
  SECTION("inside a record body") {
    test::save_bytes(path, bytes(file.begin(), file.begin() + 24 + 5 * record + 16 + 100));
    auto cap = read_pcap(path);
    REQUIRE(cap.ok());
    CHECK(cap->stats.records == 5);
    CHECK(cap->stats.truncated == 1);
    std::size_t packets = 0;
    for (const auto& c : cap->calls)
      packets += c.packet_count();
    CHECK(packets == 5);
  }
  SECTION("just the file header") {
    test::save_bytes(path, bytes(file.begin(), file.begin() + 24));
    auto cap = read_pcap(path);
    REQUIRE(cap.ok());
    CHECK(cap->stats.records == 0);
    CHECK(cap->stats.truncated == 0);
    CHECK(cap->calls.empty());
  }
}
