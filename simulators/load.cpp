#include "simulators/load.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <mutex>
#include <ostream>
#include <random>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "simulators/cti_client.hpp"
#include "simulators/load_pacer.hpp"
#include "simulators/load_probe.hpp"
#include "simulators/loopback.hpp"
#include "storage/database.hpp"

namespace ccrec::pbxsim {
namespace {

using clock = std::chrono::steady_clock;

constexpr double ns_per_s = 1e9;
constexpr double ns_per_ms = 1e6;
constexpr std::int64_t max_wait_ms = 100;                    // CTI loop wakes at least this often
constexpr std::int64_t end_drain_limit_ns = 30'000'000'000;  // for the last acks
constexpr std::chrono::milliseconds sample_period{1000};
constexpr std::chrono::milliseconds settle_poll{500};
constexpr std::size_t settle_report_every = 10;  // polls between progress lines
constexpr int first_agent_number = 1001;
constexpr double percent = 100.0;
constexpr double p99 = 0.99;
constexpr double p50 = 0.50;
constexpr double bytes_per_mib = 1024.0 * 1024.0;
constexpr std::size_t legs_per_call = 2;
constexpr std::size_t max_errors_kept = 20;

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
      .count();
}

double quantile(std::vector<double> v, double q) {
  if (v.empty())
    return 0.0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size(), std::max<std::size_t>(rank, 1)) - 1];
}

latency_summary summarize(const std::vector<double>& ms) {
  latency_summary s;
  s.count = ms.size();
  if (ms.empty())
    return s;
  s.p50_ms = quantile(ms, p50);
  s.p99_ms = quantile(ms, p99);
  s.max_ms = *std::max_element(ms.begin(), ms.end());
  double sum = 0.0;
  for (double v : ms)
    sum += v;
  s.mean_ms = sum / static_cast<double>(ms.size());
  return s;
}

// ---------------------------------------------------------------------------
// The CTI driver: offers, answers and ends calls; starts and stops media
// ---------------------------------------------------------------------------

struct call_state {
  enum class phase { offering, answering, media, waiting, ending, ended, failed };
  std::string id;
  std::string recording_id;
  phase now = phase::offering;
  std::int64_t answer_sent_ns = 0;
  std::int64_t end_at_ns = 0;  // unrecorded calls: when to send call_ended
  int legs_running = 0;
  std::uint64_t packets_sent = 0;
};

struct pending_event {
  std::uint32_t call = 0;
  std::string type;
  std::int64_t sent_ns = 0;
};

// What the driver shares with the sampling thread.
struct driver_shared {
  std::atomic<std::uint64_t> offered{0};
  std::atomic<std::uint64_t> answered{0};
  std::atomic<std::uint64_t> recorded{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> timed_out{0};
  std::atomic<std::uint64_t> abandoned{0};
  std::atomic<std::uint64_t> calls_up{0};
  std::atomic<std::uint64_t> calls_up_max{0};
  std::atomic<bool> finished{false};

  std::mutex mutex;                  // guards the fields below
  std::vector<double> latencies_ms;  // since the sampler last took them
  std::vector<std::string> errors;
};

class cti_driver {
 public:
  cti_driver(const load_options& o, zmq::context_t& ctx, driver_shared& shared, port_set& ports)
      : o_(o), socket_(ctx, zmq::socket_type::dealer), shared_(shared), ports_(ports) {
    socket_.set(zmq::sockopt::linger, 0);
    // Thousands of calls end together at the end of a run: their events
    // queue here while the engine answers them one by one.
    socket_.set(zmq::sockopt::sndhwm, 0);
    socket_.set(zmq::sockopt::rcvhwm, 0);
    if (o_.cti.find('[') != std::string::npos)
      socket_.set(zmq::sockopt::ipv6, 1);
    socket_.connect(o_.cti);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  }
  ~cti_driver() { ::close(wake_fd_); }
  cti_driver(const cti_driver&) = delete;
  cti_driver& operator=(const cti_driver&) = delete;

  void attach(std::vector<std::unique_ptr<rtp_pacer>>* pacers) { pacers_ = pacers; }

