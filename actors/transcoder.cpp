#include "actors/transcoder.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "actors/audio_codec.hpp"
#include "actors/db_worker.hpp"
#include "actors/errors.hpp"
#include "actors/pcm_timeline.hpp"
#include "common/file_ops.hpp"
#include "crypto/ccenx.hpp"
#include "media/raw_format.hpp"
#include "messages/messages.hpp"

namespace ccrec {

namespace fs = std::filesystem;

namespace {

constexpr const char* compressed_suffix = ".flac.ccenx";
constexpr const char* temp_suffix = ".tmp";
constexpr std::size_t plain_read_bytes = 64 * 1024;
constexpr std::size_t wav_block_frames = 4096;
constexpr std::uint16_t wav_format_pcm = 1;
constexpr std::uint16_t wav_bits = 16;
// A policy note whose row never appears (the row was lost) is dropped after
// this many looks rather than kept forever.
constexpr int max_note_attempts = 100;
constexpr auto key_request_timeout = std::chrono::seconds{5};

using file_ops::io_error;
using file_ops::remove_file;
using file_ops::sync_dir;

std::uint16_t le16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

std::uint32_t le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
         (std::uint32_t{p[3]} << 24);
}

// ---------------------------------------------------------------------------
// Reading sources
// ---------------------------------------------------------------------------

using record_fn = std::function<void(const media::raw_record&)>;

struct sealing_key_of_file {
  std::uint64_t key_id = 0;
  std::shared_ptr<const crypto::secret_bytes> key;
};

// The loaded master key the CCENX file at `path` is sealed under, by its
// header; "unknown_key" when that key is not loaded.
result<sealing_key_of_file> sealing_key(const std::string& path, const transcode_keys& keys) {
  auto header = crypto::read_ccenx_header(path);
  if (!header)
    return header.error();
  auto key = keys.find ? keys.find(static_cast<std::int64_t>(header->key_id)) : nullptr;
  if (!key)
    return key_not_loaded_error(path, header->key_id);
  return sealing_key_of_file{header->key_id, std::move(key)};
}

// Feeds every record of a raw recording (CCENX or plain) to `sink`. An
// interrupted or truncated CCENX file yields what authenticates, as
// `ccrec play` does; anything that fails to authenticate or parse is
// "source_damaged".
result<crypto::ccenx_state> read_raw_records(const std::string& path, const transcode_keys& keys,
                                             const record_fn& sink) {
  media::raw_decoder decoder{sink};
  std::optional<error> bad;
  auto feed = [&](const std::uint8_t* data, std::size_t size) {
    if (bad)
      return;
    if (auto ok = decoder.feed(data, size); !ok)
      bad = ok.error();
  };
  auto damaged = [&](const std::string& why) {
    return make_error("source_damaged", path + ": " + why);
  };

  crypto::ccenx_state state = crypto::ccenx_state::complete;
  if (crypto::has_ccenx_magic(path)) {
    auto sealed = sealing_key(path, keys);
    if (!sealed)
      return sealed.error();
    auto report = crypto::read_ccenx(
        path, [&](std::uint64_t id) { return id == sealed->key_id ? sealed->key.get() : nullptr; },
        feed);
    if (report.state == crypto::ccenx_state::corrupt)
      return damaged(report.reason);
    state = report.state;
  } else {
    auto src = audio::open_plain_source(path);
    if (!src)
      return src.error();
    std::vector<std::uint8_t> buf(plain_read_bytes);
    for (;;) {
      auto got = (*src)->read(buf.data(), buf.size());
      if (!got)
        return got.error();
      if (*got == 0)
        break;
      feed(buf.data(), *got);
    }
    sodium_memzero(buf.data(), buf.size());
  }

  if (bad)
    return damaged(bad->message);
  if (state == crypto::ccenx_state::complete) {
    if (auto ok = decoder.finish(); !ok)
      return damaged(ok.error().message);
  }
  return state;
}

// ---------------------------------------------------------------------------
// The encoding pipeline: PCM -> digest + FLAC -> CCENX file
// ---------------------------------------------------------------------------

struct sealed_file {
  std::array<std::uint8_t, audio::digest_bytes> digest{};
  std::uint64_t frames = 0;
  audio::pcm_format format;
  std::uint64_t passes = 0;
};

class compressed_sink {
 public:
  static result<std::unique_ptr<compressed_sink>> create(const std::string& path,
                                                         const transcode_keys& keys,
                                                         audio::pcm_format format,
                                                         const std::string& comment) {
    auto file = crypto::open_file_sink(path);
    if (!file)
      return file.error();
    auto writer =
        crypto::ccenx_writer::create(std::move(*file), static_cast<std::uint64_t>(keys.active_id),
                                     *keys.active, crypto::ccenx_content::compressed_audio);
    if (!writer)
      return writer.error();

    std::unique_ptr<compressed_sink> sink{new compressed_sink(format)};
    sink->writer_ = std::move(*writer);
    auto* w = sink->writer_.get();
    auto encoder = audio::flac_encoder::open(
        format, [w](const std::uint8_t* d, std::size_t n) { return w->append(d, n); }, comment);
    if (!encoder)
      return encoder.error();
    sink->encoder_ = std::move(*encoder);
    return sink;
  }

