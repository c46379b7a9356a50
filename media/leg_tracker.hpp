// leg_tracker: turns one leg's RTP, as a real network delivers it, into
// frames placed on the recording's sample timeline.
//
// What it copes with, and how:
// - sequence wrap past 65535: 16-bit numbers are extended to 64 bits
//   (RFC 3550 appendix A.1 style cycle counting);
// - duplicates: a window of recently seen extended sequence numbers;
// - reordering: a small buffer releases packets in sequence order once the
//   window is full or the gap has waited `reorder_ms`;
// - late packets: older than what was already released are counted and
//   dropped (they would rewrite the past);
// - a second stream on the port (a sender of an ended call that never
//   stopped, a misrouted leg): the leg locks to its current SSRC; a packet
//   of another SSRC while the current one is alive (it had a packet within
//   `ssrc_quiet_ms`) is counted `foreign_ssrc` and dropped; the first
//   stream heard owns a fresh leg (see docs/raw-format.md for why);
// - SSRC change (re-INVITE, transfer: the old stream went quiet) and
//   timestamp jumps (forward beyond `max_ts_jump_ms` of what arrival time
//   explains, or backwards): the new stream segment is re-anchored on
//   arrival time;
// - gaps (hold, loss): nothing is emitted; playback fills silence.
//
// Placement: within a segment, sample_offset = anchor + (ts - anchor_ts);
// the anchor comes from the arrival time of the segment's first packet
// relative to the recording start, so both legs share one timeline.
//
// Details the rules above leave open:
// - jumps are judged as packets are released, in sequence order, against
//   the previous released packet: any backwards timestamp is a jump (in
//   sequence order a sane sender never goes back);
// - a new anchor is clamped to the end of audio already emitted;
// - the first packet of a stream is released at once (there is nothing to
//   wait for yet), so a packet numbered before it counts as late;
// - after an SSRC change, packets of the previous SSRC arriving within
//   `reorder_ms` are stragglers: counted late, dropped;
// - non-G.711 packets of the current SSRC still take their sequence slot
//   (nothing waits for them), but emit nothing and never anchor.
//
// The per-packet path does not allocate once each held slot has seen its
// largest payload.
//
// Single-threaded; one tracker per leg.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "media/rtp.hpp"

namespace ccrec::media {

struct tracker_options {
  std::size_t reorder_packets = 8;      // max packets held for reordering
  std::int64_t reorder_ms = 60;         // max time a gap is waited for
  std::int64_t max_ts_jump_ms = 1000;   // forward jump beyond arrival time
  std::size_t duplicate_window = 1024;  // extended seqs remembered
  // How long the current SSRC must have been silent before another SSRC
  // may take the leg over. A live 20 ms stream is never silent this long
  // (five packet intervals, room for jitter and 30/40 ms packetisation), so
  // a second stream interleaved with it cannot steal the leg; a genuine
  // change (re-INVITE, transfer) stops the old stream, so the new one takes
  // over after losing at most this much of its start.
  std::int64_t ssrc_quiet_ms = 100;
};

// A frame ready to be written. `data` is valid only during the callback.
struct placed_frame {
  std::uint64_t sample_offset = 0;  // samples since recording start (8 kHz)
  std::uint8_t payload_type = 0;
  std::uint32_t ssrc = 0;
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

using frame_sink = std::function<void(const placed_frame&)>;

struct leg_counters {
  std::uint64_t packets = 0;  // accepted and emitted
  std::uint64_t duplicates = 0;
  std::uint64_t reordered = 0;  // arrived out of order but in time
  std::uint64_t late = 0;       // arrived after their slot was released
  std::uint64_t ssrc_changes = 0;
  std::uint64_t ts_jumps = 0;  // re-anchors on the same SSRC
  std::uint64_t seq_wraps = 0;
  std::uint64_t unsupported_payload = 0;  // not PCMU/PCMA (e.g. comfort noise)
  std::uint64_t foreign_ssrc = 0;         // another stream's packets, dropped
};

class leg_tracker {
 public:
  // `start_ns` is the recording start on the same clock as arrival times.
  explicit leg_tracker(std::int64_t start_ns, tracker_options opts = {});
  ~leg_tracker();
  leg_tracker(leg_tracker&&) noexcept;
  leg_tracker& operator=(leg_tracker&&) noexcept;

  // Takes one parsed packet that arrived at `arrival_ns`; emits, in order,
  // every frame that is now ready.
  void push(const rtp_packet& pkt, std::int64_t arrival_ns, const frame_sink& sink);
  // Releases frames whose gap has waited long enough (call periodically).
  void poll(std::int64_t now_ns, const frame_sink& sink);
  // Releases everything held (end of recording).
  void flush(const frame_sink& sink);

  const leg_counters& counters() const { return counters_; }

 private:
  // Sequence, segment and reorder state; defined in leg_tracker.cpp.
  struct state;
  std::unique_ptr<state> s_;
  leg_counters counters_;
};

}  // namespace ccrec::media
