#include "actors/media_io.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>

#include "actors/batch_pool.hpp"
#include "media/leg_tracker.hpp"
#include "media/raw_format.hpp"
#include "media/rtp.hpp"

namespace ccrec {

namespace {

constexpr unsigned recv_batch = 16;             // datagrams per recvmmsg
constexpr std::size_t rtp_buffer_bytes = 2048;  // larger than any RTP we accept
constexpr std::size_t screen_buffer_bytes = 65536;
constexpr int max_batches_per_socket = 8;  // per cycle: fairness between sockets
constexpr char screen_magic[4] = {'C', 'C', 'S', 'F'};
constexpr std::size_t screen_header_bytes = 12;
constexpr std::int64_t ns_per_ms = 1'000'000;
// A leg whose last packet did not come out of its tracker at once (held
// for reordering, a duplicate, a gap) is polled for this long, so held
// packets go out when their wait is over even if the leg falls silent.
// In-order legs, nearly all of them, are never polled.
constexpr std::int64_t irregular_watch_ns = 500 * ns_per_ms;
constexpr std::size_t control_bytes = CMSG_SPACE(sizeof(timespec));

std::int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t steady_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

std::uint64_t samples_since(std::int64_t start_ns, std::int64_t now_ns) {
  if (now_ns <= start_ns)
    return 0;
  return static_cast<std::uint64_t>((now_ns - start_ns) / 125'000);  // 8 kHz
}

// The kernel's arrival stamp of a received datagram (CLOCK_REALTIME), or
// -1 when it carries none.
std::int64_t arrival_stamp(const msghdr& h) {
  for (cmsghdr* c = CMSG_FIRSTHDR(const_cast<msghdr*>(&h)); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts{};
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    }
  }
  return -1;
}

// The shared counters are read by other threads; nearly every packet adds
// nothing, and then costs no atomic write.
void add_dropped(std::atomic<std::uint64_t>& counter, std::uint64_t n) {
  if (n != 0)
    counter.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace

// ---------------------------------------------------------------------------
// I/O-thread state
// ---------------------------------------------------------------------------

struct media_io::leg {
  std::string name;
  int fd = -1;
  std::uint16_t port = 0;
  media::leg_tracker tracker;
  media::frame_sink sink;  // appends to the recording's audio buffer
  std::uint64_t invalid = 0;
  std::uint64_t paused_drops = 0;
  std::int64_t poll_until_ns = 0;  // see irregular_watch_ns

  leg(std::string n, int f, std::uint16_t p, std::int64_t start_ns)
      : name(std::move(n)), fd(f), port(p), tracker(start_ns) {}
};

struct media_io::recording {
  std::string id;
  caf::actor audio_writer;
  caf::actor screen_writer;
  std::int64_t start_ns = 0;
  std::vector<std::unique_ptr<leg>> legs;
  int screen_fd = -1;
  std::uint16_t screen_port = 0;
  bool paused = false;

  std::vector<std::uint8_t> audio_buf;
  std::uint64_t audio_buf_packets = 0;
  std::int64_t audio_buf_since_ns = 0;
  std::size_t audio_last_batch = 0;
  std::int64_t audio_sent_ns = 0;  // last batch, for the idle flush
  bool audio_idle_flushed = true;
  std::vector<std::uint8_t> screen_buf;
  std::uint64_t screen_buf_frames = 0;
  std::int64_t screen_buf_since_ns = 0;
  std::int64_t screen_sent_ns = 0;
  bool screen_idle_flushed = true;
  std::uint64_t screen_frames = 0;
  std::uint64_t screen_invalid = 0;
};

// A closed leg's socket, kept open for late_grace_ms to count what still
// arrives.
struct media_io::retired {
  int fd = -1;
  std::uint16_t port = 0;
  std::int64_t until_ns = 0;
};

struct media_io::command {
  enum class kind { add, close, pause, resume } what = kind::add;
  std::string id;
  std::unique_ptr<recording> rec;
};

// ---------------------------------------------------------------------------
// Construction, port pool, commands (any thread)
// ---------------------------------------------------------------------------

media_io::media_io(caf::actor_system& sys, caf::actor_addr owner, media_receiver_options opts)
    : sys_(sys), owner_(std::move(owner)), opts_(std::move(opts)) {
  port_in_use_.assign(opts_.port_high - opts_.port_low + 1, false);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

  // Set up once; each receive only resets what the kernel changed.
  buffers_.assign(recv_batch, std::vector<std::uint8_t>(rtp_buffer_bytes));
  controls_.assign(recv_batch, std::vector<std::uint8_t>(control_bytes));
  msgs_.resize(recv_batch);
  iovs_.resize(recv_batch);
  for (unsigned i = 0; i < recv_batch; ++i) {
    iovs_[i] = iovec{buffers_[i].data(), rtp_buffer_bytes};
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
    msgs_[i].msg_hdr.msg_control = controls_[i].data();
    msgs_[i].msg_hdr.msg_controllen = control_bytes;
  }
  thread_ = std::thread([this] { run(); });
}

media_io::~media_io() {
  stop_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable())
    thread_.join();
  ::close(wake_fd_);
}

result<std::pair<int, std::uint16_t>> media_io::bind_next_port() {
  std::lock_guard<std::mutex> guard{ports_mutex_};
  auto count = port_in_use_.size();
  for (std::size_t tried = 0; tried < count; ++tried) {
    auto index = port_cursor_;
    port_cursor_ = (port_cursor_ + 1) % count;
    if (port_in_use_[index])
      continue;

    auto port = static_cast<std::uint16_t>(opts_.port_low + index);
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return make_error("busy", std::string{"cannot create a UDP socket: "} + strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opts_.socket_receive_buffer,
               sizeof opts_.socket_receive_buffer);
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    inet_pton(AF_INET, opts_.host.c_str(), &addr.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);  // taken by another program: try the next port
      continue;
    }

    // The kernel caps SO_RCVBUF at net.core.rmem_max (and reports double).
    int got = 0;
    socklen_t len = sizeof got;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    if (got < opts_.socket_receive_buffer && !warned_small_buffer_) {
      warned_small_buffer_ = true;
      spdlog::warn(
          "media sockets get a {} byte receive buffer, not the {} asked for: raise "
          "net.core.rmem_max, or a stalled engine drops packets sooner",
          got / 2, opts_.socket_receive_buffer);
    }
    port_in_use_[index] = true;
    ++counters_.open_ports;
    return std::make_pair(fd, port);
  }
  return make_error("busy", "no free media port in " + std::to_string(opts_.port_low) + "-" +
                                std::to_string(opts_.port_high));
}

void media_io::release_port(std::uint16_t port) {
  std::lock_guard<std::mutex> guard{ports_mutex_};
  port_in_use_[port - opts_.port_low] = false;
  --counters_.open_ports;
}

result<std::vector<media_endpoint>> media_io::open(const open_media& req) {
  auto rec = std::make_unique<recording>();
  rec->id = req.recording_id;
  rec->audio_writer = req.audio_writer;
  rec->screen_writer = req.screen_writer;
  rec->start_ns = req.start_ns != 0 ? req.start_ns : steady_ns();

  std::vector<media_endpoint> endpoints;
  auto undo = [&] {
    for (auto& l : rec->legs) {
      ::close(l->fd);
      release_port(l->port);
    }
    if (rec->screen_fd >= 0) {
      ::close(rec->screen_fd);
      release_port(rec->screen_port);
    }
  };
  for (const auto& name : req.legs) {
    auto bound = bind_next_port();
    if (!bound) {
      undo();
      return bound.error();
    }
    rec->legs.push_back(std::make_unique<leg>(name, bound->first, bound->second, rec->start_ns));
    endpoints.push_back(media_endpoint{name, opts_.host, bound->second});
  }
  if (req.screen_writer) {
    auto bound = bind_next_port();
    if (!bound) {
      undo();
      return bound.error();
    }
    rec->screen_fd = bound->first;
    rec->screen_port = bound->second;
    endpoints.push_back(media_endpoint{"screen", opts_.host, bound->second});
  }

  command cmd;
  cmd.what = command::kind::add;
  cmd.id = req.recording_id;
  cmd.rec = std::move(rec);
  push_command(std::move(cmd));
  return endpoints;
}

void media_io::close(const std::string& recording_id) {
  command cmd;
  cmd.what = command::kind::close;
  cmd.id = recording_id;
  push_command(std::move(cmd));
}

void media_io::set_paused(const std::string& recording_id, bool paused) {
  command cmd;
  cmd.what = paused ? command::kind::pause : command::kind::resume;
  cmd.id = recording_id;
  push_command(std::move(cmd));
}

void media_io::push_command(command cmd) {
  {
    std::lock_guard<std::mutex> guard{commands_mutex_};
    commands_.push_back(std::move(cmd));
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

// ---------------------------------------------------------------------------
// The I/O thread
// ---------------------------------------------------------------------------

void media_io::run() {
  pthread_setname_np(pthread_self(), "ccrec.media");  // for top -H and profiles
  const std::int64_t interval = std::max<std::int64_t>(1, opts_.receive_interval_ms) * ns_per_ms;
  std::int64_t cycle_start = steady_ns();
  while (!stop_) {
    cycle(steady_ns());

    // Next cycle on the fixed grid; after a stall, from now (no catch-up burst).
    cycle_start = std::max(cycle_start + interval, steady_ns() - interval);
    wait_for_next_cycle(cycle_start);
  }
  apply_commands();
  shutdown_all(steady_ns());
}

// Sleeps until `cycle_end_ns`, applying commands as soon as they come.
void media_io::wait_for_next_cycle(std::int64_t cycle_end_ns) {
  for (;;) {
    const std::int64_t left = cycle_end_ns - steady_ns();
    if (stop_ || left <= 0)
      return;
    pollfd p{wake_fd_, POLLIN, 0};
    const int ms = static_cast<int>((left + ns_per_ms - 1) / ns_per_ms);
    if (::poll(&p, 1, ms) > 0 && (p.revents & POLLIN)) {
      std::uint64_t count;
      [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof count);
      apply_commands();
    }
  }
}

// One pass over every recording: take what its sockets hold, let held
// packets go, send what is due. Every socket is asked once, ready or not:
// at 20 ms packetisation nearly all are, and asking costs less than having
// the kernel track readiness for every datagram (epoll).
void media_io::cycle(std::int64_t now_ns) {
  // One pair of clock reads per cycle maps every kernel stamp of the cycle.
  real_minus_steady_ns_ = clock_ns(CLOCK_REALTIME) - now_ns;
  const auto max_age = opts_.batch_interval_ms * ns_per_ms;

  for (auto& [id, rec] : recordings_) {
    take_pending(*rec, now_ns);
    for (auto& l : rec->legs) {
      if (l->poll_until_ns > now_ns)
        l->tracker.poll(now_ns, l->sink);
    }
    if (!rec->audio_buf.empty() && now_ns - rec->audio_buf_since_ns >= max_age)
      send_audio(*rec, now_ns);
    if (!rec->screen_buf.empty() && now_ns - rec->screen_buf_since_ns >= max_age)
      send_screen(*rec, now_ns);
    flush_when_idle(*rec, now_ns);
  }
  sweep_retired(now_ns);
}

void media_io::apply_commands() {
  std::deque<command> batch;
  {
    std::lock_guard<std::mutex> guard{commands_mutex_};
    batch.swap(commands_);
  }
  for (auto& cmd : batch) {
    const std::int64_t now = steady_ns();
    real_minus_steady_ns_ = clock_ns(CLOCK_REALTIME) - now;
    switch (cmd.what) {
      case command::kind::add:
        add_recording(std::move(cmd.rec));
        break;
      case command::kind::close:
        close_recording(cmd.id, now);
        break;
      case command::kind::pause:
      case command::kind::resume:
        pause_recording(cmd.id, cmd.what == command::kind::pause, now);
        break;
    }
  }
}

void media_io::add_recording(std::unique_ptr<recording> rec) {
  auto* r = rec.get();
  for (std::size_t i = 0; i < r->legs.size(); ++i) {
    auto& l = *r->legs[i];
    auto leg_index = static_cast<std::uint8_t>(i);
    l.sink = [r, leg_index](const media::placed_frame& f) {
      media::append_raw_record(r->audio_buf, media::record_type::audio, leg_index, f.payload_type,
                               0, f.sample_offset, f.data, f.size);
      ++r->audio_buf_packets;
    };
  }
  recordings_[r->id] = std::move(rec);
}

// Takes what a recording's sockets hold now (also before a command
// changes the recording).
void media_io::take_pending(recording& rec, std::int64_t now_ns) {
  for (auto& l : rec.legs)
    receive_leg(rec, *l, now_ns);
  if (rec.screen_fd >= 0)
    receive_screen(rec, now_ns);
}

void media_io::receive_leg(recording& rec, leg& l, std::int64_t now_ns) {
  for (int round = 0; round < max_batches_per_socket; ++round) {
    int got = recvmmsg(l.fd, msgs_.data(), recv_batch, MSG_DONTWAIT, nullptr);
    if (got <= 0)
      break;

    counters_.packets += static_cast<std::uint64_t>(got);
    for (int i = 0; i < got; ++i) {
      auto& h = msgs_[i].msg_hdr;
      const auto stamp = arrival_stamp(h);
      const std::int64_t arrival =
          stamp < 0 ? now_ns : std::min(now_ns, stamp - real_minus_steady_ns_);
      const bool truncated = h.msg_flags & MSG_TRUNC;
      h.msg_controllen = control_bytes;  // the kernel shrank it to what it wrote
      if (truncated) {
        ++l.invalid;
        ++counters_.invalid;
        continue;
      }
      push_packet(rec, l, buffers_[i].data(), msgs_[i].msg_len, arrival);
    }
    if (static_cast<unsigned>(got) < recv_batch)
      break;
  }
  if (rec.audio_buf.size() >= opts_.batch_bytes)
    send_audio(rec, now_ns);
}

void media_io::push_packet(recording& rec, leg& l, const std::uint8_t* data, std::size_t size,
                           std::int64_t arrival_ns) {
  media::rtp_packet pkt;
  if (media::parse_rtp(data, size, pkt) != media::rtp_error::none) {
    ++l.invalid;
    ++counters_.invalid;
    return;
  }
  if (rec.paused) {
    ++l.paused_drops;
    return;
  }
  if (rec.audio_buf.empty())
    rec.audio_buf_since_ns = arrival_ns;

  const media::leg_counters before = l.tracker.counters();
  l.tracker.push(pkt, arrival_ns, l.sink);
  const media::leg_counters& after = l.tracker.counters();
  if (after.packets == before.packets + 1)
    return;

  // Irregular: watch the leg, and count what the tracker dropped.
  l.poll_until_ns = arrival_ns + irregular_watch_ns;
  add_dropped(counters_.late, after.late - before.late);
  add_dropped(counters_.duplicates, after.duplicates - before.duplicates);
  add_dropped(counters_.foreign_ssrc, after.foreign_ssrc - before.foreign_ssrc);
}

void media_io::receive_screen(recording& rec, std::int64_t now_ns) {
  static thread_local std::vector<std::uint8_t> buffer(screen_buffer_bytes);
  std::array<std::uint8_t, control_bytes> control{};

  for (int round = 0; round < max_batches_per_socket; ++round) {
    iovec iov{buffer.data(), buffer.size()};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control.data();
    h.msg_controllen = control.size();
    auto got = ::recvmsg(rec.screen_fd, &h, MSG_DONTWAIT);
    if (got < 0)
      return;

    counters_.packets += 1;
    auto size = static_cast<std::size_t>(got);
    if ((h.msg_flags & MSG_TRUNC) || size < screen_header_bytes ||
        std::memcmp(buffer.data(), screen_magic, sizeof screen_magic) != 0) {
      ++rec.screen_invalid;
      ++counters_.invalid;
      continue;
    }
    if (rec.paused)
      continue;

    const auto stamp = arrival_stamp(h);
    const std::int64_t arrival =
        stamp < 0 ? now_ns : std::min(now_ns, stamp - real_minus_steady_ns_);
    if (rec.screen_buf.empty())
      rec.screen_buf_since_ns = arrival;
    auto offset_ms =
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, arrival - rec.start_ns) / ns_per_ms);
    media::append_raw_record(rec.screen_buf, media::record_type::screen, 0, 0, 0, offset_ms,
                             buffer.data() + screen_header_bytes, size - screen_header_bytes);
    ++rec.screen_buf_frames;
    ++rec.screen_frames;
    if (rec.screen_buf.size() >= opts_.batch_bytes)
      send_screen(rec, now_ns);
  }
}

// Closed legs' ports: count what still arrives (RTP outliving the call),
// and let them go once nothing has arrived for late_grace_ms. A port that a
// stray sender keeps hitting thus never reaches the next call, whose leg
// would otherwise lock onto whichever stream came first
// (docs/raw-format.md).
void media_io::sweep_retired(std::int64_t now_ns) {
  static thread_local std::array<std::uint8_t, rtp_buffer_bytes> sink;
  const std::int64_t grace_ns = opts_.late_grace_ms * ns_per_ms;
  std::size_t kept = 0;
  for (auto& r : retired_) {
    bool heard = false;
    while (::recv(r.fd, sink.data(), sink.size(), MSG_DONTWAIT) >= 0) {
      ++counters_.after_end;
      heard = true;
    }
    if (heard)
      r.until_ns = std::max(r.until_ns, now_ns + grace_ns);
    if (now_ns < r.until_ns) {
      retired_[kept++] = r;
      continue;
    }
    ::close(r.fd);
    release_port(r.port);
  }
  retired_.resize(kept);
}

void media_io::send_audio(recording& rec, std::int64_t now_ns) {
  if (rec.audio_buf.empty())
    return;
  write_batch batch;
  batch.bytes.swap(rec.audio_buf);
  batch.packets = rec.audio_buf_packets;
  rec.audio_buf_packets = 0;
  // Room for about what the last batch held, not the largest batch
  // possible: a call's buffer is most of what it costs here.
  rec.audio_last_batch = batch.bytes.size();
  rec.audio_buf = batch_pool::take(
      std::min(opts_.batch_bytes + rtp_buffer_bytes, rec.audio_last_batch + rtp_buffer_bytes));
  rec.audio_buf_since_ns = now_ns;
  rec.audio_sent_ns = now_ns;
  rec.audio_idle_flushed = false;
  caf::anon_send(rec.audio_writer, write_atom::value, std::move(batch));
}

void media_io::send_screen(recording& rec, std::int64_t now_ns) {
  if (rec.screen_buf.empty() || !rec.screen_writer)
    return;
  write_batch batch;
  batch.bytes.swap(rec.screen_buf);
  rec.screen_buf = batch_pool::take(0);
  batch.packets = rec.screen_buf_frames;
  rec.screen_buf_frames = 0;
  rec.screen_buf_since_ns = now_ns;
  rec.screen_sent_ns = now_ns;
  rec.screen_idle_flushed = false;
  caf::anon_send(rec.screen_writer, write_atom::value, std::move(batch));
}

void media_io::pause_recording(const std::string& id, bool paused, std::int64_t now_ns) {
  auto it = recordings_.find(id);
  if (it == recordings_.end() || it->second->paused == paused)
    return;

  auto& rec = *it->second;
  take_pending(rec, now_ns);
  rec.paused = paused;
  const char* word = paused ? "pause" : "resume";
  auto size = std::strlen(word);
  media::append_raw_record(rec.audio_buf, media::record_type::marker, 0, 0, 0,
                           samples_since(rec.start_ns, now_ns),
                           reinterpret_cast<const std::uint8_t*>(word), size);
}

// Media stopped coming (hold, a silent leg): have the writers seal what
// they hold, since no further batch will make them.
void media_io::flush_when_idle(recording& rec, std::int64_t now_ns) {
  const auto max_age = opts_.batch_interval_ms * ns_per_ms;
  if (!rec.audio_idle_flushed && rec.audio_buf.empty() && now_ns - rec.audio_sent_ns >= max_age) {
    rec.audio_idle_flushed = true;
    caf::anon_send(rec.audio_writer, flush_atom::value);
  }
  if (!rec.screen_idle_flushed && rec.screen_buf.empty() &&
      now_ns - rec.screen_sent_ns >= max_age) {
    rec.screen_idle_flushed = true;
    caf::anon_send(rec.screen_writer, flush_atom::value);
  }
}

void media_io::retire_socket(int fd, std::uint16_t port, std::int64_t now_ns) {
  retired_.push_back(retired{fd, port, now_ns + opts_.late_grace_ms * ns_per_ms});
}

void media_io::close_recording(const std::string& id, std::int64_t now_ns) {
  auto it = recordings_.find(id);
  if (it == recordings_.end()) {
    // Already closed (or never opened): answer anyway so the session goes on.
    caf::anon_send(caf::actor_cast<caf::actor>(owner_), event_atom::value, media_closed{id, {}, 0});
    return;
  }

  auto& rec = *it->second;
  // What arrived before the close belongs to the recording, even if this
  // cycle had not read it yet.
  take_pending(rec, now_ns);
  media_closed closed;
  closed.recording_id = id;
  for (auto& l : rec.legs) {
    l->tracker.flush(l->sink);
    const auto& c = l->tracker.counters();
    closed.legs.push_back(leg_stats{l->name, c.packets, c.duplicates, c.reordered, c.late,
                                    l->invalid + c.unsupported_payload, c.ssrc_changes, c.ts_jumps,
                                    l->paused_drops, c.foreign_ssrc});
    retire_socket(l->fd, l->port, now_ns);
  }
  if (rec.screen_fd >= 0)
    retire_socket(rec.screen_fd, rec.screen_port, now_ns);
  closed.screen_frames = rec.screen_frames;

  // The batches go out before the notice, so the writer has every byte
  // before the session can ask it to finish.
  send_audio(rec, now_ns);
  send_screen(rec, now_ns);
  recordings_.erase(it);
  caf::anon_send(caf::actor_cast<caf::actor>(owner_), event_atom::value, std::move(closed));
}

void media_io::shutdown_all(std::int64_t now_ns) {
  std::vector<std::string> ids;
  for (auto& [id, rec] : recordings_)
    ids.push_back(id);
  for (auto& id : ids)
    close_recording(id, now_ns);
  for (auto& r : retired_) {
    ::close(r.fd);
    release_port(r.port);
  }
  retired_.clear();
}

}  // namespace ccrec
