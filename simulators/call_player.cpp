#include "simulators/call_player.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>
#include <tuple>

#include "common/hex.hpp"
#include "media/rtp.hpp"
#include "simulators/loopback.hpp"
#include "simulators/screen_frames.hpp"
#include "simulators/udp_sender.hpp"

namespace ccrec::pbxsim {
namespace {

using clock = std::chrono::steady_clock;

const std::vector<std::string> default_queues = {"sales", "support"};
constexpr const char* caller_number_prefix = "+1555010";
constexpr const char* dialled_number = "+15550199000";
constexpr std::size_t caller_number_digits = 4;
constexpr double ns_per_s = 1e9;

// Unique per process, so two runs in one process never reuse a call id.
std::atomic<std::uint64_t> call_counter{0};
std::atomic<std::uint64_t> number_counter{0};

std::string make_call_id() {
  return "sim-" + std::to_string(::getpid()) + "-" + std::to_string(++call_counter);
}

std::string caller_number(std::uint64_t n) {
  std::string digits = std::to_string(n % 10000);
  digits.insert(0, caller_number_digits - digits.size(), '0');
  return caller_number_prefix + digits;
}

bool stop_requested(const run_options& options) {
  return options.stop != nullptr && options.stop->load();
}

// Sleeps until `deadline` (absolute, so pacing never drifts), waking every
// stop_check_interval to notice a stop. Returns false when stopped.
bool wait_until(clock::time_point deadline, const run_options& options) {
  for (;;) {
    if (stop_requested(options))
      return false;
    const auto now = clock::now();
    if (now >= deadline)
      return true;
    std::this_thread::sleep_until(std::min(deadline, now + stop_check_interval));
  }
}

clock::duration scaled(std::int64_t call_ns, double speed) {
  return std::chrono::nanoseconds(std::llround(static_cast<double>(call_ns) / speed));
}

// ---- timeline ---------------------------------------------------------------

enum class step_kind { hold, retrieve, screen, rtp };

struct step {
  std::int64_t offset_ns = 0;  // call time from the first packet
  step_kind kind = step_kind::rtp;
  std::size_t leg = 0;
  std::size_t index = 0;  // packet index, or screen frame number
};

struct hold_window {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  bool contains(std::int64_t t) const { return t >= start_ns && t < end_ns; }
};

std::optional<hold_window> plan_hold(const run_options& options, std::int64_t last_ns) {
  if (!options.hold_at_s)
    return std::nullopt;
  const auto start = static_cast<std::int64_t>(std::llround(*options.hold_at_s * ns_per_s));
  if (start > last_ns) {
    spdlog::warn("--hold-at {} s is after the call's last packet; no hold", *options.hold_at_s);
    return std::nullopt;
  }
  const auto length = static_cast<std::int64_t>(std::llround(options.hold_for_s * ns_per_s));
  return hold_window{start, std::min(start + length, last_ns)};
}

std::vector<step> build_timeline(const media_call& call, const std::optional<hold_window>& hold,
                                 bool with_screen) {
  const std::int64_t first = call.first_time_ns();
  const std::int64_t last = call.last_time_ns() - first;
  std::vector<step> steps;
  for (std::size_t l = 0; l < call.legs.size(); ++l) {
    const auto& packets = call.legs[l].packets;
    for (std::size_t i = 0; i < packets.size(); ++i) {
      steps.push_back({packets[i].time_ns - first, step_kind::rtp, l, i});
    }
  }
  if (with_screen) {
    const std::int64_t interval = std::chrono::nanoseconds(screen_frame_interval).count();
    for (std::size_t n = 0; static_cast<std::int64_t>(n) * interval <= last; ++n) {
      steps.push_back({static_cast<std::int64_t>(n) * interval, step_kind::screen, 0, n});
    }
  }
  if (hold) {
    steps.push_back({hold->start_ns, step_kind::hold, 0, 0});
    steps.push_back({hold->end_ns, step_kind::retrieve, 0, 0});
  }
  // Capture order within a leg is kept even where two packets share a time.
  std::stable_sort(steps.begin(), steps.end(), [](const step& a, const step& b) {
    return std::tie(a.offset_ns, a.kind, a.leg) < std::tie(b.offset_ns, b.kind, b.leg);
  });
  return steps;
}

// ---- one call ---------------------------------------------------------------

struct leg_media {
  std::optional<udp_sender> sender;
  crypto_hash_sha256_state sha{};
};

class call_session {
 public:
  call_session(cti_client& cti, const media_call& call, const run_options& options,
               call_report report)
      : cti_(cti), call_(call), options_(options), report_(std::move(report)) {}

