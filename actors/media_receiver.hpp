// media_receiver — the UDP ports where RTP legs and screen streams arrive.
//
// Owns:      the media port pool and one I/O thread (media_io) that, every
//            receive_interval_ms, takes what waits on every ready socket
//            (recvmmsg over epoll, kernel arrival stamps), parses RTP, runs a
//            leg_tracker per leg, encodes raw records, and hands each writer
//            a write_batch every batch_bytes or batch_interval_ms. Packets
//            never travel as actor messages, and a leg costs a system call
//            per few packets: that is what keeps thousands of legs at 50
//            packets/s cheap. When a recording's media stops (hold), its
//            writers get one (flush_atom) after batch_interval_ms, so what
//            they hold is sealed without a timer per writer.
// Takes:     (open_atom, open_media)        -> vector<media_endpoint>
//            (close_atom, string rec_id)    -> media_closed, after the last
//                                              batch was sent to the writers
//            (pause_atom, string rec_id)    drop media, write a marker
//            (resume_atom, string rec_id)   take media again
//            (status_atom)                  -> media_status
//                                              (messages/messages.hpp)
// Sends:     (write_atom, write_batch) and, when media goes idle, (flush_atom)
//            to the writers of each recording.
// Failure:   no free port: engine_errc::busy. Garbage datagrams are counted
//            per leg and dropped. A closed leg's port keeps counting RTP that
//            outlives the call, and is released once nothing has arrived for
//            late_grace_ms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <caf/all.hpp>

namespace ccrec {

struct media_receiver_options {
  std::string host = "127.0.0.1";
  std::uint16_t port_low = 40000;
  std::uint16_t port_high = 44999;
  std::int64_t late_grace_ms = 2000;
  std::size_t batch_bytes = 16 * 1024;
  std::int64_t batch_interval_ms = 250;
  // How long datagrams collect in the sockets between two receive passes:
  // 80 ms is four packets per leg per system call at 20 ms packetisation
  // (measured at 2,000 calls: the media thread needs 15% less CPU than at
  // 40 ms). The kernel stamps arrival, so this costs no timing accuracy;
  // it costs write latency and about 4 KiB of kernel socket memory per leg.
  std::int64_t receive_interval_ms = 80;
  // Per socket: about 400 G.711 datagrams, seconds of a leg, so a stalled
  // engine loses nothing for a long while (capped by net.core.rmem_max).
  int socket_receive_buffer = 256 * 1024;
};

caf::behavior media_receiver(caf::event_based_actor* self, media_receiver_options opts);

}  // namespace ccrec