  // Pacer threads: a leg's last packet left.
  void leg_done(std::uint32_t call, std::uint64_t sent) {
    {
      std::lock_guard<std::mutex> lock{done_mutex_};
      done_.emplace_back(call, sent);
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }

  void run(std::int64_t start_ns);

  std::uint64_t packets_sent_on_recorded() const {
    std::uint64_t total = 0;
    for (const auto& c : calls_)
      if (!c.recording_id.empty())
        total += c.packets_sent;
    return total;
  }

  // Recording id -> packets sent on that call.
  std::vector<std::pair<std::string, std::uint64_t>> recordings() const {
    std::vector<std::pair<std::string, std::uint64_t>> out;
    for (const auto& c : calls_)
      if (!c.recording_id.empty())
        out.emplace_back(c.recording_id, c.packets_sent);
    return out;
  }

 private:
  void error(const std::string& what) {
    spdlog::warn("load: {}", what);
    std::lock_guard<std::mutex> lock{shared_.mutex};
    if (shared_.errors.size() < max_errors_kept)
      shared_.errors.push_back(what);
  }

  void send(std::uint32_t call, nlohmann::json event, std::int64_t now) {
    const std::string type = event["type"];
    const std::uint64_t seq = next_seq_++;
    event["v"] = cti_protocol_version;
    event["seq"] = seq;
    event["ts"] = epoch_ms_now();
    event["pbx"] = "ccrec-pbxsim-load";
    const std::string text = event.dump();
    try {
      if (!socket_.send(zmq::buffer(text), zmq::send_flags::dontwait)) {
        error("cannot queue " + type + " for " + calls_[call].id + ": send queue full");
        return fail(call, now);
      }
    } catch (const zmq::error_t& e) {
      error("cannot send " + type + ": " + e.what());
      return fail(call, now);
    }
    pending_.emplace(seq, pending_event{call, type, now});
    order_.push_back(seq);
  }

  void offer(std::int64_t now) {
    const auto index = static_cast<std::uint32_t>(calls_.size());
    call_state c;
    c.id = "load-" + std::to_string(::getpid()) + "-" + std::to_string(index + 1);
    calls_.push_back(std::move(c));
    ++up_;
    ++shared_.offered;
    send(index,
         {{"type", "call_offered"},
          {"call_id", calls_[index].id},
          {"direction", "inbound"},
          {"from", "+1555010" + std::to_string(1000 + index % 9000)},
          {"to", "+15550199000"},
          {"queue", "load"}},
         now);
  }

  void answer(std::uint32_t call, std::int64_t now) {
    auto& c = calls_[call];
    c.now = call_state::phase::answering;
    c.answer_sent_ns = now;
    const auto agent = "agent-" + std::to_string(first_agent_number + call % o_.calls);
    send(call, {{"type", "call_answered"}, {"call_id", c.id}, {"agent", agent}, {"queue", "load"}},
         now);
  }

  void end(std::uint32_t call, std::int64_t now) {
    auto& c = calls_[call];
    if (c.now == call_state::phase::media)
      leave_media();
    c.now = call_state::phase::ending;
    send(call, {{"type", "call_ended"}, {"call_id", c.id}}, now);
  }

  void fail(std::uint32_t call, std::int64_t) {
    auto& c = calls_[call];
    if (c.now == call_state::phase::media)
      leave_media();
    if (c.now != call_state::phase::ended && c.now != call_state::phase::failed)
      --up_;
    c.now = call_state::phase::failed;
  }

  void leave_media() { --shared_.calls_up; }

  void start_media(std::uint32_t call, const cti_ack& ack, std::int64_t now) {
    auto& c = calls_[call];
    if (!ack.caller || !ack.agent) {
      error(c.id + ": engine records but gave no port for both legs");
      return end(call, now);
    }
    const cti_target* targets[legs_per_call] = {&*ack.caller, &*ack.agent};
    std::mt19937_64 rng(o_.seed * 1000003u + call);
    auto& pacer = *(*pacers_)[call % pacers_->size()];
    const auto packets =
        o_.hold_s > 0
            ? static_cast<std::uint64_t>(std::llround(o_.hold_s * load_packets_per_second))
            : 0;
    for (std::size_t l = 0; l < legs_per_call; ++l) {
      auto dest = loopback_destination(targets[l]->host, targets[l]->port);
      if (!dest) {
        error(c.id + ": " + dest.error().message);
        return end(call, now);
      }
      ports_.mark(targets[l]->port);
      pacer_leg leg;
      leg.dest = *dest;
      leg.call = call;
      leg.leg = static_cast<std::uint8_t>(l);
      leg.payload_type = o_.payload_type;
      leg.tone = (2 * call + l) % tone_bank::tones;
      leg.ssrc = static_cast<std::uint32_t>(rng());
      leg.first_seq = static_cast<std::uint16_t>(rng());
      leg.first_timestamp = static_cast<std::uint32_t>(rng());
      leg.packets = packets;
      pacer.add(leg);
    }
    c.legs_running = static_cast<int>(legs_per_call);
    c.now = call_state::phase::media;
    auto up = ++shared_.calls_up;
    auto best = shared_.calls_up_max.load();
    while (up > best && !shared_.calls_up_max.compare_exchange_weak(best, up)) {
    }
  }

  void on_ack(const cti_ack& ack, std::int64_t now) {
    auto it = pending_.find(ack.seq);
    if (it == pending_.end())
      return;  // timed out already
    const pending_event ev = it->second;
    pending_.erase(it);
    auto& c = calls_[ev.call];
    if (c.now == call_state::phase::failed)
      return;

    if (ev.type == "call_ended") {
      c.now = call_state::phase::ended;
      --up_;
      return;
    }
    if (!ack.ok) {
      ++shared_.refused;
      error(c.id + ": engine refused " + ev.type + ": " + ack.error + ": " + ack.message);
      return ev.type == "call_answered" ? end(ev.call, now) : fail(ev.call, now);
    }
    if (ev.type == "call_offered" && ending_) {
      ++shared_.abandoned;  // offered just before the end: never answered
      return end(ev.call, now);
    }
    if (ev.type == "call_offered")
      return answer(ev.call, now);

    // call_answered
    {
      std::lock_guard<std::mutex> lock{shared_.mutex};
      shared_.latencies_ms.push_back(static_cast<double>(now - c.answer_sent_ns) / ns_per_ms);
    }
    ++shared_.answered;
    if (!ack.record) {
      c.now = call_state::phase::waiting;
      c.end_at_ns = o_.hold_s > 0 ? now + static_cast<std::int64_t>(o_.hold_s * ns_per_s) : 0;
      return ending_ ? end(ev.call, now) : void();
    }
    ++shared_.recorded;
    c.recording_id = ack.recording_id;
    if (ending_)
      return end(ev.call, now);
    start_media(ev.call, ack, now);
  }

  void receive(std::int64_t now) {
    for (;;) {
      zmq::message_t frame;
      try {
        if (!socket_.recv(frame, zmq::recv_flags::dontwait))
          return;
      } catch (const zmq::error_t& e) {
        error(std::string{"CTI receive failed: "} + e.what());
        return;
      }
      auto ack = parse_cti_ack(frame.to_string());
      if (!ack) {
        error(ack.error().message);
        continue;
      }
      on_ack(*ack, now);
    }
  }

  void take_done(std::int64_t now) {
    std::uint64_t count;
    [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof count);
    std::vector<std::pair<std::uint32_t, std::uint64_t>> batch;
    {
      std::lock_guard<std::mutex> lock{done_mutex_};
      batch.swap(done_);
    }
    for (auto [call, sent] : batch) {
      auto& c = calls_[call];
      c.packets_sent += sent;
      if (--c.legs_running == 0 && c.now == call_state::phase::media)
        end(call, now);
    }
  }

  void expire(std::int64_t now) {
    const auto limit = std::chrono::duration_cast<std::chrono::nanoseconds>(o_.timeout).count();
    while (!order_.empty()) {
      auto it = pending_.find(order_.front());
      if (it == pending_.end()) {
        order_.pop_front();
        continue;
      }
      if (now - it->second.sent_ns < limit)
        return;
      ++shared_.timed_out;
      error("engine did not answer " + it->second.type + " for " + calls_[it->second.call].id +
            " within " + std::to_string(o_.timeout.count()) + " ms");
      fail(it->second.call, now);
      pending_.erase(it);
      order_.pop_front();
    }
  }

  void end_unrecorded(std::int64_t now) {
    for (std::uint32_t i = 0; i < calls_.size(); ++i) {
      auto& c = calls_[i];
      if (c.now == call_state::phase::waiting && (ending_ || (c.end_at_ns && now >= c.end_at_ns)))
        end(i, now);
    }
  }

  void begin_ending(std::int64_t now) {
    ending_ = true;
    for (auto& p : *pacers_)
      p->stop_all();
    end_unrecorded(now);
  }

  std::int64_t wait_ms(std::int64_t now) const {
    std::int64_t until = now + max_wait_ms * 1'000'000;
    if (!ending_) {
      until = std::min(until, end_ns_);
      if (up_ < o_.calls)
        until = std::min(until, next_arrival_ns_);
    }
    return std::max<std::int64_t>(0, (until - now + 999'999) / 1'000'000);
  }

  const load_options& o_;
  zmq::socket_t socket_;
  driver_shared& shared_;
  port_set& ports_;
  std::vector<std::unique_ptr<rtp_pacer>>* pacers_ = nullptr;
  int wake_fd_ = -1;

  std::mutex done_mutex_;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> done_;

  std::vector<call_state> calls_;
  std::unordered_map<std::uint64_t, pending_event> pending_;
  std::deque<std::uint64_t> order_;  // seqs in sending order, for timeouts
  std::uint64_t next_seq_ = 1;
  std::size_t up_ = 0;  // offered and not yet ended
  bool ending_ = false;
  std::int64_t end_ns_ = 0;
  std::int64_t next_arrival_ns_ = 0;
};

void cti_driver::run(std::int64_t start_ns) {
  end_ns_ = start_ns + static_cast<std::int64_t>(o_.duration_s * ns_per_s);
  next_arrival_ns_ = start_ns;
  const double rate = o_.rate > 0     ? o_.rate
                      : o_.ramp_s > 0 ? static_cast<double>(o_.calls) / o_.ramp_s
                                      : 0.0;
  const auto interval = rate > 0 ? static_cast<std::int64_t>(ns_per_s / rate) : 0;

  for (;;) {
    const std::int64_t now = steady_ns();
    const bool stopped = o_.stop != nullptr && o_.stop->load();
    if (!ending_ && (now >= end_ns_ || stopped))
      begin_ending(now);
    while (!ending_ && up_ < o_.calls && now >= next_arrival_ns_) {
      offer(now);
      next_arrival_ns_ = std::max(next_arrival_ns_, now - interval) + interval;
    }
    if (!ending_)
      end_unrecorded(now);
    expire(now);
    if (ending_ && up_ == 0)
      break;
    if (ending_ && now > end_ns_ + end_drain_limit_ns) {
      error(std::to_string(up_) + " calls still not ended 30 s after the run's end");
      break;
    }

    zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, wake_fd_, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 2, std::chrono::milliseconds{wait_ms(now)});
    } catch (const zmq::error_t& e) {
      error(std::string{"CTI poll failed: "} + e.what());
    }
    const std::int64_t after = steady_ns();
    if (items[1].revents & ZMQ_POLLIN)
      take_done(after);
    if (items[0].revents & ZMQ_POLLIN)
      receive(after);
  }
  shared_.finished = true;
}

// ---------------------------------------------------------------------------
// Sampling, settling, reporting
// ---------------------------------------------------------------------------

struct engine_watch {
  pid_t pid = 0;
  proc_sample first;
  proc_sample last;
  std::uint64_t rss_peak = 0;
  double cpu_peak_pct = 0.0;
};

load_second sample_second(double t_s, driver_shared& shared, const std::vector<std::uint64_t>& prev,
                          std::vector<std::uint64_t>& now_counts, std::uint64_t packets_now,
                          std::uint64_t packets_before, std::uint64_t drops,
                          std::vector<double>& all_latencies, engine_watch& engine,
                          double elapsed_s) {
  load_second s;
  s.t_s = t_s;
  s.calls_up = shared.calls_up.load();
  now_counts = {shared.offered.load(), shared.answered.load()};
  s.offered = now_counts[0] - prev[0];
  s.answered = now_counts[1] - prev[1];
  s.packets_sent = packets_now - packets_before;
  s.drops = drops;

  std::vector<double> lat;
  {
    std::lock_guard<std::mutex> lock{shared.mutex};
    lat.swap(shared.latencies_ms);
  }
  if (!lat.empty()) {
    s.latency_p50_ms = quantile(lat, p50);
    s.latency_p99_ms = quantile(lat, p99);
    s.latency_max_ms = *std::max_element(lat.begin(), lat.end());
    all_latencies.insert(all_latencies.end(), lat.begin(), lat.end());
  }

  if (engine.pid != 0) {
    auto p = read_proc_sample(engine.pid);
    if (p.ok) {
      if (engine.last.ok && elapsed_s > 0) {
        s.engine_cpu_pct = (p.cpu_seconds - engine.last.cpu_seconds) / elapsed_s * percent;
        engine.cpu_peak_pct = std::max(engine.cpu_peak_pct, *s.engine_cpu_pct);
      }
      s.engine_rss_bytes = p.rss_bytes;
      engine.rss_peak = std::max(engine.rss_peak, p.rss_bytes);
      engine.last = p;
    }
  }
  return s;
}

std::string fmt_ms(const std::optional<double>& v) {
  if (!v)
    return "   -";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%5.1f", *v);
  return buf;
}

void print_progress(std::ostream& out, const load_second& s, const load_options& o,
                    std::uint64_t offered_total, std::uint64_t drops_total) {
  char line[256];
  std::snprintf(line, sizeof line,
                "[%5.0fs] up %5llu/%zu  offered %6llu  media %7.1fk pkt/s  drops %llu  "
                "answer p50 %s p99 %s max %s ms",
                s.t_s, static_cast<unsigned long long>(s.calls_up), o.calls,
                static_cast<unsigned long long>(offered_total),
                static_cast<double>(s.packets_sent) / 1000.0,
                static_cast<unsigned long long>(drops_total), fmt_ms(s.latency_p50_ms).c_str(),
                fmt_ms(s.latency_p99_ms).c_str(), fmt_ms(s.latency_max_ms).c_str());
  out << line;
  if (s.engine_cpu_pct && s.engine_rss_bytes) {
    std::snprintf(line, sizeof line, "  engine cpu %3.0f%% rss %.1f MiB", *s.engine_cpu_pct,
                  static_cast<double>(*s.engine_rss_bytes) / bytes_per_mib);
    out << line;
  }
  out << std::endl;
}

std::string database_uri(const load_options& o) {
  if (!o.db.empty())
    return o.db;
  if (!o.data_dir.empty())
    return "sqlite:" + o.data_dir + "/ccrec.db";
  return {};
}

// Waits until every recording row is final, then sums their packets.
void read_recorded(const load_options& o,
                   const std::vector<std::pair<std::string, std::uint64_t>>& recs,
                   load_report& report, std::ostream& progress) {
  const auto uri = database_uri(o);
  if (uri.empty()) {
    report.packets_source = "unavailable: no --db or --data-dir given";
    return;
  }
  auto db = storage::database::open(uri);
  if (!db) {
    report.packets_source = "unavailable: " + db.error().message;
    return;
  }

  std::unordered_map<std::string, storage::recording_row> final_rows;
  const auto deadline =
      clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(o.settle_s * 1000.0));
  std::size_t polls = 0;
  for (;;) {
    for (const auto& [id, sent] : recs) {
      if (final_rows.count(id) != 0)
        continue;
      auto row = (*db)->recording(id);
      if (row && *row && (*row)->status != "recording")
        final_rows.emplace(id, **row);
    }
    if (final_rows.size() == recs.size() || clock::now() >= deadline)
      break;
    if (polls++ % settle_report_every == 0)
      progress << "waiting for the engine to finish " << recs.size() - final_rows.size()
               << " recordings" << std::endl;
    std::this_thread::sleep_for(settle_poll);
  }

