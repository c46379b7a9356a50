#include "media/leg_tracker.hpp"

#include <algorithm>
#include <utility>

namespace ccrec::media {
namespace {

constexpr std::int64_t ns_per_second = 1'000'000'000;
constexpr std::int64_t ns_per_ms = 1'000'000;
constexpr std::int64_t ns_per_sample = ns_per_second / g711_rate;
constexpr std::int64_t samples_per_ms = g711_rate / 1000;
constexpr std::uint64_t seq_cycle = std::uint64_t{1} << 16;
constexpr std::size_t bits_per_word = 64;

bool is_g711(std::uint8_t payload_type) {
  return payload_type == pt_pcmu || payload_type == pt_pcma;
}

// Rounded to the nearest sample; times before `from_ns` count as zero.
std::uint64_t samples_between(std::int64_t from_ns, std::int64_t to_ns) {
  if (to_ns <= from_ns)
    return 0;
  return static_cast<std::uint64_t>((to_ns - from_ns + ns_per_sample / 2) / ns_per_sample);
}

}  // namespace

struct leg_tracker::state {
  // One packet on its way out: points either into a held slot or, on the fast
  // path, straight into the caller's buffer.
  struct packet_view {
    std::uint64_t ext_seq = 0;
    std::uint32_t timestamp = 0;
    std::uint8_t payload_type = 0;
    std::uint32_t ssrc = 0;
    std::int64_t arrival_ns = 0;
    bool audio = false;  // false: occupies a sequence number, emits nothing
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
  };

  struct held_packet {
    packet_view view;
    std::vector<std::uint8_t> bytes;  // capacity kept between uses
  };

  state(std::int64_t start, tracker_options o);

  void push(const rtp_packet& pkt, std::int64_t arrival_ns, leg_counters& c,
            const frame_sink& sink);
  void poll(std::int64_t now_ns, leg_counters& c, const frame_sink& sink);
  void flush(leg_counters& c, const frame_sink& sink);

 private:
  bool accept_ssrc(const rtp_packet& pkt, bool audio, std::int64_t arrival_ns, leg_counters& c,
                   const frame_sink& sink);
  void start_stream(std::uint32_t ssrc);
  std::uint64_t extend_seq(std::uint16_t seq) const;
  bool seen(std::uint64_t ext) const;
  void mark_seen(std::uint64_t ext, leg_counters& c);
  void hold(const packet_view& v);
  std::int64_t oldest_arrival() const;
  void release_ready(std::int64_t now_ns, leg_counters& c, const frame_sink& sink);
  void release_lowest(leg_counters& c, const frame_sink& sink);
  void release(const packet_view& v, leg_counters& c, const frame_sink& sink);
  std::int64_t extend_ts(std::uint32_t ts) const;
  bool is_jump(std::int64_t ext_ts, std::int64_t arrival_ns) const;
  void anchor(std::int64_t ext_ts, std::int64_t arrival_ns);

  std::int64_t start_ns_;
  tracker_options opts_;
  std::int64_t reorder_ns_;
  std::int64_t quiet_ns_;

  // Stream identity. The previous SSRC is remembered briefly so that its
  // stragglers, reordered around the switch, do not flip the leg back.
  bool have_ssrc_ = false;
  std::uint32_t ssrc_ = 0;
  bool have_prev_ssrc_ = false;
  std::uint32_t prev_ssrc_ = 0;
  std::int64_t switched_at_ns_ = 0;
  std::int64_t ssrc_heard_ns_ = 0;  // last arrival of the current SSRC

  // Sequence state of the current SSRC.
  bool seq_started_ = false;
  std::uint64_t highest_seq_ = 0;
  bool released_any_ = false;
  std::uint64_t next_seq_ = 0;
  std::uint64_t window_bits_ = 0;
  std::vector<std::uint64_t> seen_words_;  // bit per ext seq in (highest - window, highest]

  // Reorder buffer: fixed slots, `order_` lists used slots by ext seq.
  std::vector<held_packet> slots_;
  std::vector<std::size_t> order_;
  std::vector<std::size_t> free_;

