// Options every ccrec subcommand shares (data dir, database, config file,
// the key-encrypting secret), and turning them into an engine_config.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "actors/config.hpp"
#include "actors/keyring.hpp"
#include "common/result.hpp"
#include "storage/database.hpp"

namespace ccrec::app {

struct common_options {
  std::string config_file;
  std::string data_dir;
  std::string db;
  int kek_secret_fd = -1;
  std::string log_level = "info";
};

// Adds --config, --data-dir, --db, --kek-secret-fd, --log-level to `cmd`.
void add_common_options(CLI::App& cmd, common_options& opts);

// Adds the subcommand `name` to `parent` with the options every command
// shares (as add_common_options) bound to `opts`; returns it, for the
// command's own options.
CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& about,
                      common_options& opts);

// Defaults, then the config file, then the command line.
result<engine_config> build_config(const common_options& opts);

// The operator secret for the KEK: from --kek-secret-fd, else the
// environment variable CCREC_KEK_SECRET (removed from the environment once
// read). Never from argv. Returns nullptr when neither is given.
result<std::shared_ptr<crypto::secret_bytes>> read_kek_secret(int fd);

// What opening the key hierarchy needs in an offline command: libsodium
// initialised, the operator secret (from read_kek_secret, null when none was
// given) and keyring options for `cfg` that never create a key, naming
// `actor` in the audit table.
struct kek_inputs {
  std::shared_ptr<crypto::secret_bytes> secret;
  keyring_options options;
};
result<kek_inputs> prepare_kek(const engine_config& cfg, int kek_secret_fd, std::string actor);

// Opens the database and the keyring for offline commands (no key is created).
// The SQLite file must exist ("db_missing" otherwise): a command that made an
// empty one would hide a deleted database and give the next engine start a
// new key hierarchy. Only `may_create` (keys import, restoring into a new
// installation) creates it.
struct offline_context {
  engine_config cfg;
  std::unique_ptr<storage::database> db;
  keyring ring;
};
result<offline_context> open_offline(const common_options& opts, bool need_keys,
                                     bool may_create = false);

void set_log_level(const std::string& level);

}  // namespace ccrec::app