  // Counts every block written, so a supervisor sees the work move.
  void beat_on(std::atomic<std::uint64_t>* heartbeat) { heartbeat_ = heartbeat; }

  result<void> write(const std::int16_t* pcm, std::size_t frames) {
    if (heartbeat_ != nullptr)
      ++*heartbeat_;
    digest_.add(pcm, frames);
    return encoder_->write(pcm, frames);
  }

  result<sealed_file> finish() {
    if (auto ok = encoder_->finish(); !ok)
      return ok.error();
    if (auto ok = writer_->finish(); !ok)  // seals the final chunk and syncs
      return ok.error();
    sealed_file out;
    out.frames = digest_.frames();
    out.digest = digest_.finish();
    out.format = format_;
    return out;
  }

 private:
  explicit compressed_sink(audio::pcm_format format) : format_(format), digest_(format.channels) {}

  audio::pcm_format format_;
  audio::pcm_digest digest_;
  std::unique_ptr<crypto::ccenx_writer> writer_;  // declared first: outlives the encoder
  std::unique_ptr<audio::flac_encoder> encoder_;
  std::atomic<std::uint64_t>* heartbeat_ = nullptr;
};

// A raw recording: scan, then render in time order (one pass, or slices).
result<sealed_file> seal_raw(const std::string& source, const std::string& out,
                             const transcode_keys& keys, const transcode_options& opts) {
  audio::timeline_scanner scanner;
  auto scanned =
      read_raw_records(source, keys, [&](const media::raw_record& r) { scanner.add(r); });
  if (!scanned)
    return scanned.error();
  const auto& scan = scanner.scan();

  auto sink = compressed_sink::create(out, keys, audio::pcm_format{}, scan.metadata_json);
  if (!sink)
    return sink.error();
  (*sink)->beat_on(opts.heartbeat);
  auto emit = [s = sink->get()](const std::int16_t* pcm, std::size_t n) {
    return s->write(pcm, n);
  };

  const bool one_pass = scan.window <= opts.max_window_frames;
  const std::uint64_t slice = one_pass ? scan.frames : opts.max_window_frames;
  std::uint64_t passes = 0;
  std::uint64_t first = 0;
  do {
    const std::uint64_t last = one_pass ? scan.frames : std::min(scan.frames, first + slice);
    audio::ordered_renderer renderer{first, last, one_pass ? scan.window : slice, emit};
    auto read =
        read_raw_records(source, keys, [&](const media::raw_record& r) { renderer.add(r); });
    if (!read)
      return read.error();
    if (auto ok = renderer.finish(); !ok)
      return ok.error();
    ++passes;
    first = last;
  } while (first < scan.frames);

  auto sealed = (*sink)->finish();
  if (sealed)
    sealed->passes = passes;
  return sealed;
}

// A canonical 16-bit PCM WAV as the plain-WAV method writes it. The length
// comes from the file size, not the header: after a crash the header may
// not have caught up with the samples.
result<sealed_file> seal_plain_wav(const std::string& source, const std::string& out,
                                   const transcode_keys& keys, const std::string& recording_id,
                                   const transcode_options& opts) {
  auto src = audio::open_plain_source(source);
  if (!src)
    return src.error();
  std::uint8_t header[audio::wav_header_bytes];
  auto got = (*src)->read(header, sizeof header);
  if (!got)
    return got.error();
  const bool canonical =
      *got == sizeof header && audio::sniff_content(header, *got) == audio::content_kind::wav &&
      std::memcmp(header + 12, "fmt ", 4) == 0 && le16(header + 20) == wav_format_pcm &&
      le16(header + 34) == wav_bits && std::memcmp(header + 36, "data", 4) == 0;
  if (!canonical)
    return make_error("not_plain_wav", source + " is not a canonical 16-bit PCM WAV");

  audio::pcm_format format{static_cast<int>(le32(header + 24)), le16(header + 22)};
  if (format.channels <= 0 || format.rate <= 0)
    return make_error("not_plain_wav", source + " names no channels or rate");
  const std::size_t frame_bytes = static_cast<std::size_t>(format.channels) * 2;
  const std::uint64_t frames = ((*src)->size_hint() - sizeof header) / frame_bytes;

  nlohmann::json comment = {{"recording_id", recording_id}, {"source", "plain_wav"}};
  auto sink = compressed_sink::create(out, keys, format, comment.dump());
  if (!sink)
    return sink.error();
  (*sink)->beat_on(opts.heartbeat);

  crypto::secret_bytes block{wav_block_frames * frame_bytes};
  std::uint64_t done = 0;
  while (done < frames) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(wav_block_frames, frames - done));
    std::size_t have = 0;
    while (have < want * frame_bytes) {
      auto n = (*src)->read(block.data() + have, want * frame_bytes - have);
      if (!n)
        return n.error();
      if (*n == 0)
        return make_error("source_damaged", source + " ended while it was read");
      have += *n;
    }
    if (auto ok = (*sink)->write(reinterpret_cast<const std::int16_t*>(block.data()), want); !ok)
      return ok.error();
    done += want;
  }
  auto sealed = (*sink)->finish();
  if (sealed)
    sealed->passes = 1;
  return sealed;
}

