// `ccrec verify`, `ccrec play`, `ccrec recordings`: commands that work on
// the files and the database without a running engine.
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "actors/recordings.hpp"
#include "apps/ccrec/commands.hpp"
#include "apps/ccrec/options.hpp"
#include "apps/ccrec/output.hpp"

namespace ccrec::app {

namespace {

std::string format_time(std::int64_t ms) {
  if (ms == 0)
    return "-";
  return utc_time(ms);
}

std::string format_duration(std::int64_t start_ms, std::int64_t end_ms) {
  if (start_ms == 0 || end_ms == 0)
    return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << (end_ms - start_ms) / 1000.0 << "s";
  return out.str();
}

// The database's status for a file, when the file is one of its recordings.
std::string db_status_of(offline_context& ctx, const std::string& path) {
  auto rows = ctx.db->recordings();
  if (!rows)
    return "";
  std::error_code ec;
  auto target = std::filesystem::weakly_canonical(path, ec);
  for (const auto& r : *rows) {
    auto candidate = std::filesystem::weakly_canonical(ctx.cfg.recordings_dir() + "/" + r.path, ec);
    if (candidate == target)
      return r.status;
  }
  return "";
}

// --- verify ----------------------------------------------------------------

struct verify_options {
  common_options common;
  std::vector<std::string> files;
};

int run_verify(const verify_options& opts) {
  set_log_level(opts.common.log_level);
  auto ctx = open_offline(opts.common, true);
  if (!ctx)
    return print_failure("verify", ctx.error(), 2);

  int failures = 0;
  for (const auto& file : opts.files) {
    auto result = verify_recording(file, ctx->ring, db_status_of(*ctx, file));
    std::cout << result.describe() << "\n";
    failures += result.ok() ? 0 : 1;
  }
  std::cout << opts.files.size() - failures << " verified, " << failures << " failed\n";
  return failures == 0 ? 0 : 1;
}

// --- play ------------------------------------------------------------------

struct play_options {
  common_options common;
  std::string what;
  std::string out;
};

// A recording id from the database, or a path to a file.
result<std::string> resolve_recording(offline_context& ctx, const std::string& what) {
  if (std::filesystem::exists(what))
    return what;
  auto row = ctx.db->recording(what);
  if (!row)
    return row.error();
  if (!row->has_value())
    return make_error("not_found", "'" + what + "' is neither a file nor a recording id");
  if ((*row)->kind != "audio")
    return make_error("not_audio", "recording '" + what + "' is a " + (*row)->kind +
                                       " recording; only audio recordings play to WAV");
  return ctx.cfg.recordings_dir() + "/" + (*row)->path;
}

int run_play(const play_options& opts) {
  set_log_level(opts.common.log_level);
  auto ctx = open_offline(opts.common, true);
  if (!ctx)
    return print_failure("play", ctx.error(), 2);
  auto path = resolve_recording(*ctx, opts.what);
  if (!path)
    return print_failure("play", path.error(), 1);

  auto played = play_recording(*path, ctx->ring, opts.out);
  if (!played)
    return print_failure("play", played.error(), 1);
  const auto& s = played->stats;
  std::cout << "wrote " << opts.out << ": " << s.frames << " stereo frames (" << std::fixed
            << std::setprecision(2) << s.frames / 8000.0 << " s), " << s.leg_samples[0]
            << " samples left, " << s.leg_samples[1] << " samples right\n";
  if (played->report.state == crypto::ccenx_state::interrupted ||
      played->report.state == crypto::ccenx_state::truncated)
    std::cout << "note: the recording is " << crypto::to_string(played->report.state)
              << "; played up to its last complete chunk\n";
  return 0;
}

// --- recordings --------------------------------------------------------------

struct list_options {
  common_options common;
  bool json = false;
};

int run_recordings(const list_options& opts) {
  set_log_level(opts.common.log_level);
  auto ctx = open_offline(opts.common, false);
  if (!ctx)
    return print_failure("recordings", ctx.error(), 2);
  auto rows = ctx->db->recordings();
  if (!rows)
    return print_failure("recordings", rows.error(), 1);

  if (opts.json) {
    const auto dir = ctx->cfg.recordings_dir();
    print_json(json_array(*rows, [&dir](const auto& r) -> nlohmann::json {
      return {{"id", r.id},
              {"call_id", r.call_id},
              {"kind", r.kind},
              {"agent", r.agent},
              {"started_ms", r.started_ms},
              {"ended_ms", r.ended_ms},
              {"status", r.status},
              {"encryption", r.encryption},
              {"key_id", r.key_id},
              {"schedule", r.schedule},
              {"bytes", r.bytes},
              {"packets", r.packets},
              {"file", dir + "/" + r.path}};
    }));
    return 0;
  }
  std::vector<table_row> table;
  for (const auto& r : *rows)
    table.push_back({r.id, r.call_id, r.kind, r.agent, format_time(r.started_ms),
                     format_duration(r.started_ms, r.ended_ms), r.status,
                     ctx->cfg.recordings_dir() + "/" + r.path});
  print_table({"RECORDING", "CALL", "KIND", "AGENT", "START", "LENGTH", "STATUS", "FILE"}, table);
  std::cout << rows->size() << " recordings\n";
  return 0;
}

}  // namespace

command_fn add_verify(CLI::App& app) {
  auto opts = std::make_shared<verify_options>();
  auto* cmd = add_command(
      app, "verify", "Check that files are complete CCENX files whose every chunk authenticates",
      opts->common);
  cmd->add_option("files", opts->files, "Files to verify")->required();
  cmd->footer("Exit status 0 when every file is complete and authentic, 1 otherwise.");
  return [opts] { return run_verify(*opts); };
}

command_fn add_play(CLI::App& app) {
  auto opts = std::make_shared<play_options>();
  auto* cmd = add_command(
      app, "play",
      "Decrypt and decode a recording to a 16-bit 8 kHz stereo WAV (caller left, agent right)",
      opts->common);
  cmd->add_option("recording", opts->what, "Recording id or file")->required();
  cmd->add_option("-o,--output", opts->out, "WAV file to write")->required();
  return [opts] { return run_play(*opts); };
}

command_fn add_recordings(CLI::App& app) {
  auto opts = std::make_shared<list_options>();
  auto* cmd = add_command(app, "recordings",
                          "List recordings with call, agent, start, length, "
                          "status and file",
                          opts->common);
  cmd->add_flag("--json", opts->json, "Print JSON instead of a table");
  return [opts] { return run_recordings(*opts); };
}

}  // namespace ccrec::app