  std::uint64_t recorded = 0;
  std::uint64_t sent_total = 0;
  for (const auto& [id, sent] : recs) {
    sent_total += sent;
    auto it = final_rows.find(id);
    if (it == final_rows.end())
      continue;
    recorded += static_cast<std::uint64_t>(std::max<std::int64_t>(0, it->second.packets));
    report.recordings_complete += it->second.status == "complete";
  }
  if (final_rows.size() != recs.size())
    report.errors.push_back(std::to_string(recs.size() - final_rows.size()) +
                            " recordings were not final in the database after " +
                            std::to_string(o.settle_s) + " s; their packets count as lost");
  report.packets_source = "database";
  report.packets_recorded = recorded;
  report.packets_lost = sent_total > recorded ? sent_total - recorded : 0;
}

}  // namespace

result<void> check_load_options(const load_options& o) {
  if (o.calls == 0)
    return make_error("bad_option", "--calls must be at least 1");
  if (!(o.duration_s > 0))
    return make_error("bad_option", "--duration must be positive");
  if (o.hold_s < 0 || o.ramp_s < 0 || o.rate < 0 || o.settle_s < 0)
    return make_error("bad_option", "--hold, --ramp, --rate and --settle must not be negative");
  if (o.senders == 0)
    return make_error("bad_option", "--senders must be at least 1");
  return check_cti_endpoint(o.cti);
}