// Decrypts and decodes `path`, digesting the PCM.
struct decoded_check {
  audio::decoded_audio audio;
  std::array<std::uint8_t, audio::digest_bytes> digest{};
  double cpu_seconds = 0;
};

result<decoded_check> decode_compressed(const std::string& path, const transcode_keys& keys,
                                        std::atomic<std::uint64_t>* heartbeat = nullptr) {
  auto sealed = sealing_key(path, keys);
  if (!sealed)
    return sealed.error();
  auto src = audio::ccenx_source::open(path, sealed->key);
  if (!src)
    return src.error();

  std::optional<audio::pcm_digest> digest;
  auto decoded = audio::decode_flac(
      **src,
      [&](const std::int16_t* pcm, std::size_t n) {
        if (heartbeat != nullptr)
          ++*heartbeat;
        digest->add(pcm, n);
        return result<void>{};
      },
      [&](audio::pcm_format format) { digest.emplace(format.channels); });
  auto report = (*src)->report();
  if (report.state != crypto::ccenx_state::complete)
    return make_error(report.code.empty() ? "verify_failed" : report.code,
                      path + ": " + crypto::to_string(report.state) + ": " + report.reason);
  if (!decoded)
    return decoded.error().with_context(path);

  decoded_check out;
  out.audio = *decoded;
  out.digest = digest->finish();
  out.cpu_seconds = (*src)->cpu_seconds();
  return out;
}

result<double> verify_sealed(const std::string& path, const transcode_keys& keys,
                             const sealed_file& expected, std::atomic<std::uint64_t>* heartbeat) {
  auto check = decode_compressed(path, keys, heartbeat);
  if (!check)
    return make_error("verify_failed", check.error().message);
  if (check->audio.frames != expected.frames || check->digest != expected.digest ||
      check->audio.format.rate != expected.format.rate ||
      check->audio.format.channels != expected.format.channels)
    return make_error("verify_failed", path + ": decodes to " +
                                           std::to_string(check->audio.frames) +
                                           " frames that differ from the " +
                                           std::to_string(expected.frames) + " encoded");
  return check->cpu_seconds;
}

