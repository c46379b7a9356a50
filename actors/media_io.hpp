// media_io: the media receiver's I/O thread (see media_receiver.hpp).
//
// open(), close() and set_paused() may be called from the owning actor's
// thread; they bind sockets there and hand the rest to the I/O thread
// through a command queue woken by an eventfd. Everything else (trackers,
// buffers, sockets after hand-over) belongs to the I/O thread alone.
//
// The thread works in cycles of receive_interval_ms: it takes every
// datagram waiting on every socket (one recvmmsg per socket, each datagram
// stamped by the kernel on arrival, so batching does not blur the
// timeline), sends due write batches, then sleeps until the next cycle
// unless a command arrives. A leg at 50 packets/s thus costs a system call
// per few packets instead of one per packet, and no readiness tracking
// (epoll) per datagram. A command first takes what its recording's
// sockets already hold, so a pause, resume or close applies at the moment
// it was asked for, not at the next cycle.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>

#include "actors/media_receiver.hpp"
#include "common/result.hpp"
#include "messages/messages.hpp"

namespace ccrec {

class media_io {
 public:
  struct counters {
    std::atomic<std::uint64_t> packets{0};    // datagrams received on open legs
    std::atomic<std::uint64_t> invalid{0};    // not RTP / not a screen frame
    std::atomic<std::uint64_t> after_end{0};  // arrived on a closed leg's port
    std::atomic<std::uint64_t> open_ports{0};
    // Dropped by the legs' trackers (media/leg_tracker.hpp).
    std::atomic<std::uint64_t> late{0};
    std::atomic<std::uint64_t> duplicates{0};
    std::atomic<std::uint64_t> foreign_ssrc{0};
  };

  // `owner` receives (event_atom, media_closed) when a close completes.
  media_io(caf::actor_system& sys, caf::actor_addr owner, media_receiver_options opts);
  ~media_io();
  media_io(const media_io&) = delete;
  media_io& operator=(const media_io&) = delete;

  result<std::vector<media_endpoint>> open(const open_media& req);
  void close(const std::string& recording_id);
  void set_paused(const std::string& recording_id, bool paused);

  const counters& stats() const { return counters_; }

 private:
  struct leg;
  struct recording;
  struct retired;
  struct command;

  // Port pool (shared between the actor thread and the I/O thread).
  result<std::pair<int, std::uint16_t>> bind_next_port();
  void release_port(std::uint16_t port);

  void push_command(command cmd);
  void run();
  void cycle(std::int64_t now_ns);
  void wait_for_next_cycle(std::int64_t cycle_end_ns);
  void apply_commands();
  void add_recording(std::unique_ptr<recording> rec);
  void take_pending(recording& rec, std::int64_t now_ns);
  void close_recording(const std::string& id, std::int64_t now_ns);
  void pause_recording(const std::string& id, bool paused, std::int64_t now_ns);
  void receive_leg(recording& rec, leg& l, std::int64_t now_ns);
  void push_packet(recording& rec, leg& l, const std::uint8_t* data, std::size_t size,
                   std::int64_t arrival_ns);
  void receive_screen(recording& rec, std::int64_t now_ns);
  void sweep_retired(std::int64_t now_ns);
  void flush_when_idle(recording& rec, std::int64_t now_ns);
  void send_audio(recording& rec, std::int64_t now_ns);
  void send_screen(recording& rec, std::int64_t now_ns);
  void retire_socket(int fd, std::uint16_t port, std::int64_t now_ns);
  void shutdown_all(std::int64_t now_ns);

  caf::actor_system& sys_;
  caf::actor_addr owner_;
  media_receiver_options opts_;
  counters counters_;

  std::mutex ports_mutex_;
  std::vector<bool> port_in_use_;
  std::size_t port_cursor_ = 0;
  bool warned_small_buffer_ = false;  // guarded by ports_mutex_

  std::mutex commands_mutex_;
  std::deque<command> commands_;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};

  // I/O thread only.
  std::unordered_map<std::string, std::unique_ptr<recording>> recordings_;
  std::vector<retired> retired_;
  std::int64_t real_minus_steady_ns_ = 0;            // turns kernel arrival stamps into steady time
  std::vector<std::vector<std::uint8_t>> buffers_;   // one datagram each
  std::vector<std::vector<std::uint8_t>> controls_;  // arrival stamps
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;

  std::thread thread_;
};

}  // namespace ccrec
