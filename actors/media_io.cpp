#include "actors/media_io.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

#include "media/leg_tracker.hpp"
#include "media/raw_format.hpp"
#include "media/rtp.hpp"

namespace ccrec {

namespace {

constexpr int max_events = 64;
constexpr int epoll_timeout_ms = 10;
constexpr std::int64_t housekeeping_ns = 10'000'000;  // tracker polls, batch ages
constexpr unsigned recv_batch = 64;                  // datagrams per recvmmsg
constexpr std::size_t rtp_buffer_bytes = 2048;       // larger than any RTP we accept
constexpr std::size_t screen_buffer_bytes = 65536;
constexpr int max_batches_per_wakeup = 8;            // fairness between sockets
constexpr char screen_magic[4] = {'C', 'C', 'S', 'F'};
constexpr std::size_t screen_header_bytes = 12;

std::int64_t steady_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

std::uint64_t samples_since(std::int64_t start_ns, std::int64_t now_ns) {
  if (now_ns <= start_ns)
    return 0;
  return static_cast<std::uint64_t>((now_ns - start_ns) / 125'000);  // 8 kHz
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
  std::vector<std::uint8_t> screen_buf;
  std::uint64_t screen_buf_frames = 0;
  std::int64_t screen_buf_since_ns = 0;
  std::uint64_t screen_frames = 0;
  std::uint64_t screen_invalid = 0;
};

struct media_io::slot {
  enum class kind { leg, screen, draining } what = kind::leg;
  recording* rec = nullptr;
  std::size_t leg_index = 0;
  std::uint16_t port = 0;
  std::int64_t drain_until_ns = 0;
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
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  thread_ = std::thread([this] { run(); });
}

media_io::~media_io() {
  stop_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable())
    thread_.join();
  ::close(epoll_fd_);
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
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    inet_pton(AF_INET, opts_.host.c_str(), &addr.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);  // taken by another program: try the next port
      continue;
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
  std::array<epoll_event, max_events> events;
  while (!stop_) {
    int n = epoll_wait(epoll_fd_, events.data(), max_events, epoll_timeout_ms);
    auto now = steady_ns();

    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wake_fd_) {
        std::uint64_t count;
        [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof count);
        apply_commands(now);
        continue;
      }
      auto it = slots_.find(fd);
      if (it == slots_.end())
        continue;
      auto& s = it->second;
      if (s.what == slot::kind::leg)
        receive_leg(fd, s, now);
      else if (s.what == slot::kind::screen)
        receive_screen(fd, s, now);
      else
        drain(fd, s);
    }

    if (now - last_housekeeping_ns_ >= housekeeping_ns) {
      last_housekeeping_ns_ = now;
      housekeeping(now);
    }
  }
  apply_commands(steady_ns());
  shutdown_all(steady_ns());
}

void media_io::apply_commands(std::int64_t now_ns) {
  std::deque<command> batch;
  {
    std::lock_guard<std::mutex> guard{commands_mutex_};
    batch.swap(commands_);
  }
  for (auto& cmd : batch) {
    switch (cmd.what) {
      case command::kind::add:
        add_recording(std::move(cmd.rec));
        break;
      case command::kind::close:
        close_recording(cmd.id, now_ns);
        break;
      case command::kind::pause:
      case command::kind::resume:
        pause_recording(cmd.id, cmd.what == command::kind::pause, now_ns);
        break;
    }
  }
}

void media_io::add_recording(std::unique_ptr<recording> rec) {
  auto* r = rec.get();
  auto watch = [this](int fd, slot s) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    slots_[fd] = s;
  };

  for (std::size_t i = 0; i < r->legs.size(); ++i) {
    auto& l = *r->legs[i];
    auto leg_index = static_cast<std::uint8_t>(i);
    l.sink = [r, leg_index](const media::placed_frame& f) {
      media::append_raw_record(r->audio_buf, media::record_type::audio, leg_index,
                               f.payload_type, 0, f.sample_offset, f.data, f.size);
      ++r->audio_buf_packets;
    };
    watch(l.fd, slot{slot::kind::leg, r, i, l.port, 0});
  }
  if (r->screen_fd >= 0)
    watch(r->screen_fd, slot{slot::kind::screen, r, 0, r->screen_port, 0});
  recordings_[r->id] = std::move(rec);
}

void media_io::receive_leg(int fd, slot& s, std::int64_t now_ns) {
  auto& rec = *s.rec;
  auto& l = *rec.legs[s.leg_index];
  static thread_local std::vector<std::array<std::uint8_t, rtp_buffer_bytes>> buffers(recv_batch);
  static thread_local std::vector<mmsghdr> msgs(recv_batch);
  static thread_local std::vector<iovec> iovs(recv_batch);

  for (int round = 0; round < max_batches_per_wakeup; ++round) {
    for (unsigned i = 0; i < recv_batch; ++i) {
      iovs[i] = iovec{buffers[i].data(), rtp_buffer_bytes};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(fd, msgs.data(), recv_batch, MSG_DONTWAIT, nullptr);
    if (got <= 0)
      return;

    counters_.packets += static_cast<std::uint64_t>(got);
    for (int i = 0; i < got; ++i) {
      media::rtp_packet pkt;
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC ||
          media::parse_rtp(buffers[i].data(), msgs[i].msg_len, pkt) != media::rtp_error::none) {
        ++l.invalid;
        ++counters_.invalid;
        continue;
      }
      if (rec.paused) {
        ++l.paused_drops;
        continue;
      }
      if (rec.audio_buf.empty())
        rec.audio_buf_since_ns = now_ns;
      l.tracker.push(pkt, now_ns, l.sink);
    }
    if (rec.audio_buf.size() >= opts_.batch_bytes)
      send_audio(rec, now_ns);
    if (static_cast<unsigned>(got) < recv_batch)
      return;
  }
}