  call_report run() {
    init_legs();
    if (!offer())
      return finish();
    if (!answer()) {
      if (engine_reachable_)
        end_call();
      return finish();
    }
    if (report_.record && !open_media()) {
      end_call();
      return finish();
    }
    play();
    end_call();
    return finish();
  }

 private:
  // ---- events ----

  std::optional<cti_ack> send_event(nlohmann::json event) {
    const std::string type = event["type"];
    if (!options_.pbx_name.empty())
      event["pbx"] = options_.pbx_name;
    auto ack = cti_.send(std::move(event));
    if (!ack) {
      engine_reachable_ = ack.error().code != "cti_timeout";
      fail(report_.call_id + ": " + ack.error().message);
      return std::nullopt;
    }
    if (!ack->ok) {
      fail(report_.call_id + ": engine refused " + type + ": " + ack->error + ": " + ack->message);
      return std::nullopt;
    }
    return *ack;
  }

  bool offer() {
    nlohmann::json legs = nlohmann::json::array();
    for (const auto& leg : call_.legs) {
      legs.push_back({{"name", leg.name}, {"address", leg.src_address}});
    }
    return send_event({{"type", "call_offered"},
                       {"call_id", report_.call_id},
                       {"direction", "inbound"},
                       {"from", caller_number(++number_counter)},
                       {"to", dialled_number},
                       {"queue", report_.queue},
                       {"legs", legs}})
        .has_value();
  }

  bool answer() {
    auto ack = send_event({{"type", "call_answered"},
                           {"call_id", report_.call_id},
                           {"agent", report_.agent},
                           {"queue", report_.queue}});
    if (!ack)
      return false;
    report_.record = ack->record;
    report_.recording_id = ack->recording_id;
    report_.schedule = ack->schedule;
    report_.screen = ack->screen;
    answer_ = std::move(*ack);
    return true;
  }

  void end_call() { send_event({{"type", "call_ended"}, {"call_id", report_.call_id}}); }

  // ---- media ----

  void init_legs() {
    legs_.resize(call_.legs.size());
    for (std::size_t l = 0; l < call_.legs.size(); ++l) {
      const auto& leg = call_.legs[l];
      leg_report r;
      r.name = leg.name;
      r.src_address = leg.src_address;
      r.dst_address = leg.dst_address;
      r.payload_type = leg.payload_type;
      r.packets_in_call = leg.packets.size();
      report_.legs.push_back(std::move(r));
      crypto_hash_sha256_init(&legs_[l].sha);
    }
    report_.duration_s =
        static_cast<double>(call_.last_time_ns() - call_.first_time_ns()) / ns_per_s;
  }

  bool open_media() {
    for (std::size_t l = 0; l < call_.legs.size(); ++l) {
      const bool caller = call_.legs[l].name == leg_name_caller;
      const auto& target = caller ? answer_.caller : answer_.agent;
      if (!target) {
        fail(report_.call_id + ": engine records the call but gave no media port for leg " +
             call_.legs[l].name);
        return false;
      }
      auto sender = open_sender(*target);
      if (!sender)
        return false;
      report_.legs[l].destination = sender->destination().text;
      report_.legs[l].port = target->port;
      legs_[l].sender.emplace(std::move(*sender));
    }
    if (report_.screen) {
      auto sender = open_sender(*report_.screen);
      if (!sender)
        return false;
      screen_.emplace(std::move(*sender));
    }
    return true;
  }

  std::optional<udp_sender> open_sender(const cti_target& target) {
    auto dest = loopback_destination(target.host, target.port);
    if (!dest) {
      fail(report_.call_id + ": " + dest.error().message);
      return std::nullopt;
    }
    auto sender = udp_sender::open(*dest);
    if (!sender) {
      fail(report_.call_id + ": " + sender.error().message);
      return std::nullopt;
    }
    return std::move(*sender);
  }

