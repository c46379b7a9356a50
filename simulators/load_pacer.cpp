#include "simulators/load_pacer.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <spdlog/spdlog.h>

#include "media/g711.hpp"
#include "media/rtp.hpp"

namespace ccrec::pbxsim {
namespace {

constexpr std::size_t wheel_slots = 20;          // one per millisecond of the 20 ms period
constexpr std::int64_t tick_ns = 1'000'000;      // slot length
constexpr std::size_t send_batch = 256;          // datagrams per sendmmsg
constexpr std::uint64_t cpu_sample_ticks = 100;  // how often the thread reads its CPU time
constexpr std::size_t tone_bytes = load_samples_per_packet * load_packets_per_second;
constexpr double two_pi = 6.283185307179586;

std::int64_t steady_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void sleep_until_ns(std::int64_t deadline_ns) {
  timespec ts{};
  ts.tv_sec = deadline_ns / 1'000'000'000;
  ts.tv_nsec = deadline_ns % 1'000'000'000;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

void put_be16(std::uint8_t* out, std::uint16_t v) {
  out[0] = static_cast<std::uint8_t>(v >> 8);
  out[1] = static_cast<std::uint8_t>(v);
}

void put_be32(std::uint8_t* out, std::uint32_t v) {
  out[0] = static_cast<std::uint8_t>(v >> 24);
  out[1] = static_cast<std::uint8_t>(v >> 16);
  out[2] = static_cast<std::uint8_t>(v >> 8);
  out[3] = static_cast<std::uint8_t>(v);
}

void atomic_max(std::atomic<std::int64_t>& a, std::int64_t v) {
  auto seen = a.load(std::memory_order_relaxed);
  while (v > seen && !a.compare_exchange_weak(seen, v, std::memory_order_relaxed)) {
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// tone_bank
// ---------------------------------------------------------------------------

tone_bank::tone_bank() : pcmu_(tones * tone_bytes), pcma_(tones * tone_bytes) {
  for (std::size_t t = 0; t < tones; ++t) {
    const double hz = first_hz + step_hz * static_cast<double>(t);
    for (std::size_t i = 0; i < tone_bytes; ++i) {
      const double s = amplitude * std::sin(two_pi * hz * static_cast<double>(i) /
                                            static_cast<double>(media::g711_rate));
      const auto pcm = static_cast<std::int16_t>(std::lround(s));
      pcmu_[t * tone_bytes + i] = media::linear_to_ulaw(pcm);
      pcma_[t * tone_bytes + i] = media::linear_to_alaw(pcm);
    }
  }
}

const std::uint8_t* tone_bank::payload(std::uint8_t payload_type, std::size_t tone,
                                       std::uint64_t k) const {
  const auto& table = payload_type == media::pt_pcma ? pcma_ : pcmu_;
  const std::size_t packet = static_cast<std::size_t>(k % load_packets_per_second);
  return table.data() + (tone % tones) * tone_bytes + packet * load_samples_per_packet;
}

// ---------------------------------------------------------------------------
// Pacer state
// ---------------------------------------------------------------------------

struct rtp_pacer::leg_state {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::uint8_t header[load_rtp_header_bytes] = {};
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  std::uint8_t payload_type = 0;
  std::size_t tone = 0;
  std::uint32_t call = 0;
  std::uint8_t leg = 0;
  std::uint64_t packets = 0;
  std::uint64_t sent = 0;
  bool active = false;
};

struct rtp_pacer::request {
  enum class kind { add, stop_call, stop_all } what = kind::add;
  pacer_leg leg;
  std::uint32_t call = 0;
};

result<std::unique_ptr<rtp_pacer>> rtp_pacer::start(const tone_bank& tones, pacer_options options,
                                                    done_fn on_done) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return make_error("socket_failed", std::string{"cannot open a UDP socket: "} + strerror(errno));
  // A deep send queue rides out a scheduling hiccup of the engine's
  // receiving side without the pacer blocking mid-slot.
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &options.send_buffer_bytes,
             sizeof options.send_buffer_bytes);
  return std::unique_ptr<rtp_pacer>(new rtp_pacer(tones, options, std::move(on_done), fd));
}

rtp_pacer::rtp_pacer(const tone_bank& tones, pacer_options options, done_fn on_done, int fd)
    : tones_(tones), options_(options), on_done_(std::move(on_done)), fd_(fd) {
  wheel_.resize(wheel_slots);
  msgs_.resize(send_batch);
  iovs_.resize(2 * send_batch);
  thread_ = std::thread([this] { run(); });
}

rtp_pacer::~rtp_pacer() {
  quit_ = true;
  if (thread_.joinable())
    thread_.join();
  ::close(fd_);
}

void rtp_pacer::add(const pacer_leg& leg) {
  std::lock_guard<std::mutex> lock{requests_mutex_};
  requests_.push_back(request{request::kind::add, leg, 0});
  has_requests_ = true;
}

void rtp_pacer::stop_call(std::uint32_t call) {
  std::lock_guard<std::mutex> lock{requests_mutex_};
  requests_.push_back(request{request::kind::stop_call, {}, call});
  has_requests_ = true;
}

void rtp_pacer::stop_all() {
  std::lock_guard<std::mutex> lock{requests_mutex_};
  requests_.push_back(request{request::kind::stop_all, {}, 0});
  has_requests_ = true;
}

pacer_stats rtp_pacer::stats() const {
  pacer_stats s;
  s.packets_sent = packets_sent_.load();
  s.send_errors = send_errors_.load();
  s.late_packets = late_packets_.load();
  s.max_lag_ns = max_lag_ns_.load();
  s.active_legs = active_legs_.load();
  s.cpu_seconds = static_cast<double>(cpu_ns_.load()) / 1e9;
  return s;
}

// ---------------------------------------------------------------------------
// The pacer thread
// ---------------------------------------------------------------------------

void rtp_pacer::run() {
  epoch_ns_ = steady_ns();
  const std::int64_t cpu_start = thread_cpu_ns();
  while (!quit_) {
    const std::int64_t due = epoch_ns_ + static_cast<std::int64_t>(next_tick_) * tick_ns;
    std::int64_t now = steady_ns();
    if (now < due) {
      sleep_until_ns(due);
      now = steady_ns();
    }
    if (has_requests_)
      apply_requests(now);
    send_slot(static_cast<std::size_t>(next_tick_ % wheel_slots), due, now);
    ++next_tick_;
    if (next_tick_ % cpu_sample_ticks == 0)
      cpu_ns_ = thread_cpu_ns() - cpu_start;
  }
  cpu_ns_ = thread_cpu_ns() - cpu_start;
}

void rtp_pacer::apply_requests(std::int64_t) {
  std::vector<request> batch;
  {
    std::lock_guard<std::mutex> lock{requests_mutex_};
    batch.swap(requests_);
    has_requests_ = false;
  }

  for (auto& r : batch) {
    if (r.what == request::kind::add) {
      std::uint32_t index;
      if (!free_.empty()) {
        index = free_.back();
        free_.pop_back();
      } else {
        index = static_cast<std::uint32_t>(legs_.size());
        legs_.emplace_back();
      }
      auto& l = legs_[index];
      l = leg_state{};
      std::memcpy(&l.addr, &r.leg.dest.addr, sizeof l.addr);
      l.addr_len = r.leg.dest.addr_len;
      l.seq = r.leg.first_seq;
      l.timestamp = r.leg.first_timestamp;
      l.payload_type = r.leg.payload_type;
      l.tone = r.leg.tone;
      l.call = r.leg.call;
      l.leg = r.leg.leg;
      l.packets = r.leg.packets;
      l.active = true;
      media::write_rtp_header(l.header, l.payload_type, true, l.seq, l.timestamp, r.leg.ssrc);

      // The emptiest slot, so that calls answered together do not all send
      // in the same millisecond.
      std::size_t best = static_cast<std::size_t>(next_tick_ % wheel_slots);
      for (std::size_t k = 1; k < wheel_slots; ++k) {
        const std::size_t s = static_cast<std::size_t>((next_tick_ + k) % wheel_slots);
        if (wheel_[s].size() < wheel_[best].size())
          best = s;
      }
      wheel_[best].push_back(index);
      ++active_legs_;
      continue;
    }
    for (std::uint32_t i = 0; i < legs_.size(); ++i) {
      if (legs_[i].active && (r.what == request::kind::stop_all || legs_[i].call == r.call))
        finish_leg(i);
    }
  }
}

void rtp_pacer::finish_leg(std::uint32_t index) {
  auto& l = legs_[index];
  l.active = false;  // its slot frees the index on its next round
  --active_legs_;
  if (on_done_)
    on_done_(l.call, l.leg, l.sent);
}

void rtp_pacer::send_slot(std::size_t slot, std::int64_t due_ns, std::int64_t now_ns) {
  auto& members = wheel_[slot];
  // Legs finished since the last round leave the slot now, and only now is
  // their index free for a new leg: freed earlier, it could sit in two slots.
  std::size_t kept = 0;
  for (std::uint32_t index : members) {
    if (legs_[index].active)
      members[kept++] = index;
    else
      free_.push_back(index);
  }
  members.resize(kept);
  if (members.empty())
    return;

  const std::int64_t lag = now_ns - due_ns;
  atomic_max(max_lag_ns_, lag);
  if (lag >= options_.late_after_ns)
    late_packets_ += members.size();

  std::size_t count = 0;
  finished_.clear();
  for (std::uint32_t index : members) {
    auto& l = legs_[index];
    put_be16(l.header + 2, l.seq);
    put_be32(l.header + 4, l.timestamp);
    if (l.sent == 1)
      l.header[1] &= 0x7f;  // the marker bit is for the first packet only

    auto* payload = const_cast<std::uint8_t*>(tones_.payload(l.payload_type, l.tone, l.sent));
    iovs_[2 * count] = iovec{l.header, load_rtp_header_bytes};
    iovs_[2 * count + 1] = iovec{payload, load_samples_per_packet};
    msgs_[count] = mmsghdr{};
    msgs_[count].msg_hdr.msg_name = &l.addr;
    msgs_[count].msg_hdr.msg_namelen = l.addr_len;
    msgs_[count].msg_hdr.msg_iov = &iovs_[2 * count];
    msgs_[count].msg_hdr.msg_iovlen = 2;

    ++l.seq;
    l.timestamp += load_samples_per_packet;
    ++l.sent;
    if (l.packets != 0 && l.sent >= l.packets)
      finished_.push_back(index);
    if (++count == send_batch) {
      flush_batch(count);
      count = 0;
    }
  }
  flush_batch(count);
  // Finished only after the batch left: its header bytes were in use.
  for (std::uint32_t index : finished_)
    finish_leg(index);
}

// Sends msgs_[0, count); a datagram the kernel refuses is counted and
// skipped, the rest still go.
void rtp_pacer::flush_batch(std::size_t count) {
  std::size_t done = 0;
  while (done < count) {
    const int n = sendmmsg(fd_, &msgs_[done], static_cast<unsigned>(count - done), 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (send_errors_++ == 0)
        spdlog::warn("load pacer: sendmmsg failed: {}", std::strerror(errno));
      ++done;
      continue;
    }
    packets_sent_ += static_cast<std::uint64_t>(n);
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace ccrec::pbxsim