result<load_report> run_load(const load_options& o, std::ostream& progress) {
  if (auto ok = check_load_options(o); !ok)
    return ok.error();

  load_report report;
  report.options = o;
  report.load_average_start = load_average_1m();

  zmq::context_t ctx{1};
  driver_shared shared;
  port_set ports;
  cti_driver driver{o, ctx, shared, ports};
  const tone_bank tones;
  std::vector<std::unique_ptr<rtp_pacer>> pacers;
  for (std::size_t i = 0; i < o.senders; ++i) {
    auto p = rtp_pacer::start(tones, pacer_options{},
                              [&driver](std::uint32_t call, std::uint8_t, std::uint64_t sent) {
                                driver.leg_done(call, sent);
                              });
    if (!p)
      return p.error();
    pacers.push_back(std::move(*p));
  }
  driver.attach(&pacers);

  engine_watch engine;
  engine.pid = o.engine_pid;
  if (engine.pid != 0) {
    engine.first = read_proc_sample(engine.pid);
    if (!engine.first.ok)
      return make_error("bad_option", "--engine-pid " + std::to_string(engine.pid) +
                                          ": no such process (or /proc unreadable)");
    engine.last = engine.first;
  }

  const auto start = clock::now();
  const auto start_ns = steady_ns();
  std::thread cti_thread{[&] { driver.run(start_ns); }};

  udp_drop_counter drops{ports};
  std::vector<double> all_latencies;
  std::vector<std::uint64_t> prev_counts{0, 0};
  std::uint64_t packets_before = 0;
  auto last_tick = start;
  for (auto next = start + sample_period; !shared.finished; next += sample_period) {
    while (!shared.finished && clock::now() < next)
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    const auto now = clock::now();
    std::uint64_t packets_now = 0;
    for (auto& p : pacers)
      packets_now += p->stats().packets_sent;
    std::vector<std::uint64_t> counts;
    const double elapsed = std::chrono::duration<double>(now - last_tick).count();
    auto s = sample_second(std::chrono::duration<double>(now - start).count(), shared, prev_counts,
                           counts, packets_now, packets_before, drops.poll(), all_latencies, engine,
                           elapsed);
    report.kernel_drops += s.drops;
    print_progress(progress, s, o, counts[0], report.kernel_drops);
    report.timeline.push_back(s);
    prev_counts = counts;
    packets_before = packets_now;
    last_tick = now;
  }
  cti_thread.join();
  report.wall_s = std::chrono::duration<double>(clock::now() - start).count();

  // Everything the calls cost the engine, up to their last call_ended.
  if (engine.pid != 0) {
    auto p = read_proc_sample(engine.pid);
    if (p.ok)
      engine.last = p;
    engine_figures f;
    f.cpu_seconds = engine.last.cpu_seconds - engine.first.cpu_seconds;
    f.cpu_avg_pct = f.cpu_seconds / report.wall_s * percent;
    f.cpu_peak_pct = engine.cpu_peak_pct;
    f.rss_idle_bytes = engine.first.rss_bytes;
    f.rss_peak_bytes = std::max(engine.rss_peak, engine.last.rss_bytes);
    if (engine.last.hwm_bytes > engine.first.hwm_bytes)
      f.rss_peak_bytes = std::max(f.rss_peak_bytes, engine.last.hwm_bytes);
    report.engine = f;
  }

  for (auto& p : pacers) {
    auto st = p->stats();
    report.send_errors += st.send_errors;
    report.late_packets += st.late_packets;
    report.sender_max_lag_ms =
        std::max(report.sender_max_lag_ms, static_cast<double>(st.max_lag_ns) / ns_per_ms);
    report.sender_cpu_seconds += st.cpu_seconds;
  }
  pacers.clear();

  {
    std::lock_guard<std::mutex> lock{shared.mutex};
    all_latencies.insert(all_latencies.end(), shared.latencies_ms.begin(),
                         shared.latencies_ms.end());
    report.errors = shared.errors;
  }
  report.latency = summarize(all_latencies);
  report.calls_offered = shared.offered;
  report.calls_answered = shared.answered;
  report.calls_recorded = shared.recorded;
  report.calls_refused = shared.refused;
  report.calls_timed_out = shared.timed_out;
  report.calls_abandoned = shared.abandoned;
  report.calls_up_max = shared.calls_up_max;
  report.packets_sent = driver.packets_sent_on_recorded();

  if (report.engine && report.calls_up_max > 0) {
    auto& f = *report.engine;
    const auto above =
        f.rss_peak_bytes > f.rss_idle_bytes ? f.rss_peak_bytes - f.rss_idle_bytes : 0;
    f.peak_bytes_per_call = static_cast<double>(above) / static_cast<double>(report.calls_up_max);
    const double call_seconds = static_cast<double>(report.packets_sent) /
                                static_cast<double>(legs_per_call * load_packets_per_second);
    if (call_seconds > 0)
      f.cpu_ms_per_call_second = f.cpu_seconds * 1000.0 / call_seconds;
  }

  read_recorded(o, driver.recordings(), report, progress);
  if (!o.data_dir.empty())
    report.bytes_written = directory_bytes(o.data_dir + "/recordings");
  report.load_average_end = load_average_1m();
  return report;
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

namespace {

nlohmann::json opt_json(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

template <class T>
nlohmann::json opt_json(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json load_report_json(const load_report& r) {
  const auto& o = r.options;
  nlohmann::json j;
  j["format"] = "ccrec-pbxsim-load";
  j["version"] = 1;
  j["options"] = {{"cti", o.cti},
                  {"calls", o.calls},
                  {"duration_s", o.duration_s},
                  {"hold_s", o.hold_s},
                  {"ramp_s", o.ramp_s},
                  {"rate", o.rate},
                  {"payload_type", o.payload_type},
                  {"senders", o.senders},
                  {"engine_pid", o.engine_pid},
                  {"db", o.db},
                  {"data_dir", o.data_dir}};
  j["machine"] = {{"cpus", std::thread::hardware_concurrency()},
                  {"load_average_start", r.load_average_start},
                  {"load_average_end", r.load_average_end}};
  j["wall_s"] = r.wall_s;
  j["calls_offered"] = r.calls_offered;
  j["calls_answered"] = r.calls_answered;
  j["calls_recorded"] = r.calls_recorded;
  j["calls_refused"] = r.calls_refused;
  j["calls_timed_out"] = r.calls_timed_out;
  j["calls_abandoned"] = r.calls_abandoned;
  j["calls_up_max"] = r.calls_up_max;
  j["recordings_complete"] = r.recordings_complete;
  j["packets_sent"] = r.packets_sent;
  j["packets_recorded"] = opt_json(r.packets_recorded);
  j["packets_lost"] = opt_json(r.packets_lost);
  j["packets_source"] = r.packets_source;
  j["kernel_drops"] = r.kernel_drops;
  j["sender"] = {{"send_errors", r.send_errors},
                 {"late_packets", r.late_packets},
                 {"max_lag_ms", r.sender_max_lag_ms},
                 {"cpu_seconds", r.sender_cpu_seconds}};
  j["latency_ms"] = {{"count", r.latency.count},
                     {"p50", r.latency.p50_ms},
                     {"p99", r.latency.p99_ms},
                     {"max", r.latency.max_ms},
                     {"mean", r.latency.mean_ms}};
  if (r.engine) {
    const auto& f = *r.engine;
    j["engine"] = {{"cpu_seconds", f.cpu_seconds},
                   {"cpu_avg_pct", f.cpu_avg_pct},
                   {"cpu_peak_pct", f.cpu_peak_pct},
                   {"rss_idle_bytes", f.rss_idle_bytes},
                   {"rss_peak_bytes", f.rss_peak_bytes},
                   {"peak_bytes_per_call", f.peak_bytes_per_call},
                   {"cpu_ms_per_call_second", f.cpu_ms_per_call_second}};
  } else {
    j["engine"] = nullptr;
  }
  j["bytes_written"] = opt_json(r.bytes_written);
  nlohmann::json timeline = nlohmann::json::array();
  for (const auto& s : r.timeline) {
    timeline.push_back({{"t_s", s.t_s},
                        {"calls_up", s.calls_up},
                        {"offered", s.offered},
                        {"answered", s.answered},
                        {"latency_p50_ms", opt_json(s.latency_p50_ms)},
                        {"latency_p99_ms", opt_json(s.latency_p99_ms)},
                        {"latency_max_ms", opt_json(s.latency_max_ms)},
                        {"packets_sent", s.packets_sent},
                        {"drops", s.drops},
                        {"engine_cpu_pct", opt_json(s.engine_cpu_pct)},
                        {"engine_rss_bytes", opt_json(s.engine_rss_bytes)}});
  }
  j["timeline"] = std::move(timeline);
  j["errors"] = r.errors;
  return j;
}

std::string load_summary_text(const load_report& r) {
  char buf[512];
  std::string out;
  auto line = [&](const char* fmt, auto... args) {
    std::snprintf(buf, sizeof buf, fmt, args...);
    out += buf;
    out += '\n';
  };
  using ull = unsigned long long;
  line("calls offered          %llu (answered %llu, recorded %llu, refused %llu, timed out %llu)",
       static_cast<ull>(r.calls_offered), static_cast<ull>(r.calls_answered),
       static_cast<ull>(r.calls_recorded), static_cast<ull>(r.calls_refused),
       static_cast<ull>(r.calls_timed_out));
  line("calls up at most       %llu", static_cast<ull>(r.calls_up_max));
  line("packets sent           %llu (send errors %llu, generator late %llu, max lag %.1f ms)",
       static_cast<ull>(r.packets_sent), static_cast<ull>(r.send_errors),
       static_cast<ull>(r.late_packets), r.sender_max_lag_ms);
  if (r.packets_recorded) {
    line("packets recorded       %llu (from the engine's database; %llu recordings complete)",
         static_cast<ull>(*r.packets_recorded), static_cast<ull>(r.recordings_complete));
    line("packets lost or late   %llu (kernel drops seen live: %llu)",
         static_cast<ull>(*r.packets_lost), static_cast<ull>(r.kernel_drops));
  } else {
    line("packets recorded       %s", r.packets_source.c_str());
    line("kernel drops seen      %llu", static_cast<ull>(r.kernel_drops));
  }
  line("answer latency         p50 %.2f ms, p99 %.2f ms, max %.2f ms (%llu answers)",
       r.latency.p50_ms, r.latency.p99_ms, r.latency.max_ms, static_cast<ull>(r.latency.count));
  if (r.engine) {
    const auto& f = *r.engine;
    line(
        "engine CPU             %.1f s, %.0f%% of a core on average, %.0f%% peak; %.3f ms per "
        "call-second",
        f.cpu_seconds, f.cpu_avg_pct, f.cpu_peak_pct, f.cpu_ms_per_call_second);
    line("engine memory          idle %.1f MiB, peak %.1f MiB, %.1f KiB per call above idle",
         static_cast<double>(f.rss_idle_bytes) / bytes_per_mib,
         static_cast<double>(f.rss_peak_bytes) / bytes_per_mib, f.peak_bytes_per_call / 1024.0);
  }
  if (r.bytes_written)
    line("bytes written          %llu", static_cast<ull>(*r.bytes_written));
  line("generator CPU          %.1f s in the pacer thread(s); load average %.2f -> %.2f",
       r.sender_cpu_seconds, r.load_average_start, r.load_average_end);
  for (const auto& e : r.errors)
    out += "error: " + e + "\n";
  return out;
}

}  // namespace ccrec::pbxsim