  void play() {
    const std::int64_t last = call_.last_time_ns() - call_.first_time_ns();
    const auto hold = plan_hold(options_, last);
    const auto steps = build_timeline(call_, hold, screen_.has_value());
    const auto start = clock::now();
    for (const auto& s : steps) {
      if (!wait_until(start + scaled(s.offset_ns, options_.speed), options_)) {
        fail(report_.call_id + ": interrupted");
        return;
      }
      run_step(s, hold);
    }
    const auto tail = std::chrono::nanoseconds(end_after_last_packet).count();
    if (!wait_until(start + scaled(last + tail, options_.speed), options_)) {
      fail(report_.call_id + ": interrupted");
    }
  }

  void run_step(const step& s, const std::optional<hold_window>& hold) {
    switch (s.kind) {
      case step_kind::hold:
        report_.held = true;
        send_event({{"type", "call_held"}, {"call_id", report_.call_id}});
        return;
      case step_kind::retrieve:
        send_event({{"type", "call_retrieved"}, {"call_id", report_.call_id}});
        return;
      case step_kind::screen:
        send_screen_frame(static_cast<std::uint32_t>(s.index));
        return;
      case step_kind::rtp:
        if (hold && hold->contains(s.offset_ns)) {
          ++report_.legs[s.leg].packets_held;
          return;
        }
        send_rtp(s.leg, call_.legs[s.leg].packets[s.index]);
        return;
    }
  }

  void send_rtp(std::size_t l, const media_packet& packet) {
    auto& media = legs_[l];
    if (!media.sender)
      return;  // not recorded: the call plays without media
    auto& r = report_.legs[l];
    if (auto sent = media.sender->send(packet.bytes.data(), packet.bytes.size()); !sent) {
      if (r.send_errors++ == 0)
        spdlog::warn("{}: {}", report_.call_id, sent.error().message);
      return;
    }

    ++r.packets_sent;
    media::rtp_packet rtp;
    if (media::parse_rtp(packet.bytes.data(), packet.bytes.size(), rtp) != media::rtp_error::none) {
      return;  // the pcap reader only keeps RTP; synthetic packets always parse
    }
    r.packets.push_back({rtp.seq, rtp.timestamp, static_cast<std::uint32_t>(rtp.payload_size)});
    r.payload_bytes += rtp.payload_size;
    crypto_hash_sha256_update(&media.sha, rtp.payload, rtp.payload_size);
    if (std::find(r.ssrcs.begin(), r.ssrcs.end(), rtp.ssrc) == r.ssrcs.end()) {
      r.ssrcs.push_back(rtp.ssrc);
    }
  }

  void send_screen_frame(std::uint32_t frame_no) {
    const auto ms = static_cast<std::uint32_t>(frame_no * screen_frame_interval.count());
    const auto frame = make_screen_frame(frame_no, ms);
    if (auto sent = screen_->send(frame.data(), frame.size()); !sent) {
      spdlog::warn("{}: screen frame {}: {}", report_.call_id, frame_no, sent.error().message);
      return;
    }
    ++report_.screen_frames_sent;
  }

  // ---- outcome ----

  void fail(std::string message) {
    spdlog::error("{}", message);
    if (report_.error.empty())
      report_.error = std::move(message);
  }

  call_report finish() {
    for (std::size_t l = 0; l < legs_.size(); ++l) {
      unsigned char digest[crypto_hash_sha256_BYTES];
      crypto_hash_sha256_final(&legs_[l].sha, digest);
      report_.legs[l].payload_sha256 = to_hex(digest, sizeof digest);
    }
    report_.ok = report_.error.empty();
    return std::move(report_);
  }