void step_done(const transcode_options& opts, const std::string& id, transcode_step step) {
  if (opts.heartbeat != nullptr)
    ++*opts.heartbeat;
  if (opts.after_step)
    opts.after_step(id, step);
}

std::int64_t file_bytes(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::int64_t>(size);
}

}  // namespace

// ---------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------

transcode_keys keys_from_keyring(const keyring& ring) {
  transcode_keys keys;
  keys.active_id = ring.active_id;
  auto it = ring.keys.find(ring.active_id);
  if (it != ring.keys.end())
    keys.active = it->second;
  auto all = ring.keys;
  keys.find = [all](std::int64_t id) -> std::shared_ptr<const crypto::secret_bytes> {
    auto found = all.find(id);
    return found == all.end() ? nullptr : found->second;
  };
  return keys;
}

std::string compressed_relative_path(const storage::recording_row& row) {
  const std::string spool = std::string{storage::plaintext_spool_dir} + "/";
  std::string path = row.path;
  if (path.compare(0, spool.size(), spool) == 0)
    path = path.substr(spool.size());
  auto dir = fs::path{path}.parent_path();
  return (dir / (row.id + compressed_suffix)).string();
}

result<std::uint64_t> check_compressed(const std::string& path, const transcode_keys& keys) {
  auto check = decode_compressed(path, keys);
  if (!check)
    return check.error();
  return check->audio.frames;
}

result<transcode_outcome> transcode_recording(storage::database& db,
                                              const storage::recording_row& row,
                                              const transcode_keys& keys,
                                              const transcode_options& opts) {
  if (!keys.active)
    return make_error("encryption_disabled",
                      "no active master key: the transcoder encrypts what it writes");
  transcode_outcome out;
  out.recording_id = row.id;
  out.source_path = row.path;
  out.source_form = row.form;
  out.output_path = compressed_relative_path(row);
  const fs::path source = opts.recordings_dir + "/" + row.path;
  const fs::path target = opts.recordings_dir + "/" + out.output_path;
  const fs::path temp = target.string() + temp_suffix;
  const auto what = "while transcoding recording " + row.id;

  std::error_code ec;
  if (!fs::exists(source, ec))
    return make_error("source_missing", source.string() + " does not exist").with_context(what);
  out.source_bytes = file_bytes(source);
  fs::create_directories(target.parent_path(), ec);
  // A crash left this: it holds ciphertext only, and was never verified.
  if (auto ok = remove_file(temp); !ok)
    return ok.error().with_context(what);

  // 1. Seal the new file.
  const double cpu_start = audio::thread_cpu_seconds();
  auto sealed = row.form == "plain_wav" ? seal_plain_wav(source, temp, keys, row.id, opts)
                                        : seal_raw(source, temp, keys, opts);
  if (!sealed) {
    (void)remove_file(temp);
    return sealed.error().with_context(what);
  }
  step_done(opts, row.id, transcode_step::output_sealed);

  // 2. It must decrypt and decode to exactly what went in.
  auto verify_cpu = verify_sealed(temp, keys, *sealed, opts.heartbeat);
  if (!verify_cpu) {
    (void)remove_file(temp);
    return verify_cpu.error().with_context(what);
  }
  out.cpu_seconds = audio::thread_cpu_seconds() - cpu_start + *verify_cpu;
  out.frames = sealed->frames;
  out.render_passes = sealed->passes;
  step_done(opts, row.id, transcode_step::output_verified);

  // 3. Put it in place.
  if (std::rename(temp.c_str(), target.c_str()) != 0)
    return io_error("cannot rename " + temp.string() + " to", target.string()).with_context(what);
  if (auto ok = sync_dir(target.parent_path()); !ok)
    return ok.error().with_context(what);
  out.output_bytes = file_bytes(target);
  step_done(opts, row.id, transcode_step::output_renamed);

  // 4. The row points at it, and remembers the source until it is gone.
  storage::recording_file_change change;
  change.id = row.id;
  change.expected_path = row.path;
  change.new_path = out.output_path;
  change.form = "compressed";
  change.key_id = keys.active_id;
  change.encryption = "ccenx";
  change.bytes = out.output_bytes;
  auto moved = db.replace_recording_file(change);
  if (!moved)
    return moved.error().with_context(what);
  if (!*moved)
    return make_error("row_changed", "recording " + row.id + " no longer points at " + row.path +
                                         "; its new file " + target.string() + " is left unused");
  step_done(opts, row.id, transcode_step::row_updated);

  // 5. Only now the source goes (for a plain WAV: the plaintext).
  if (auto ok = remove_file(source); !ok)
    return ok.error().with_context(what + " (converted; the source is removed on the next run)");
  if (auto ok = sync_dir(source.parent_path()); !ok)
    return ok.error().with_context(what);
  if (auto ok = db.clear_replaced_path(row.id); !ok)
    return ok.error().with_context(what);
  step_done(opts, row.id, transcode_step::source_removed);
  return out;
}

