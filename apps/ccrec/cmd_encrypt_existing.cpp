// `ccrec encrypt-existing DIR`: encrypts, in place, recordings made before
// encryption was enabled. Interrupted at any point, a rerun finishes the
// job: see actors/encrypt_existing.hpp.
#include <iostream>

#include "actors/encrypt_existing.hpp"
#include "apps/ccrec/commands.hpp"
#include "apps/ccrec/options.hpp"
#include "apps/ccrec/output.hpp"
#include "apps/ccrec/progress_bar.hpp"

namespace ccrec::app {

namespace {

constexpr int exit_some_failed = 1;
constexpr int exit_setup = 2;

struct encrypt_options_cli {
  common_options common;
  std::string dir;
  bool dry_run = false;
};

void print_summary(const encrypt_existing_summary& s, bool dry_run) {
  for (const auto& [path, err] : s.failed)
    std::cout << "FAIL " << path << ": " << err.message << " [" << err.code << "]\n";
  if (dry_run) {
    for (const auto& path : s.planned)
      std::cout << "would encrypt " << path << "\n";
    std::cout << s.planned.size() << " files would be encrypted, " << s.already_encrypted
              << " are already CCENX (skipped), " << s.not_recordings
              << " are not recordings (left alone), " << s.leftovers_removed
              << " temporary files of an interrupted run would be removed\n";
    return;
  }
  std::cout << s.encrypted << " files encrypted (" << s.bytes << " bytes), " << s.already_encrypted
            << " already CCENX (skipped), " << s.not_recordings << " not recordings (left alone), "
            << s.leftovers_removed << " leftover temporary files removed, " << s.rows_updated
            << " database rows updated, " << s.failed.size() << " failed\n";
}

int run_encrypt_existing(const encrypt_options_cli& opts) {
  set_log_level(opts.common.log_level);
  auto ctx = open_offline(opts.common, true);
  if (!ctx)
    return print_failure("encrypt-existing", ctx.error(), exit_setup);

  progress_bar bar{"encrypting"};
  encrypt_existing_options eopts;
  eopts.dir = opts.dir;
  eopts.recordings_dir = ctx->cfg.recordings_dir();
  eopts.dry_run = opts.dry_run;
  eopts.progress = [&](std::size_t done, std::size_t total, std::uint64_t bytes,
                       std::uint64_t bytes_total) { bar.update(done, total, bytes, bytes_total); };
  auto summary = encrypt_existing(ctx->db.get(), keys_from_keyring(ctx->ring), eopts);
  bar.done();
  if (!summary)
    return print_failure("encrypt-existing", summary.error(), exit_setup);
  print_summary(*summary, opts.dry_run);
  return summary->failed.empty() ? 0 : exit_some_failed;
}

}  // namespace

command_fn add_encrypt_existing(CLI::App& app) {
  auto opts = std::make_shared<encrypt_options_cli>();
  auto* cmd = add_command(app, "encrypt-existing",
                          "Encrypt in place the recordings under DIR that were made before "
                          "encryption was enabled (raw streams and WAVs)",
                          opts->common);
  cmd->add_option("dir", opts->dir, "Directory to encrypt, recursively")->required();
  cmd->add_flag("--dry-run", opts->dry_run, "List what would be done; change nothing");
  cmd->footer(
      "Each file is encrypted beside itself, synced, verified, renamed over the original and "
      "its database rows updated. Files already CCENX are skipped; interrupted at any point, a "
      "rerun finishes the job. Needs the key-encrypting secret.");
  return [opts] { return run_encrypt_existing(*opts); };
}

}  // namespace ccrec::app