  cti_client& cti_;
  const media_call& call_;
  const run_options& options_;
  call_report report_;
  cti_ack answer_;
  std::vector<leg_media> legs_;
  std::optional<udp_sender> screen_;
  bool engine_reachable_ = true;
};

// ---- agents -----------------------------------------------------------------

bool agent_event(cti_client& cti, const run_options& options, const std::string& type,
                 const std::string& agent, run_report& report) {
  nlohmann::json event = {{"type", type}, {"agent", agent}};
  if (!options.pbx_name.empty())
    event["pbx"] = options.pbx_name;
  auto ack = cti.send(std::move(event));
  std::string problem;
  if (!ack) {
    problem = ack.error().message;
  } else if (!ack->ok) {
    problem = "engine refused " + type + " of " + agent + ": " + ack->error + ": " + ack->message;
  }
  if (problem.empty())
    return true;
  spdlog::error("{}", problem);
  report.ok = false;
  report.errors.push_back(std::move(problem));
  return false;
}

}  // namespace

result<void> check_run_options(const run_options& options) {
  if (!(options.speed > 0.0) || !std::isfinite(options.speed)) {
    return make_error("bad_option", "speed must be a positive number");
  }
  if (options.hold_at_s && *options.hold_at_s < 0.0) {
    return make_error("bad_option", "hold-at must not be negative");
  }
  if (options.hold_for_s < 0.0)
    return make_error("bad_option", "hold-for must not be negative");
  if (options.stagger.count() < 0)
    return make_error("bad_option", "stagger must not be negative");
  return {};
}

std::string agent_for_slot(const run_options& options, std::size_t slot) {
  if (!options.agents.empty())
    return options.agents[slot % options.agents.size()];
  return "agent-" + std::to_string(default_first_agent_number + slot);
}

run_report run_calls(cti_client& cti, const std::vector<media_call>& calls,
                     const run_options& options, const call_end_callback& on_end) {
  run_report report;
  if (auto ok = check_run_options(options); !ok) {
    report.ok = false;
    report.errors.push_back(ok.error().message);
    return report;
  }
  if (sodium_init() < 0) {
    report.ok = false;
    report.errors.push_back("libsodium failed to initialise");
    return report;
  }
  if (calls.empty())
    return report;

  const std::size_t slots =
      options.concurrency == 0 ? calls.size() : std::min(options.concurrency, calls.size());
  const auto& queues = options.queues.empty() ? default_queues : options.queues;

  // Log each distinct agent in once, before any call, in slot order.
  std::vector<std::string> logged_in;
  bool logins_ok = true;
  for (std::size_t s = 0; s < slots; ++s) {
    const std::string agent = agent_for_slot(options, s);
    if (std::find(logged_in.begin(), logged_in.end(), agent) != logged_in.end())
      continue;
    if (!agent_event(cti, options, "agent_login", agent, report)) {
      logins_ok = false;
      break;
    }
    logged_in.push_back(agent);
  }

  report.calls.resize(calls.size());
  if (logins_ok) {
    std::mutex end_mutex;
    const auto run_start = clock::now();
    auto run_slot = [&](std::size_t slot) {
      for (std::size_t i = slot; i < calls.size(); i += slots) {
        call_report initial;
        initial.call_id = make_call_id();
        initial.agent = agent_for_slot(options, slot);
        initial.queue = queues[i % queues.size()];
        initial.source = calls[i].source;
        if (wait_until(run_start + options.stagger * static_cast<int>(i), options)) {
          report.calls[i] = call_session(cti, calls[i], options, std::move(initial)).run();
        } else {
          initial.error = initial.call_id + ": interrupted before it started";
          report.calls[i] = std::move(initial);
        }
        if (on_end) {
          std::lock_guard<std::mutex> lock(end_mutex);
          on_end(report.calls[i]);
        }
      }
    };
    std::vector<std::thread> threads;
    for (std::size_t s = 0; s < slots; ++s)
      threads.emplace_back(run_slot, s);
    for (auto& t : threads)
      t.join();
  } else {
    report.calls.clear();
  }

  for (const auto& agent : logged_in)
    agent_event(cti, options, "agent_logout", agent, report);
  for (const auto& call : report.calls)
    report.ok = report.ok && call.ok;
  return report;
}

std::string summarize_call(const call_report& call) {
  std::string line = call.call_id + " agent=" + call.agent + " queue=" + call.queue;
  if (call.record) {
    line += " recording=" + call.recording_id;
  } else {
    line += " recording=none";
  }
  for (const auto& leg : call.legs) {
    line += " " + leg.name + "=" + std::to_string(leg.packets_sent) + "/" +
            std::to_string(leg.packets_in_call);
  }
  if (call.screen_frames_sent > 0)
    line += " screen=" + std::to_string(call.screen_frames_sent);
  line += call.ok ? " ok" : " FAILED: " + call.error;
  return line;
}

}  // namespace ccrec::pbxsim