result<std::size_t> remove_replaced_files(storage::database& db,
                                          const std::string& recordings_dir) {
  auto rows = db.recordings_with_replaced_file();
  if (!rows)
    return rows.error();
  std::size_t removed = 0;
  for (const auto& row : *rows) {
    if (row.replaced_path != row.path) {
      const fs::path old = recordings_dir + "/" + row.replaced_path;
      std::error_code ec;
      bool existed = fs::exists(old, ec);
      if (auto ok = remove_file(old); !ok)
        return ok.error();
      if (auto ok = sync_dir(old.parent_path()); !ok && existed)
        return ok.error();
      removed += existed ? 1 : 0;
    }
    if (auto ok = db.clear_replaced_path(row.id); !ok)
      return ok.error();
  }
  return removed;
}

result<backlog_result> transcode_backlog(
    storage::database& db, const transcode_keys& keys, const transcode_options& opts,
    const std::function<void(std::size_t, std::size_t)>& progress) {
  backlog_result out;
  auto removed = remove_replaced_files(db, opts.recordings_dir);
  if (!removed)
    return removed.error();
  out.replaced_removed = *removed;

  auto rows = db.recordings_to_transcode();
  if (!rows)
    return rows.error();
  for (std::size_t i = 0; i < rows->size(); ++i) {
    auto done = transcode_recording(db, (*rows)[i], keys, opts);
    if (done)
      out.done.push_back(std::move(*done));
    else
      out.failed.emplace_back((*rows)[i].id, done.error());
    if (progress)
      progress(i + 1, rows->size());
  }
  return out;
}

// ---------------------------------------------------------------------------
// The actor
// ---------------------------------------------------------------------------

