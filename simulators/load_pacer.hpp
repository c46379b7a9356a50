// load_pacer: sends the RTP of thousands of legs from one thread.
//
// A load run needs 2,000+ calls x 2 legs x 50 packets/s from one process on
// a machine it shares with the engine, so it cannot afford a thread or a
// socket per leg, nor encoding audio per packet. A pacer owns one UDP socket
// and one thread. Every leg sends one 20 ms packet every 20 ms, so legs sit
// in a 20-slot wheel of 1 ms slots by the phase they started on; each
// millisecond the pacer sends the slot that is due in sendmmsg batches, each
// message a 12-byte RTP header kept in the leg and a payload pointing into a
// precomputed tone table (tone_bank). Deadlines are absolute: a slot that is
// late is sent at once and counted, never skipped, so pacing does not drift.
//
// add(), stop_call() and stop_all() may be called from any thread; they
// queue a request that the pacer thread applies before its next slot. The
// `on_done` callback runs on the pacer thread after a leg's last packet left
// (its packet count reached, or stopped), with the number of packets sent.
// stats() may be read from any thread.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "simulators/loopback.hpp"

namespace ccrec::pbxsim {

inline constexpr std::size_t load_samples_per_packet = 160;  // 20 ms of 8 kHz G.711
inline constexpr std::int64_t load_packet_interval_ns = 20'000'000;
inline constexpr std::size_t load_packets_per_second = 50;
inline constexpr std::size_t load_rtp_header_bytes = 12;

// One second of G.711 per tone, so packet k of any leg plays bytes
// [(k mod 50) * 160, +160) of its tone: whole cycles, no clicks, no
// per-packet encoding. Built once; read-only afterwards (any thread).
class tone_bank {
 public:
  // Whole hertz, so a second holds whole cycles; never a multiple of 50 Hz,
  // whose cycles would fit a 20 ms packet and make every packet the same.
  static constexpr std::size_t tones = 8;
  static constexpr double first_hz = 311.0;
  static constexpr double step_hz = 37.0;
  static constexpr double amplitude = 8000.0;  // of 32767

  tone_bank();
  // The 160 payload bytes of packet `k` of tone `tone` for payload type
  // 0 (PCMU) or 8 (PCMA).
  const std::uint8_t* payload(std::uint8_t payload_type, std::size_t tone, std::uint64_t k) const;

 private:
  std::vector<std::uint8_t> pcmu_;
  std::vector<std::uint8_t> pcma_;
};

// What to send on one leg.
struct pacer_leg {
  udp_destination dest;
  std::uint32_t call = 0;  // caller's call index, echoed to on_done
  std::uint8_t leg = 0;    // 0 caller, 1 agent
  std::uint8_t payload_type = 0;
  std::size_t tone = 0;
  std::uint32_t ssrc = 0;
  std::uint16_t first_seq = 0;
  std::uint32_t first_timestamp = 0;
  std::uint64_t packets = 0;  // 0: until stopped
};

struct pacer_stats {
  std::uint64_t packets_sent = 0;
  std::uint64_t send_errors = 0;   // datagrams the kernel refused
  std::uint64_t late_packets = 0;  // sent more than `late_after` behind their deadline
  std::int64_t max_lag_ns = 0;     // worst lateness of a slot
  std::uint64_t active_legs = 0;
  double cpu_seconds = 0.0;  // the pacer thread's own CPU time
};

struct pacer_options {
  std::int64_t late_after_ns = 5'000'000;  // a packet this late counts as late
  int send_buffer_bytes = 4 * 1024 * 1024;
};

class rtp_pacer {
 public:
  using done_fn = std::function<void(std::uint32_t call, std::uint8_t leg, std::uint64_t sent)>;

  // Opens the socket and starts the thread. Error "socket_failed".
  static result<std::unique_ptr<rtp_pacer>> start(const tone_bank& tones, pacer_options options,
                                                  done_fn on_done);
  ~rtp_pacer();  // stops the thread; legs still running get no on_done
  rtp_pacer(const rtp_pacer&) = delete;
  rtp_pacer& operator=(const rtp_pacer&) = delete;

  void add(const pacer_leg& leg);
  void stop_call(std::uint32_t call);
  void stop_all();
  pacer_stats stats() const;

 private:
  struct leg_state;
  struct request;

  rtp_pacer(const tone_bank& tones, pacer_options options, done_fn on_done, int fd);
  void run();
  void apply_requests(std::int64_t now_ns);
  void send_slot(std::size_t slot, std::int64_t due_ns, std::int64_t now_ns);
  void flush_batch(std::size_t count);
  void finish_leg(std::uint32_t index);

  const tone_bank& tones_;
  pacer_options options_;
  done_fn on_done_;
  int fd_ = -1;

  std::mutex requests_mutex_;
  std::vector<request> requests_;
  std::atomic<bool> has_requests_{false};
  std::atomic<bool> quit_{false};

  // Pacer thread only.
  std::vector<leg_state> legs_;
  std::vector<std::uint32_t> free_;
  std::vector<std::vector<std::uint32_t>> wheel_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;  // two per message: header, payload
  std::vector<std::uint32_t> finished_;
  std::int64_t epoch_ns_ = 0;
  std::uint64_t next_tick_ = 0;

  std::atomic<std::uint64_t> packets_sent_{0};
  std::atomic<std::uint64_t> send_errors_{0};
  std::atomic<std::uint64_t> late_packets_{0};
  std::atomic<std::int64_t> max_lag_ns_{0};
  std::atomic<std::uint64_t> active_legs_{0};
  std::atomic<std::int64_t> cpu_ns_{0};

  std::thread thread_;
};

}  // namespace ccrec::pbxsim
