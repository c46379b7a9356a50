#include "actors/recording_session.hpp"

#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "actors/call_xml.hpp"
#include "actors/errors.hpp"
#include "actors/file_writer.hpp"
#include "actors/plain_wav_writer.hpp"
#include "media/raw_format.hpp"
#include "storage/database.hpp"

namespace ccrec {

namespace {

using std::chrono::milliseconds;

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::int64_t steady_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

struct session_state {
  session_args args;
  enum class phase { idle, opening, recording, stopping } now = phase::idle;
  recording_info audio;
  recording_info screen;
  caf::actor audio_writer;
  caf::actor screen_writer;
  caf::response_promise open_promise;
  std::vector<caf::response_promise> stop_promises;
  std::string stop_reason;
  bool stop_requested = false;
  key_grant grant;       // for the encrypted XML file
  std::string xml_path;  // the XML file written at the end, if any
};

using state_ptr = std::shared_ptr<session_state>;

recording_info make_info(const session_args& a, const std::string& kind) {
  recording_info info;
  info.id = kind == "audio" ? a.recording_id : a.recording_id + "-screen";
  info.call_id = a.call.call_id;
  info.kind = kind;
  info.started_ms = now_ms();
  info.path = recording_relative_path(a.recording_id, info.started_ms, kind, a.encrypt);
  info.encryption = a.encrypt ? "ccenx" : "none";
  info.schedule = a.schedule;
  info.agent = a.call.agent;
  info.status = "recording";
  info.retention_days = a.retention_days;
  if (kind == "audio" && a.plan.audio == audio_writer_kind::plain_wav) {
    // Exception 1: the audio is plain WAV, in the plaintext spool.
    auto day = std::filesystem::path{info.path}.parent_path();
    info.path = std::string{storage::plaintext_spool_dir} + "/" +
                (day / (a.recording_id + ".wav")).string();
    info.encryption = "none";
  }
  return info;
}

// The plaintext spool and its day directories are for the engine's user
// only, whatever the umask: they hold audio in the clear.
void make_spool_dirs(const session_state& st, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const auto root = std::filesystem::path{st.args.recordings_dir} / storage::plaintext_spool_dir;
  for (auto p = dir; !p.empty() && p != root.parent_path(); p = p.parent_path()) {
    ::chmod(p.c_str(), 0700);
    if (p == root)
      break;
  }
}

// The first bytes of the raw stream: magic and a metadata record.
std::vector<std::uint8_t> preamble(const session_args& a, const recording_info& info) {
  nlohmann::json meta = {
      {"format", "ccraw"},      {"recording_id", info.id}, {"call_id", a.call.call_id},
      {"kind", info.kind},      {"legs", a.legs},          {"started_ms", info.started_ms},
      {"agent", a.call.agent},  {"queue", a.call.queue},   {"direction", a.call.direction},
      {"schedule", a.schedule},
  };
  auto text = meta.dump();
  std::vector<std::uint8_t> out;
  media::append_raw_magic(out);
  media::append_raw_record(out, media::record_type::metadata, 0, 0, 0, 0,
                           reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  return out;
}

void publish(const state_ptr& st, const recording_info& info, const std::string& state,
             const std::string& detail) {
  caf::anon_send(st->args.metadata_writer, upsert_atom::value, info);
  caf::anon_send(st->args.notify, event_atom::value,
                 recording_event{info.id, info.call_id, info.kind, state, detail});
}

caf::actor spawn_writer(caf::event_based_actor* self, const state_ptr& st,
                        const recording_info& info, const key_grant& grant) {
  auto abs = st->args.recordings_dir + "/" + info.path;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path{abs}.parent_path(), ec);

  if (info.kind == "audio" && st->args.plan.audio == audio_writer_kind::plain_wav) {
    make_spool_dirs(*st, std::filesystem::path{abs}.parent_path());
    plain_wav_writer_args pw;
    pw.path = abs;
    pw.preamble = preamble(st->args, info);
    pw.flush_interval_ms = st->args.flush_interval_ms;
    return self->spawn<caf::linked>(plain_wav_writer, std::move(pw));
  }

  file_writer_args w;
  w.path = abs;
  w.encrypt = st->args.encrypt;
  w.grant = grant;
  w.content =
      info.kind == "audio" ? crypto::ccenx_content::raw_call_audio : crypto::ccenx_content::screen;
  w.preamble = preamble(st->args, info);
  w.flush_interval_ms = st->args.flush_interval_ms;
  // Linked: a writer never outlives its session, so a session that ends
  // abnormally cannot leave a writer (and its open file) behind.
  return self->spawn<caf::linked>(file_writer, std::move(w));
}

void do_stop(caf::event_based_actor* self, const state_ptr& st);

void fail_open(caf::event_based_actor* self, const state_ptr& st, const caf::error& err) {
  auto reason = describe(err);
  spdlog::warn("recording {} (call {}) failed to start: {}", st->audio.id, st->audio.call_id,
               reason);
  for (auto* info : {&st->audio, &st->screen}) {
    if (info->id.empty())
      continue;  // no screen recording was asked for
    info->status = "failed";
    info->ended_ms = now_ms();
    publish(st, *info, "failed", reason);
  }
  st->open_promise.deliver(err);
  for (auto& w : {st->audio_writer, st->screen_writer}) {
    if (w)
      self->send(w, finish_atom::value);  // closes whatever was opened
  }
  for (auto& p : st->stop_promises)
    p.deliver(std::string{"failed"});
  self->quit();
}

void open_media_for(caf::event_based_actor* self, const state_ptr& st) {
  open_media req;
  req.recording_id = st->args.recording_id;
  req.legs = st->args.legs;
  req.audio_writer = st->audio_writer;
  req.screen_writer = st->screen_writer;
  req.start_ns = steady_ns();

  self->request(st->args.media_receiver, caf::infinite, open_atom::value, req)
      .then(
          [self, st](std::vector<media_endpoint>& endpoints) {
            st->now = session_state::phase::recording;
            publish(st, st->audio, "started", st->args.schedule);
            if (st->screen_writer)
              publish(st, st->screen, "started", st->args.schedule);
            st->open_promise.deliver(std::move(endpoints));
            if (st->args.max_seconds > 0)
              self->delayed_send(self, std::chrono::seconds{st->args.max_seconds},
                                 tick_atom::value);
            if (st->stop_requested)
              do_stop(self, st);
          },
          [self, st](caf::error& err) { fail_open(self, st, err); });
}

void start_files(caf::event_based_actor* self, const state_ptr& st, const key_grant& grant) {
  st->grant = grant;
  st->audio.key_id = st->audio.encryption == "ccenx" ? grant.key_id : 0;
  st->audio_writer = spawn_writer(self, st, st->audio, grant);
  if (st->args.screen) {
    st->screen.key_id = grant.key_id;
    st->screen_writer = spawn_writer(self, st, st->screen, grant);
  }
  open_media_for(self, st);
}

void do_open(caf::event_based_actor* self, const state_ptr& st) {
  st->now = session_state::phase::opening;
  st->audio = make_info(st->args, "audio");
  if (st->args.screen)
    st->screen = make_info(st->args, "screen");

  if (!st->args.encrypt)
    return start_files(self, st, key_grant{});
  self->request(st->args.key_cache, caf::infinite, active_atom::value)
      .then([self, st](key_grant& grant) { start_files(self, st, grant); },
            [self, st](caf::error& err) { fail_open(self, st, err); });
}

// Sets the final row values for one file from its writer's summary.
void settle(const state_ptr& st, recording_info& info, const file_summary& summary,
            std::int64_t ended_ms) {
  info.ended_ms = ended_ms;
  info.bytes = static_cast<std::int64_t>(summary.bytes);
  info.packets = static_cast<std::int64_t>(summary.packets);
  info.status = summary.status;

  // Shorter than the schedule's minimum: not kept (as recorders do for
  // calls of a second or two). The file holds only ciphertext; it goes.
  auto seconds = (ended_ms - info.started_ms) / 1000;
  if (summary.status == "complete" && seconds < st->args.min_seconds) {
    std::error_code ec;
    std::filesystem::remove(st->args.recordings_dir + "/" + info.path, ec);
    info.status = "discarded";
  }
}

void finish_writer(caf::event_based_actor* self, const state_ptr& st, caf::actor writer,
                   recording_info* info, std::function<void()> next) {
  if (!writer)
    return next();
  self->request(writer, caf::infinite, finish_atom::value)
      .then(
          [st, info, next](file_summary& summary) {
            settle(st, *info, summary, now_ms());
            auto state = summary.status == "failed" ? "failed" : "stopped";
            publish(st, *info, state, summary.status == "failed" ? summary.error : st->stop_reason);
            next();
          },
          [st, info, next](caf::error& err) {
            info->status = "failed";
            info->ended_ms = now_ms();
            publish(st, *info, "failed", describe(err));
            next();
          });
}

// Exception 2: the call-metadata XML, as the policy says.
void write_xml(const state_ptr& st) {
  const auto& plan = st->args.plan;
  if (plan.xml == xml_writer_kind::none || st->audio.status == "discarded")
    return;
  call_xml_facts facts;
  facts.call = st->args.call;
  facts.pbx = st->args.pbx;
  facts.recording_id = st->args.recording_id;
  facts.schedule = st->args.schedule;
  facts.method = plan.method;
  facts.xml_policy = plan.xml_policy;
  facts.started_ms = st->audio.started_ms;
  facts.ended_ms = st->audio.ended_ms;
  for (const auto* info : {&st->audio, &st->screen})
    if (!info->id.empty())
      facts.files.push_back({info->kind, info->path, info->status});

  auto path = call_xml_relative_path(st->args.recording_id, st->audio.started_ms,
                                     plan.xml == xml_writer_kind::ccenx);
  auto ok =
      write_call_xml(st->args.recordings_dir, path, render_call_xml(facts), plan.xml, st->grant);
  if (!ok) {
    spdlog::warn("recording {} (call {}): metadata XML not written: {}", st->audio.id,
                 st->audio.call_id, ok.error().message);
    return;
  }
  st->xml_path = path;
}

// The transcoder notes the policies in the rows and takes the files later.
void tell_transcoder(const state_ptr& st) {
  if (!st->args.transcoder)
    return;
  for (const auto* info : {&st->audio, &st->screen}) {
    if (info->id.empty())
      continue;
    auto method = info->kind == "audio" ? st->args.plan.method : info->encryption;
    caf::anon_send(st->args.transcoder, transcode_atom::value,
                   recording_done{info->id, method, st->args.plan.xml_policy, st->xml_path});
  }
}

void do_stop(caf::event_based_actor* self, const state_ptr& st) {
  if (st->now == session_state::phase::stopping)
    return;
  st->now = session_state::phase::stopping;

  self->request(st->args.media_receiver, caf::infinite, close_atom::value, st->args.recording_id)
      .then([self, st](media_closed& closed) {
        for (const auto& leg : closed.legs)
          spdlog::debug(
              "recording {} leg {}: {} packets, {} duplicates, {} late, {} invalid, {} foreign "
              "SSRC",
              closed.recording_id, leg.name, leg.packets, leg.duplicates, leg.late, leg.invalid,
              leg.foreign_ssrc);
        finish_writer(self, st, st->audio_writer, &st->audio, [self, st] {
          finish_writer(self, st, st->screen_writer, &st->screen, [self, st] {
            write_xml(st);
            tell_transcoder(st);
            for (auto& p : st->stop_promises)
              p.deliver(st->audio.status);
            self->quit();
          });
        });
      });
}

}  // namespace

std::string recording_relative_path(const std::string& recording_id, std::int64_t started_ms,
                                    const std::string& kind, bool encrypted) {
  std::time_t secs = static_cast<std::time_t>(started_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char day[16];
  std::strftime(day, sizeof day, "%Y/%m/%d", &tm);
  auto suffix = std::string{kind == "audio" ? "" : ".screen"} + (encrypted ? ".ccenx" : ".raw");
  return std::string{day} + "/" + recording_id + suffix;
}

caf::behavior recording_session(caf::event_based_actor* self, session_args args) {
  auto st = std::make_shared<session_state>();
  st->args = std::move(args);

  return {
      [self, st](open_atom) {
        st->open_promise = self->make_response_promise();
        do_open(self, st);
      },
      [self, st](stop_atom, std::string& reason) {
        st->stop_promises.push_back(self->make_response_promise());
        if (st->stop_reason.empty())
          st->stop_reason = reason;
        if (st->now == session_state::phase::opening || st->now == session_state::phase::idle)
          st->stop_requested = true;
        else
          do_stop(self, st);
      },
      [self, st](tick_atom) {
        // The schedule's maximum length was reached while recording.
        if (st->stop_reason.empty())
          st->stop_reason = "max_length";
        do_stop(self, st);
      },
      [st](pause_atom) {
        caf::anon_send(st->args.media_receiver, pause_atom::value, st->args.recording_id);
      },
      [st](resume_atom) {
        caf::anon_send(st->args.media_receiver, resume_atom::value, st->args.recording_id);
      },
  };
}

}  // namespace ccrec