namespace {

struct pending_note {
  recording_done note;
  int attempts = 0;
};

// What one job did, written on the worker's thread and read by the actor
// once the job has finished (db_worker's `finished` orders the two).
struct job_report {
  std::vector<std::string> noted;    // policy notes now in their rows
  std::vector<std::string> missing;  // rows not written yet by the metadata writer
  std::optional<transcode_outcome> done;
  std::optional<std::pair<std::string, error>> failed;
  std::int64_t waiting = 0;  // eligible recordings left after this job
};

struct job_plan {
  std::vector<recording_done> notes;
  std::set<std::string> given_up;
  transcode_keys keys;
  transcode_options opts;
  bool transcode = false;  // false: write the notes only
  std::int64_t delay_ms = 0;
};

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Runs on the db_worker's thread: notes first, then at most one recording.
result<void> run_job(storage::database& db, std::atomic<std::uint64_t>& steps, job_plan& plan,
                     job_report& report) {
  for (const auto& n : plan.notes) {
    auto noted = db.set_recording_policy(n.recording_id, n.method, n.xml_policy, n.xml_path);
    if (!noted)
      return noted.error();
    (*noted ? report.noted : report.missing).push_back(n.recording_id);
    ++steps;
  }
  if (!plan.transcode)
    return {};

  auto removed = remove_replaced_files(db, plan.opts.recordings_dir);
  if (!removed)
    return removed.error();
  auto rows = db.recordings_to_transcode();
  if (!rows)
    return rows.error();
  ++steps;

  // Fresh recordings stay raw for a while (an unknown end counts as old).
  const auto now = wall_ms();
  std::vector<const storage::recording_row*> eligible;
  for (const auto& row : *rows)
    if (plan.given_up.count(row.id) == 0 &&
        (row.ended_ms == 0 || row.ended_ms + plan.delay_ms <= now))
      eligible.push_back(&row);
  report.waiting = static_cast<std::int64_t>(eligible.size());
  if (eligible.empty())
    return {};

  plan.opts.heartbeat = &steps;
  auto done = transcode_recording(db, *eligible.front(), plan.keys, plan.opts);
  --report.waiting;
  if (done)
    report.done = std::move(*done);
  else
    report.failed.emplace(eligible.front()->id, done.error());
  return {};
}

struct actor_state {
  transcoder_args args;
  std::chrono::milliseconds deadline{};
  std::unique_ptr<db_worker> worker;
  std::deque<pending_note> notes;
  std::set<std::string> given_up;  // failed in this run: not retried
  key_grant active;                // the key cache's latest answer
  transcoder_status status;
  std::shared_ptr<job_report> report;  // of the job in flight
  std::uint64_t steps_at_arm = 0;
  std::vector<caf::response_promise> flush_waiters;
  bool warned = false;  // one warning per run of failures
};

using state_ptr = std::shared_ptr<actor_state>;

// The keys a job may use: what the engine loaded at start, and the key
// cache's current active key (a rotation since start included).
transcode_keys job_keys(const actor_state& st) {
  transcode_keys keys;
  keys.active_id = st.active.key_id;
  keys.active = st.active.key;
  auto ring = st.args.ring;
  auto active = st.active;
  keys.find = [ring, active](std::int64_t id) -> std::shared_ptr<const crypto::secret_bytes> {
    if (active.key && active.key_id == id)
      return active.key;
    if (ring) {
      auto it = ring->keys.find(id);
      if (it != ring->keys.end())
        return it->second;
    }
    return nullptr;
  };
  return keys;
}

void answer_flush(actor_state& st) {
  st.status.notes_pending = static_cast<std::int64_t>(st.notes.size());
  for (auto& rp : st.flush_waiters)
    rp.deliver(st.status.notes_pending);
  st.flush_waiters.clear();
}

void post_job(caf::event_based_actor* self, const state_ptr& st, bool transcode) {
  auto plan = std::make_shared<job_plan>();
  for (const auto& n : st->notes)
    plan->notes.push_back(n.note);
  plan->given_up = st->given_up;
  plan->keys = job_keys(*st);
  plan->opts.recordings_dir = st->args.recordings_dir;
  plan->opts.max_window_frames = st->args.max_window_frames;
  plan->transcode = transcode && st->args.encrypt && plan->keys.active && !st->args.stop->load();
  plan->delay_ms = st->args.delay_ms;
  auto report = std::make_shared<job_report>();
  st->report = report;
  st->steps_at_arm = 0;
  auto id =
      st->worker->post([plan, report](storage::database& db, std::atomic<std::uint64_t>& steps) {
        return run_job(db, steps, *plan, *report);
      });
  self->delayed_send(self, st->deadline, deadline_atom::value, id);
}

// Asks the key cache for the active key, then posts a job.
void look_for_work(caf::event_based_actor* self, const state_ptr& st) {
  if (st->worker->busy())
    return;
  if (!st->args.encrypt || !st->args.key_cache)
    return post_job(self, st, false);
  self->request(st->args.key_cache, key_request_timeout, active_atom::value)
      .then(
          [self, st](key_grant& grant) {
            st->active = std::move(grant);
            if (!st->worker->busy())
              post_job(self, st, true);
          },
          [self, st](caf::error&) {
            if (!st->worker->busy())
              post_job(self, st, false);
          });
}

void settle_notes(actor_state& st, const job_report& report) {
  std::set<std::string> noted(report.noted.begin(), report.noted.end());
  std::set<std::string> missing(report.missing.begin(), report.missing.end());
  std::deque<pending_note> left;
  for (auto& n : st.notes) {
    if (noted.count(n.note.recording_id) != 0)
      continue;
    if (missing.count(n.note.recording_id) != 0 && ++n.attempts >= max_note_attempts) {
      spdlog::warn("transcoder: recording {} never appeared; its policies were not noted",
                   n.note.recording_id);
      continue;
    }
    left.push_back(std::move(n));
  }
  st.notes = std::move(left);
}

void settle_transcode(actor_state& st, const job_report& report) {
  st.status.queued = report.waiting;
  if (report.done) {
    const auto& d = *report.done;
    ++st.status.transcoded;
    spdlog::info("transcoder: {} -> {} ({} frames, {} -> {} bytes, {:.3f} s CPU)", d.source_path,
                 d.output_path, d.frames, d.source_bytes, d.output_bytes, d.cpu_seconds);
  }
  if (report.failed) {
    const auto& [id, err] = *report.failed;
    ++st.status.failed;
    st.given_up.insert(id);
    spdlog::warn("transcoder: recording {} kept as it is: {}", id, err.message);
  }
}

void on_done(caf::event_based_actor* self, const state_ptr& st, std::uint64_t id) {
  auto& w = *st->worker;
  if (id != w.job_id() || !w.job() || !w.job()->finished)
    return;
  auto report = std::move(st->report);
  settle_notes(*st, *report);
  settle_transcode(*st, *report);
  if (!w.job()->outcome) {
    if (!st->warned)
      spdlog::warn("transcoder: {}; trying again later", w.job()->outcome.error().message);
    st->warned = true;
  } else {
    st->warned = false;
  }
  answer_flush(*st);

  // More waiting: go on at once (a stop lets the recording in hand finish).
  if (w.job()->outcome && report->waiting > 0 && !st->args.stop->load())
    look_for_work(self, st);
}

void on_deadline(caf::event_based_actor* self, const state_ptr& st, std::uint64_t id) {
  auto& w = *st->worker;
  if (id != w.job_id() || !w.busy())
    return;
  auto steps = w.job()->steps.load();
  if (steps > st->steps_at_arm) {
    // Slow but moving (a long recording, or many notes): a new deadline.
    st->steps_at_arm = steps;
    self->delayed_send(self, st->deadline, deadline_atom::value, id);
    return;
  }
  // The database (or the disk) does not answer. Whatever the job was doing
  // is crash-safe; a fresh worker tries again later.
  w.abandon();
  st->report.reset();
  if (!st->warned)
    spdlog::warn("transcoder: no progress within {}; the job was abandoned, trying again later",
                 seconds_text(st->deadline));
  st->warned = true;
  answer_flush(*st);
}

}  // namespace