void media_io::receive_screen(int fd, slot& s, std::int64_t now_ns) {
  auto& rec = *s.rec;
  static thread_local std::vector<std::uint8_t> buffer(screen_buffer_bytes);

  for (int round = 0; round < max_batches_per_wakeup; ++round) {
    auto got = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (got < 0)
      return;

    counters_.packets += 1;
    auto size = static_cast<std::size_t>(got);
    if (size < screen_header_bytes || size > buffer.size() ||
        std::memcmp(buffer.data(), screen_magic, sizeof screen_magic) != 0) {
      ++rec.screen_invalid;
      ++counters_.invalid;
      continue;
    }
    if (rec.paused)
      continue;

    if (rec.screen_buf.empty())
      rec.screen_buf_since_ns = now_ns;
    auto offset_ms = static_cast<std::uint64_t>((now_ns - rec.start_ns) / 1'000'000);
    media::append_raw_record(rec.screen_buf, media::record_type::screen, 0, 0, 0, offset_ms,
                             buffer.data() + screen_header_bytes, size - screen_header_bytes);
    ++rec.screen_buf_frames;
    ++rec.screen_frames;
    if (rec.screen_buf.size() >= opts_.batch_bytes)
      send_screen(rec, now_ns);
  }
}

// A closed leg's port: count what still arrives (RTP outliving the call).
void media_io::drain(int fd, slot&) {
  static thread_local std::array<std::uint8_t, rtp_buffer_bytes> sink;
  while (::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT) >= 0)
    ++counters_.after_end;
}

void media_io::send_audio(recording& rec, std::int64_t now_ns) {
  if (rec.audio_buf.empty())
    return;
  write_batch batch;
  batch.bytes.swap(rec.audio_buf);
  batch.packets = rec.audio_buf_packets;
  rec.audio_buf_packets = 0;
  rec.audio_buf.reserve(opts_.batch_bytes + rtp_buffer_bytes);
  rec.audio_buf_since_ns = now_ns;
  caf::anon_send(rec.audio_writer, write_atom::value, std::move(batch));
}

void media_io::send_screen(recording& rec, std::int64_t now_ns) {
  if (rec.screen_buf.empty() || !rec.screen_writer)
    return;
  write_batch batch;
  batch.bytes.swap(rec.screen_buf);
  batch.packets = rec.screen_buf_frames;
  rec.screen_buf_frames = 0;
  rec.screen_buf_since_ns = now_ns;
  caf::anon_send(rec.screen_writer, write_atom::value, std::move(batch));
}

void media_io::pause_recording(const std::string& id, bool paused, std::int64_t now_ns) {
  auto it = recordings_.find(id);
  if (it == recordings_.end() || it->second->paused == paused)
    return;

  auto& rec = *it->second;
  rec.paused = paused;
  const char* word = paused ? "pause" : "resume";
  auto size = std::strlen(word);
  media::append_raw_record(rec.audio_buf, media::record_type::marker, 0, 0, 0,
                           samples_since(rec.start_ns, now_ns),
                           reinterpret_cast<const std::uint8_t*>(word), size);
}

void media_io::housekeeping(std::int64_t now_ns) {
  auto max_age = opts_.batch_interval_ms * 1'000'000;
  for (auto& [id, rec] : recordings_) {
    for (auto& l : rec->legs)
      l->tracker.poll(now_ns, l->sink);
    if (!rec->audio_buf.empty() && now_ns - rec->audio_buf_since_ns >= max_age)
      send_audio(*rec, now_ns);
    if (!rec->screen_buf.empty() && now_ns - rec->screen_buf_since_ns >= max_age)
      send_screen(*rec, now_ns);
  }

  for (auto it = slots_.begin(); it != slots_.end();) {
    auto& s = it->second;
    if (s.what == slot::kind::draining && now_ns >= s.drain_until_ns) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->first, nullptr);
      ::close(it->first);
      release_port(s.port);
      it = slots_.erase(it);
    } else {
      ++it;
    }
  }
}

void media_io::retire_socket(int fd, std::int64_t now_ns) {
  auto& s = slots_[fd];
  s.what = slot::kind::draining;
  s.rec = nullptr;
  s.drain_until_ns = now_ns + opts_.late_grace_ms * 1'000'000;
}

void media_io::close_recording(const std::string& id, std::int64_t now_ns) {
  auto it = recordings_.find(id);
  if (it == recordings_.end()) {
    // Already closed (or never opened): answer anyway so the session goes on.
    caf::anon_send(caf::actor_cast<caf::actor>(owner_), event_atom::value,
                   media_closed{id, {}, 0});
    return;
  }

  auto& rec = *it->second;
  media_closed closed;
  closed.recording_id = id;
  for (auto& l : rec.legs) {
    l->tracker.flush(l->sink);
    const auto& c = l->tracker.counters();
    closed.legs.push_back(leg_stats{l->name, c.packets, c.duplicates, c.reordered, c.late,
                                    l->invalid + c.unsupported_payload, c.ssrc_changes,
                                    c.ts_jumps, l->paused_drops});
    retire_socket(l->fd, now_ns);
  }
  if (rec.screen_fd >= 0)
    retire_socket(rec.screen_fd, now_ns);
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
  for (auto& [fd, s] : slots_) {
    ::close(fd);
    release_port(s.port);
  }
  slots_.clear();
}

}  // namespace ccrec
