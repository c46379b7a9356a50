// `ccrec keys list|rotate|deactivate|delete|export|import`: the master keys'
// life cycle, over actors/key_admin.hpp. Every change is audited there.
#include <fcntl.h>
#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include <sodium.h>
#include <nlohmann/json.hpp>

#include "actors/db_watchdog.hpp"
#include "actors/key_admin.hpp"
#include "actors/keyring.hpp"
#include "apps/ccrec/commands.hpp"
#include "apps/ccrec/options.hpp"
#include "apps/ccrec/output.hpp"
#include "crypto/key_export.hpp"

namespace ccrec::app {

namespace {

constexpr const char* passphrase_env = "CCREC_EXPORT_PASSPHRASE";
constexpr std::size_t max_passphrase_bytes = 1024;
constexpr int exit_refused = 1;  // the operation was refused or failed
constexpr int exit_setup = 2;    // options, database or secret unusable

struct keys_options {
  common_options common;
  std::int64_t id = 0;
  std::string file;
  bool json = false;
};

// Who, for the audit table: the operating-system user running the command.
std::string cli_actor() {
  const passwd* pw = ::getpwuid(::geteuid());
  return std::string{"cli:"} + (pw != nullptr ? pw->pw_name : std::to_string(::geteuid()));
}

// A database that does not answer is an outage, not a fault of the command:
// say so in the words `ccrec status` and the engine use.
int fail(const std::string& cmd, const error& err, int code) {
  auto shown = as_db_down(err, "run `ccrec keys " + cmd + "`");
  std::cerr << "ccrec keys " << cmd << ": " << shown.message << " [" << shown.code << "]\n";
  return code;
}

// ---------------------------------------------------------------------------
// Secrets: the KEK and the export passphrase
// ---------------------------------------------------------------------------

result<crypto::secret_bytes> kek_for(offline_context& ctx, const common_options& opts) {
  auto kek = prepare_kek(ctx.cfg, opts.kek_secret_fd, cli_actor());
  if (!kek)
    return kek.error();
  return open_kek(*ctx.db, kek->secret.get(), kek->options);
}

// Reads one line from the terminal with echo off, into guarded memory.
// Known gap: a signal that kills the process mid-prompt leaves echo off
// (`stty echo` restores it); a handler restoring the settings would fix it.
result<crypto::secret_bytes> ask_terminal(int tty, const char* prompt) {
  // Echo goes off before the prompt appears, so no early keystroke shows.
  termios before{};
  if (::tcgetattr(tty, &before) != 0)
    return make_error("passphrase_io", "cannot read the terminal's settings");
  termios quiet = before;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  ::tcsetattr(tty, TCSAFLUSH, &quiet);
  if (::write(tty, prompt, std::strlen(prompt)) < 0) {
    ::tcsetattr(tty, TCSAFLUSH, &before);
    return make_error("passphrase_io", "cannot write to the terminal");
  }

  crypto::secret_bytes buf(max_passphrase_bytes);
  std::size_t got = 0;
  char c = 0;
  while (got < buf.size()) {
    auto n = ::read(tty, &c, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || c == '\n' || c == '\r')
      break;
    buf.data()[got++] = static_cast<std::uint8_t>(c);
  }
  c = 0;
  ::tcsetattr(tty, TCSANOW, &before);
  if (::write(tty, "\n", 1) < 0)
    return make_error("passphrase_io", "cannot write to the terminal");
  return crypto::secret_bytes::copy_of(buf.data(), got);
}

result<crypto::secret_bytes> ask_twice(bool confirm) {
  int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (tty < 0)
    return make_error("passphrase_io", "cannot open the terminal to ask for the passphrase");
  auto first = ask_terminal(tty, "Export passphrase: ");
  if (!first || !confirm) {
    ::close(tty);
    return first;
  }
  auto second = ask_terminal(tty, "Repeat the export passphrase: ");
  ::close(tty);
  if (!second)
    return second.error();
  if (first->size() != second->size() ||
      sodium_memcmp(first->data(), second->data(), first->size()) != 0)
    return make_error("passphrase_mismatch", "the two passphrases differ; nothing was done");
  return first;
}

// On a terminal: asked (twice when `confirm`), never echoed. Otherwise from
// CCREC_EXPORT_PASSPHRASE, which is then removed from the environment.
result<crypto::secret_bytes> read_passphrase(bool confirm) {
  if (::isatty(STDIN_FILENO))
    return ask_twice(confirm);
  const char* env = std::getenv(passphrase_env);
  if (env == nullptr || *env == '\0')
    return make_error("passphrase_missing",
                      "no export passphrase: run on a terminal to be asked for it, or set "
                      "CCREC_EXPORT_PASSPHRASE");
  auto out =
      crypto::secret_bytes::copy_of(reinterpret_cast<const std::uint8_t*>(env), std::strlen(env));
  ::unsetenv(passphrase_env);
  return out;
}

// ---------------------------------------------------------------------------
// The commands
// ---------------------------------------------------------------------------

int run_list(const keys_options& opts) {
  auto ctx = open_offline(opts.common, false);
  if (!ctx)
    return fail("list", ctx.error(), exit_setup);
  auto keys = list_keys(*ctx->db, key_admin_now_ms());
  if (!keys)
    return fail("list", keys.error(), exit_refused);

  if (opts.json) {
    print_json(json_array(*keys, [](const auto& k) -> nlohmann::json {
      return {{"id", k.id},
              {"created_ms", k.created_ms},
              {"status", k.status},
              {"fingerprint", k.fingerprint},
              {"kek_provider", k.kek_provider},
              {"files", k.files},
              {"kept", k.kept}};
    }));
    return 0;
  }
  std::cout << std::left << std::setw(6) << "ID" << std::setw(22) << "CREATED" << std::setw(10)
            << "STATUS" << std::setw(18) << "FINGERPRINT" << std::setw(8) << "FILES"
            << "KEPT\n";
  for (const auto& k : *keys)
    std::cout << std::setw(6) << k.id << std::setw(22) << utc_time(k.created_ms) << std::setw(10)
              << k.status << std::setw(18) << k.fingerprint << std::setw(8) << k.files << k.kept
              << "\n";
  std::cout << keys->size() << " master keys\n";
  return 0;
}

int run_rotate(const keys_options& opts) {
  auto ctx = open_offline(opts.common, false);
  if (!ctx)
    return fail("rotate", ctx.error(), exit_setup);
  auto kek = kek_for(*ctx, opts.common);
  if (!kek)
    return fail("rotate", kek.error(), exit_setup);
  auto rotated = rotate_key(*ctx->db, *kek, cli_actor());
  if (!rotated)
    return fail("rotate", rotated.error(), exit_refused);

  std::cout << "master key " << rotated->new_id << " (fingerprint " << rotated->fingerprint
            << ") is now the active key; retired:";
  for (auto id : rotated->retired)
    std::cout << " " << id;
  std::cout << (rotated->retired.empty() ? " none" : "")
            << "\nA running engine uses it for new recordings after its next key reload (every "
            << ctx->cfg.key_reload_interval_ms << " ms).\n";
  return 0;
}

int run_deactivate(const keys_options& opts) {
  auto ctx = open_offline(opts.common, false);
  if (!ctx)
    return fail("deactivate", ctx.error(), exit_setup);
  auto ok = deactivate_key(*ctx->db, opts.id, cli_actor(), key_admin_now_ms());
  if (!ok)
    return fail("deactivate", ok.error(), exit_refused);
  std::cout << "master key " << opts.id << " is inactive\n";
  return 0;
}

int run_delete(const keys_options& opts) {
  auto ctx = open_offline(opts.common, false);
  if (!ctx)
    return fail("delete", ctx.error(), exit_setup);
  return fail("delete", refuse_key_delete(*ctx->db, opts.id, cli_actor()).error(), exit_refused);
}

int run_export(const keys_options& opts) {
  auto ctx = open_offline(opts.common, false);
  if (!ctx)
    return fail("export", ctx.error(), exit_setup);
  auto kek = kek_for(*ctx, opts.common);
  if (!kek)
    return fail("export", kek.error(), exit_setup);
  auto passphrase = read_passphrase(true);
  if (!passphrase)
    return fail("export", passphrase.error(), exit_setup);

  auto limits = ctx->cfg.kdf_profile == "test" ? crypto::export_kdf_limits::for_tests()
                                               : crypto::export_kdf_limits::moderate();
  auto done = export_keys(*ctx->db, *kek, *passphrase, opts.file, limits, cli_actor());
  if (!done)
    return fail("export", done.error(), exit_refused);
  std::cout << "exported " << done->ids.size() << " master keys to " << opts.file
            << ". Keep the file and its passphrase in separate safe places: together they "
               "open every recording.\n";
  return 0;
}

// Restoring keys is how a new installation starts after a disaster, so an
// import may create the data directory (private) that other commands
// refuse to guess at.
result<void> ensure_data_dir(const common_options& opts) {
  auto cfg = build_config(opts);
  if (!cfg)
    return cfg.error();
  if (!cfg->db.empty() || std::filesystem::is_directory(cfg->data_dir))
    return {};
  std::error_code ec;
  std::filesystem::create_directories(cfg->data_dir, ec);
  if (ec)
    return make_error("data_dir", "cannot create " + cfg->data_dir + ": " + ec.message());
  std::filesystem::permissions(cfg->data_dir, std::filesystem::perms::owner_all, ec);
  std::cout << "created data directory " << cfg->data_dir << "\n";
  return {};
}

// Opens the export with its passphrase and drops the keys again: a wrong
// passphrase or a damaged file must fail before the data directory or the
// database is created, or a failed restore leaves an empty installation.
result<void> check_export(const std::string& path, const crypto::secret_bytes& passphrase) {
  if (auto ok = crypto::initialise(); !ok)
    return ok.error();
  auto keys = open_export_file(path, passphrase);
  if (!keys)
    return keys.error();
  return {};
}

int run_import(const keys_options& opts) {
  auto passphrase = read_passphrase(false);
  if (!passphrase)
    return fail("import", passphrase.error(), exit_setup);
  if (auto ok = check_export(opts.file, *passphrase); !ok)
    return fail("import", ok.error(), exit_refused);
  if (auto ok = ensure_data_dir(opts.common); !ok)
    return fail("import", ok.error(), exit_setup);
  auto ctx = open_offline(opts.common, false, true);
  if (!ctx)
    return fail("import", ctx.error(), exit_setup);

  auto* context = &*ctx;
  const auto& common = opts.common;
  auto done = import_keys(
      *ctx->db, opts.file, *passphrase, [context, &common] { return kek_for(*context, common); },
      cli_actor());
  if (!done)
    return fail("import", done.error(), exit_refused);
  std::cout << "imported " << done->imported.size() << " master keys, " << done->skipped.size()
            << " already present";
  if (!done->demoted.empty())
    std::cout << "; " << done->demoted.size()
              << " imported as retired (this database keeps its own active key)";
  std::cout << "\n";
  return 0;
}

}  // namespace

command_fn add_keys(CLI::App& app) {
  auto opts = std::make_shared<keys_options>();
  auto* keys = app.add_subcommand("keys",
                                  "Manage master keys: list, rotate, deactivate, "
                                  "export, import (every change is audited)");
  keys->require_subcommand(1);
  keys->footer(
      "rotate and export need the key-encrypting secret (CCREC_KEK_SECRET or --kek-secret-fd), "
      "as does import when it has keys to add. The export passphrase is asked on the terminal, "
      "else taken from CCREC_EXPORT_PASSPHRASE. Keys are never deleted.");

  auto* list = keys->add_subcommand("list",
                                    "Keys with id, created, status, fingerprint, "
                                    "files using them and how many are still kept");
  list->add_flag("--json", opts->json, "Print JSON instead of a table");
  auto* rotate = keys->add_subcommand("rotate",
                                      "Make a new active master key; older keys stay "
                                      "for decryption");
  auto* deactivate = keys->add_subcommand(
      "deactivate", "Deactivate a key that no kept recording uses (refused otherwise)");
  deactivate->add_option("id", opts->id, "Master key id")->required();
  auto* del = keys->add_subcommand("delete",
                                   "Refused, always: keys are never deleted (the "
                                   "attempt is audited)");
  del->add_option("id", opts->id, "Master key id")->required();
  auto* exp = keys->add_subcommand("export", "Write every key to a passphrase-protected file");
  exp->add_option("-o,--output", opts->file, "File to create (never replaced)")->required();
  auto* imp = keys->add_subcommand("import",
                                   "Restore keys from an export file, skipping keys "
                                   "already present");
  imp->add_option("file", opts->file, "Export file")->required();

  for (auto* sub : {list, rotate, deactivate, del, exp, imp})
    add_common_options(*sub, opts->common);

  return [opts, list, rotate, deactivate, del, exp, imp] {
    set_log_level(opts->common.log_level);
    if (list->parsed())
      return run_list(*opts);
    if (rotate->parsed())
      return run_rotate(*opts);
    if (deactivate->parsed())
      return run_deactivate(*opts);
    if (del->parsed())
      return run_delete(*opts);
    if (exp->parsed())
      return run_export(*opts);
    if (imp->parsed())
      return run_import(*opts);
    return exit_setup;
  };
}

}  // namespace ccrec::app