caf::behavior transcoder(caf::event_based_actor* self, transcoder_args args) {
  auto st = std::make_shared<actor_state>();
  st->args = std::move(args);
  st->deadline = db_step_deadline(st->args.db_uri, st->args.timeout);
  st->worker = make_db_worker(self, st->args.db_uri);
  auto interval = std::chrono::milliseconds{st->args.interval_ms};
  self->send(self, tick_atom::value);

  return {
      [st](transcode_atom, recording_done& done) {
        st->notes.push_back(pending_note{std::move(done), 0});
        st->status.notes_pending = static_cast<std::int64_t>(st->notes.size());
      },
      [self, st, interval](tick_atom) {
        look_for_work(self, st);
        self->delayed_send(self, interval, tick_atom::value);
      },
      [self, st](done_atom, std::uint64_t id) { on_done(self, st, id); },
      [self, st](deadline_atom, std::uint64_t id) { on_deadline(self, st, id); },
      [self, st](flush_atom) {
        // Stopping: the notes reach their rows; no new conversion starts.
        auto rp = self->make_response_promise();
        if (st->notes.empty() && !st->worker->busy()) {
          rp.deliver(std::int64_t{0});
          return;
        }
        st->flush_waiters.push_back(rp);
        if (!st->worker->busy())
          post_job(self, st, false);
      },
      [st](status_atom) { return st->status; },
  };
}

}  // namespace ccrec