  // Timeline of the current segment and of the leg.
  bool need_anchor_ = true;
  std::uint64_t anchor_offset_ = 0;
  std::int64_t anchor_ts_ = 0;
  std::int64_t last_ts_ = 0;
  std::int64_t last_arrival_ns_ = 0;
  std::uint64_t emitted_end_ = 0;
};

leg_tracker::state::state(std::int64_t start, tracker_options o)
    : start_ns_(start),
      opts_(o),
      reorder_ns_(o.reorder_ms * ns_per_ms),
      quiet_ns_(o.ssrc_quiet_ms * ns_per_ms) {
  // The window must reach past everything the reorder buffer can hold.
  const std::size_t wanted = std::max(opts_.duplicate_window, opts_.reorder_packets + 1);
  const std::size_t words = (wanted + bits_per_word - 1) / bits_per_word;
  seen_words_.assign(words, 0);
  window_bits_ = words * bits_per_word;

  // One spare slot: the packet that overflows the buffer is inserted before
  // the lowest is pushed out.
  const std::size_t capacity = opts_.reorder_packets + 1;
  slots_.resize(capacity);
  order_.reserve(capacity);
  free_.reserve(capacity);
  for (std::size_t i = capacity; i > 0; --i)
    free_.push_back(i - 1);
}

void leg_tracker::state::push(const rtp_packet& pkt, std::int64_t arrival_ns, leg_counters& c,
                              const frame_sink& sink) {
  const bool audio = is_g711(pkt.payload_type);
  if (!audio)
    ++c.unsupported_payload;
  if (!accept_ssrc(pkt, audio, arrival_ns, c, sink))
    return;

  const std::uint64_t ext = extend_seq(pkt.seq);
  if (seen(ext)) {
    ++c.duplicates;
    return;
  }
  if (released_any_ && ext < next_seq_) {
    ++c.late;
    return;
  }
  if (ext < highest_seq_)
    ++c.reordered;
  mark_seen(ext, c);

  const packet_view v{ext,        pkt.timestamp, pkt.payload_type, pkt.ssrc,
                      arrival_ns, audio,         pkt.payload,      pkt.payload_size};
  // In-order packets with nothing held skip the copy into a slot.
  if (order_.empty() && (!released_any_ || ext == next_seq_)) {
    release(v, c, sink);
    return;
  }
  hold(v);
  release_ready(arrival_ns, c, sink);
}

void leg_tracker::state::poll(std::int64_t now_ns, leg_counters& c, const frame_sink& sink) {
  release_ready(now_ns, c, sink);
}

void leg_tracker::state::flush(leg_counters& c, const frame_sink& sink) {
  while (!order_.empty())
    release_lowest(c, sink);
}

// Returns whether the packet belongs to the (possibly new) current stream.
bool leg_tracker::state::accept_ssrc(const rtp_packet& pkt, bool audio, std::int64_t arrival_ns,
                                     leg_counters& c, const frame_sink& sink) {
  if (have_ssrc_ && pkt.ssrc == ssrc_) {
    ssrc_heard_ns_ = std::max(ssrc_heard_ns_, arrival_ns);
    return true;
  }
  // Comfort noise or events from an unknown source must not move the leg.
  if (!audio)
    return false;
  if (have_prev_ssrc_ && pkt.ssrc == prev_ssrc_ && arrival_ns - switched_at_ns_ < reorder_ns_) {
    ++c.late;
    return false;
  }
  // The current stream is alive: this is a second stream, not its successor.
  if (have_ssrc_ && arrival_ns - ssrc_heard_ns_ < quiet_ns_) {
    ++c.foreign_ssrc;
    return false;
  }

  if (have_ssrc_) {
    flush(c, sink);
    ++c.ssrc_changes;
    have_prev_ssrc_ = true;
    prev_ssrc_ = ssrc_;
    switched_at_ns_ = arrival_ns;
  }
  start_stream(pkt.ssrc);
  ssrc_heard_ns_ = arrival_ns;
  return true;
}

void leg_tracker::state::start_stream(std::uint32_t ssrc) {
  have_ssrc_ = true;
  ssrc_ = ssrc;
  seq_started_ = false;
  released_any_ = false;
  need_anchor_ = true;
  std::fill(seen_words_.begin(), seen_words_.end(), 0);
}

// RFC 3550 A.1 style: the 16-bit number is placed in the cycle nearest to the
// highest seen, so wrap forward and stragglers from before a wrap both land
// right. The first number starts one cycle up so stragglers stay positive.
std::uint64_t leg_tracker::state::extend_seq(std::uint16_t seq) const {
  if (!seq_started_)
    return seq_cycle + seq;
  const auto delta = static_cast<std::int16_t>(seq - static_cast<std::uint16_t>(highest_seq_));
  return highest_seq_ + static_cast<std::uint64_t>(static_cast<std::int64_t>(delta));
}

bool leg_tracker::state::seen(std::uint64_t ext) const {
  if (!seq_started_ || ext > highest_seq_ || highest_seq_ - ext >= window_bits_)
    return false;
  const std::uint64_t bit = ext % window_bits_;
  return (seen_words_[bit / bits_per_word] >> (bit % bits_per_word)) & 1u;
}

void leg_tracker::state::mark_seen(std::uint64_t ext, leg_counters& c) {
  if (!seq_started_) {
    seq_started_ = true;
    highest_seq_ = ext;
  } else if (ext > highest_seq_) {
    // Bits between the old and new highest describe numbers a window ago.
    if (ext - highest_seq_ >= window_bits_) {
      std::fill(seen_words_.begin(), seen_words_.end(), 0);
    } else {
      for (std::uint64_t s = highest_seq_ + 1; s < ext; ++s) {
        const std::uint64_t bit = s % window_bits_;
        seen_words_[bit / bits_per_word] &= ~(std::uint64_t{1} << (bit % bits_per_word));
      }
    }
    c.seq_wraps += ext / seq_cycle - highest_seq_ / seq_cycle;
    highest_seq_ = ext;
  }
  const std::uint64_t bit = ext % window_bits_;
  seen_words_[bit / bits_per_word] |= std::uint64_t{1} << (bit % bits_per_word);
}

void leg_tracker::state::hold(const packet_view& v) {
  const std::size_t slot = free_.back();
  free_.pop_back();
  held_packet& h = slots_[slot];
  h.bytes.assign(v.data, v.data + v.size);
  h.view = v;
  h.view.data = h.bytes.data();

  const auto pos = std::lower_bound(
      order_.begin(), order_.end(), v.ext_seq,
      [this](std::size_t i, std::uint64_t ext) { return slots_[i].view.ext_seq < ext; });
  order_.insert(pos, slot);
}

std::int64_t leg_tracker::state::oldest_arrival() const {
  std::int64_t oldest = slots_[order_.front()].view.arrival_ns;
  for (std::size_t i : order_)
    oldest = std::min(oldest, slots_[i].view.arrival_ns);
  return oldest;
}

// Releases the lowest held packet while it is the next expected one, the
// buffer is over capacity, or some held packet has waited out the gap.
void leg_tracker::state::release_ready(std::int64_t now_ns, leg_counters& c,
                                       const frame_sink& sink) {
  while (!order_.empty()) {
    const bool in_order = slots_[order_.front()].view.ext_seq == next_seq_;
    const bool over_capacity = order_.size() > opts_.reorder_packets;
    const bool waited = now_ns - oldest_arrival() >= reorder_ns_;
    if (!in_order && !over_capacity && !waited)
      return;
    release_lowest(c, sink);
  }
}

void leg_tracker::state::release_lowest(leg_counters& c, const frame_sink& sink) {
  const std::size_t slot = order_.front();
  order_.erase(order_.begin());
  free_.push_back(slot);
  // The slot is free but untouched until the next hold(): its bytes stay
  // valid through the callback.
  release(slots_[slot].view, c, sink);
}

void leg_tracker::state::release(const packet_view& v, leg_counters& c, const frame_sink& sink) {
  released_any_ = true;
  next_seq_ = v.ext_seq + 1;
  if (!v.audio)
    return;

  const std::int64_t ext_ts = extend_ts(v.timestamp);
  if (need_anchor_) {
    anchor(ext_ts, v.arrival_ns);
  } else if (is_jump(ext_ts, v.arrival_ns)) {
    ++c.ts_jumps;
    anchor(ext_ts, v.arrival_ns);
  }

  placed_frame f;
  f.sample_offset = anchor_offset_ + static_cast<std::uint64_t>(ext_ts - anchor_ts_);
  f.payload_type = v.payload_type;
  f.ssrc = v.ssrc;
  f.data = v.data;
  f.size = v.size;
  ++c.packets;
  last_ts_ = ext_ts;
  last_arrival_ns_ = v.arrival_ns;
  emitted_end_ = std::max(emitted_end_, f.sample_offset + f.size);
  if (sink)
    sink(f);
}

// Extends relative to the previous released packet, so a 32-bit wrap
// continues the count instead of looking like a jump.
std::int64_t leg_tracker::state::extend_ts(std::uint32_t ts) const {
  if (need_anchor_)
    return ts;
  const auto delta = static_cast<std::int32_t>(ts - static_cast<std::uint32_t>(last_ts_));
  return last_ts_ + delta;
}

// Released in sequence order, timestamps never go back in a sane stream; a
// move forward is fine as long as the time between arrivals explains it
// (loss, hold) within the allowed slack.
bool leg_tracker::state::is_jump(std::int64_t ext_ts, std::int64_t arrival_ns) const {
  const std::int64_t delta = ext_ts - last_ts_;
  if (delta < 0)
    return true;
  const auto explained = static_cast<std::int64_t>(samples_between(last_arrival_ns_, arrival_ns));
  return delta > explained + opts_.max_ts_jump_ms * samples_per_ms;
}

// A new segment starts where its first packet arrived, but never on top of
// audio already emitted for this leg.
void leg_tracker::state::anchor(std::int64_t ext_ts, std::int64_t arrival_ns) {
  anchor_offset_ = std::max(samples_between(start_ns_, arrival_ns), emitted_end_);
  anchor_ts_ = ext_ts;
  need_anchor_ = false;
}

leg_tracker::leg_tracker(std::int64_t start_ns, tracker_options opts)
    : s_(std::make_unique<state>(start_ns, opts)) {}

leg_tracker::~leg_tracker() = default;
leg_tracker::leg_tracker(leg_tracker&&) noexcept = default;
leg_tracker& leg_tracker::operator=(leg_tracker&&) noexcept = default;

void leg_tracker::push(const rtp_packet& pkt, std::int64_t arrival_ns, const frame_sink& sink) {
  s_->push(pkt, arrival_ns, counters_, sink);
}

void leg_tracker::poll(std::int64_t now_ns, const frame_sink& sink) {
  s_->poll(now_ns, counters_, sink);
}

void leg_tracker::flush(const frame_sink& sink) {
  s_->flush(counters_, sink);
}

}  // namespace ccrec::media
