#include "apps/ccrec/options.hpp"

#include <unistd.h>
#include <limits>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "crypto/secret.hpp"

namespace ccrec::app {

namespace {

constexpr std::size_t max_secret_bytes = 4096;
constexpr const char* secret_env = "CCREC_KEK_SECRET";

}  // namespace

void add_common_options(CLI::App& cmd, common_options& opts) {
  cmd.add_option("--config", opts.config_file,
                 "TOML configuration file (see docs/configuration.md)");
  cmd.add_option("--data-dir", opts.data_dir,
                 "Directory for recordings and the embedded database (default: ccrec-data)");
  cmd.add_option("--db", opts.db,
                 "Database: sqlite:PATH or postgresql://... (default: sqlite:<data-dir>/ccrec.db)");
  cmd.add_option("--kek-secret-fd", opts.kek_secret_fd,
                 "Read the key-encrypting secret from this file descriptor instead of the "
                 "CCREC_KEK_SECRET environment variable")
      ->check(CLI::Range(0, std::numeric_limits<int>::max()));
  // Any case is taken and turned into spdlog's name; anything else is a
  // usage error, since spdlog would read it as "off" and log nothing.
  cmd.add_option("--log-level", opts.log_level,
                 "trace, debug, info, warn, error, critical or off (default: info)")
      ->transform(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"},
                                CLI::ignore_case));
}

CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& about,
                      common_options& opts) {
  auto* cmd = parent.add_subcommand(name, about);
  add_common_options(*cmd, opts);
  return cmd;
}

result<engine_config> build_config(const common_options& opts) {
  engine_config cfg;
  if (!opts.config_file.empty()) {
    auto loaded = load_config_file(opts.config_file, cfg);
    if (!loaded)
      return loaded.error();
    cfg = std::move(*loaded);
  }
  if (!opts.data_dir.empty())
    cfg.data_dir = opts.data_dir;
  if (!opts.db.empty())
    cfg.db = opts.db;
  if (auto ok = check_database_uri(cfg.database_uri()); !ok)
    return ok.error();
  return cfg;
}

result<std::shared_ptr<crypto::secret_bytes>> read_kek_secret(int fd) {
  if (fd >= 0) {
    auto buf = std::make_shared<crypto::secret_bytes>(max_secret_bytes);
    std::size_t got = 0;
    while (got < buf->size()) {
      auto n = ::read(fd, buf->data() + got, buf->size() - got);
      if (n < 0)
        return make_error("kek_secret_fd", "cannot read the secret from file descriptor " +
                                               std::to_string(fd) + ": " + std::strerror(errno));
      if (n == 0)
        break;
      got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    while (got > 0 && (buf->data()[got - 1] == '\n' || buf->data()[got - 1] == '\r'))
      --got;
    auto secret =
        std::make_shared<crypto::secret_bytes>(crypto::secret_bytes::copy_of(buf->data(), got));
    return secret;
  }

  const char* env = std::getenv(secret_env);
  if (env == nullptr || *env == '\0')
    return std::shared_ptr<crypto::secret_bytes>{};
  auto secret = std::make_shared<crypto::secret_bytes>(
      crypto::secret_bytes::copy_of(reinterpret_cast<const std::uint8_t*>(env), std::strlen(env)));
  // Child processes must not inherit it.
  ::unsetenv(secret_env);
  return secret;
}

result<kek_inputs> prepare_kek(const engine_config& cfg, int kek_secret_fd, std::string actor) {
  if (auto ok = crypto::initialise(); !ok)
    return ok.error();
  auto secret = read_kek_secret(kek_secret_fd);
  if (!secret)
    return secret.error();
  kek_inputs out;
  out.secret = std::move(*secret);
  out.options.kdf_profile = cfg.kdf_profile;
  out.options.create_first_key = false;
  out.options.actor = std::move(actor);
  return out;
}

result<offline_context> open_offline(const common_options& opts, bool need_keys, bool may_create) {
  offline_context ctx;
  auto cfg = build_config(opts);
  if (!cfg)
    return cfg.error();
  ctx.cfg = std::move(*cfg);
  if (ctx.cfg.db.empty() && !std::filesystem::is_directory(ctx.cfg.data_dir))
    return make_error("no_data_dir", "no ccrec data directory at '" + ctx.cfg.data_dir +
                                         "' (pass --data-dir, or --db for another database)");

  auto db = may_create ? storage::database::open(ctx.cfg.database_uri())
                       : storage::database::open_existing(ctx.cfg.database_uri());
  if (!db)
    return db.error();
  ctx.db = std::move(*db);
  if (auto ok = ctx.db->migrate(); !ok)
    return ok.error();
  if (!need_keys || !ctx.cfg.encryption)
    return ctx;

  auto kek = prepare_kek(ctx.cfg, opts.kek_secret_fd, "cli");
  if (!kek)
    return kek.error();
  auto ring = open_keyring(*ctx.db, kek->secret.get(), kek->options);
  if (!ring)
    return ring.error();
  ctx.ring = std::move(*ring);
  return ctx;
}

void set_log_level(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
}

}  // namespace ccrec::app
