// `ccrec transcode`: converts the backlog of finished recordings (raw, or
// plain WAV from the plain-WAV method) into compressed, encrypted files, the
// same work the engine's transcoder does while it runs. Safe to run beside a
// running engine and to interrupt: see actors/transcoder.hpp.
#include <iomanip>
#include <iostream>

#include <nlohmann/json.hpp>

#include "actors/audio_codec.hpp"
#include "actors/transcoder.hpp"
#include "apps/ccrec/commands.hpp"
#include "apps/ccrec/options.hpp"
#include "apps/ccrec/output.hpp"
#include "apps/ccrec/progress_bar.hpp"

namespace ccrec::app {

namespace {

constexpr int exit_some_failed = 1;
constexpr int exit_setup = 2;

struct transcode_options_cli {
  common_options common;
  bool json = false;
};

double audio_seconds(std::uint64_t frames) {
  return static_cast<double>(frames) / audio::telephony_rate;
}

void print_summary(const backlog_result& r) {
  std::uint64_t frames = 0;
  std::int64_t in = 0, out = 0;
  double cpu = 0;
  for (const auto& d : r.done) {
    frames += d.frames;
    in += d.source_bytes;
    out += d.output_bytes;
    cpu += d.cpu_seconds;
    std::cout << "OK   " << d.recording_id << ": " << d.source_path << " -> " << d.output_path
              << " (" << std::fixed << std::setprecision(1) << audio_seconds(d.frames) << " s, "
              << d.source_bytes << " -> " << d.output_bytes << " bytes)\n";
  }
  for (const auto& [id, err] : r.failed)
    std::cout << "FAIL " << id << ": " << err.message << " [" << err.code << "]\n";

  std::cout << r.done.size() << " transcoded, " << r.failed.size() << " failed";
  if (r.replaced_removed > 0)
    std::cout << ", " << r.replaced_removed << " replaced files of an interrupted run removed";
  std::cout << "\n";
  if (!r.done.empty() && out > 0 && cpu > 0)
    std::cout << std::fixed << std::setprecision(1) << audio_seconds(frames) << " s of audio, "
              << in << " -> " << out << " bytes (ratio " << std::setprecision(2)
              << static_cast<double>(in) / static_cast<double>(out) << " : 1), "
              << std::setprecision(0) << audio_seconds(frames) / cpu
              << " audio seconds per CPU second\n";
}

nlohmann::json as_json(const backlog_result& r) {
  nlohmann::json out = {{"transcoded", nlohmann::json::array()},
                        {"failed", nlohmann::json::array()},
                        {"replaced_removed", r.replaced_removed}};
  for (const auto& d : r.done)
    out["transcoded"].push_back({{"id", d.recording_id},
                                 {"source", d.source_path},
                                 {"source_form", d.source_form},
                                 {"output", d.output_path},
                                 {"frames", d.frames},
                                 {"source_bytes", d.source_bytes},
                                 {"output_bytes", d.output_bytes},
                                 {"cpu_seconds", d.cpu_seconds}});
  for (const auto& [id, err] : r.failed)
    out["failed"].push_back({{"id", id}, {"code", err.code}, {"message", err.message}});
  return out;
}

int run_transcode(const transcode_options_cli& opts) {
  set_log_level(opts.common.log_level);
  auto ctx = open_offline(opts.common, true);
  if (!ctx)
    return print_failure("transcode", ctx.error(), exit_setup);
  if (!ctx->cfg.encryption || ctx->ring.active_id == 0) {
    std::cerr << "ccrec transcode: encryption is disabled: the transcoder only writes encrypted "
                 "files, so it converts nothing\n";
    return exit_setup;
  }

  transcode_options topts;
  topts.recordings_dir = ctx->cfg.recordings_dir();
  progress_bar bar{"transcoding"};
  auto result = transcode_backlog(
      *ctx->db, keys_from_keyring(ctx->ring), topts,
      [&](std::size_t done, std::size_t total) { bar.update(done, total, 0, 0); });
  bar.done();
  if (!result)
    return print_failure("transcode", result.error(), exit_setup);
  if (opts.json)
    print_json(as_json(*result));
  else
    print_summary(*result);
  return result->failed.empty() ? 0 : exit_some_failed;
}

}  // namespace

command_fn add_transcode(CLI::App& app) {
  auto opts = std::make_shared<transcode_options_cli>();
  auto* cmd = add_command(
      app, "transcode",
      "Convert finished recordings (raw, or plain WAV) into compressed stereo FLAC, encrypted",
      opts->common);
  cmd->add_flag("--json", opts->json, "Print JSON instead of lines");
  cmd->footer(
      "Each file is written beside its final name, synced, decrypted and decoded again and "
      "compared, recorded in the database, and only then is the source removed. Interrupted, "
      "a rerun finishes the job. Exit status 0 when every waiting recording was converted.");
  return [opts] { return run_transcode(*opts); };
}

}  // namespace ccrec::app
