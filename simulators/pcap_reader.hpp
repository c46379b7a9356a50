// pcap_reader: loads the RTP calls of a classic pcap capture.
//
// Reads libpcap's classic format (not pcapng) in either byte order, with
// micro- or nanosecond timestamps, link types Ethernet (optionally with
// 802.1Q/802.1ad VLAN tags), Linux cooked capture (SLL and SLL2) and raw
// IP, carrying IPv4 or IPv6 and UDP. Packets that are not UDP, IP
// fragments, and records cut short (by the snap length or by the end of the
// file) are skipped and counted.
//
// UDP datagrams are grouped into flows by (source IP:port, destination
// IP:port). A flow is an RTP flow when most of its datagrams parse as RTP
// version 2 with payload type PCMU (0) or PCMA (8); its datagrams that do
// not parse as RTP are dropped and counted. Opposite flows (A->B and B->A)
// pair into one call of two legs; a flow without a partner is a one-leg
// call. Within a call the flow whose first packet came first is the
// "caller" leg. Calls are ordered by their first packet.
//
// Stateless free function: call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "simulators/media_call.hpp"

namespace ccrec::pbxsim {

// Records larger than this are corruption, not packets (libpcap's own limit).
inline constexpr std::uint32_t pcap_max_record_bytes = 262144;

struct pcap_stats {
  std::size_t records = 0;            // complete packet records read
  std::size_t udp_datagrams = 0;      // IPv4/IPv6 UDP datagrams found
  std::size_t non_udp = 0;            // records that are not IP/UDP (ARP, TCP, ICMP, ...)
  std::size_t fragments = 0;          // IP fragments, skipped
  std::size_t truncated = 0;          // records cut short (snap length or end of file), skipped
  std::size_t flows = 0;              // distinct UDP flows
  std::size_t rtp_flows = 0;          // flows taken as G.711 RTP
  std::size_t non_rtp_datagrams = 0;  // datagrams in non-RTP flows or not RTP within RTP flows
};

struct pcap_capture {
  std::string path;
  std::uint32_t link_type = 0;
  bool nanosecond_timestamps = false;
  bool big_endian = false;
  pcap_stats stats;
  std::vector<media_call> calls;
};

// Reads the capture at `path`. Errors (codes): "io_error" (cannot open or
// read), "not_pcap" (empty file or unknown magic, pcapng named as such),
// "truncated_header" (shorter than the 24-byte file header),
// "unsupported_link_type", "corrupt_record" (a record claims an impossible
// length). Every message names the file.
result<pcap_capture> read_pcap(const std::string& path);

}  // namespace ccrec::pbxsim
