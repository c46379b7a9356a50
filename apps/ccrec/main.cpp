// ccrec: the call-recording engine's command-line program. A thin main: all
// the work is in the engine library (actors/) and the layers below it.
#include <sys/stat.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "apps/ccrec/commands.hpp"

namespace {

// docs/keys.md: 0 done, 1 refused or failed, 2 unusable options.
constexpr int exit_unusable_options = 2;

}  // namespace

int main(int argc, char** argv) {
  // Nothing ccrec creates (database, recordings, WAVs) is for other users.
  ::umask(077);
  CLI::App app{"ccrec: contact-centre call recording, encrypted at rest (CCENX, AES-256-GCM)"};
  app.require_subcommand(1);

  std::map<CLI::App*, ccrec::app::command_fn> commands;
  auto add = [&](ccrec::app::command_fn (*adder)(CLI::App&)) {
    auto before = app.get_subcommands({});
    auto fn = adder(app);
    for (auto* sub : app.get_subcommands({})) {
      if (std::find(before.begin(), before.end(), sub) == before.end())
        commands[sub] = fn;
    }
  };
  add(ccrec::app::add_serve);
  add(ccrec::app::add_verify);
  add(ccrec::app::add_play);
  add(ccrec::app::add_recordings);
  add(ccrec::app::add_keys);
  add(ccrec::app::add_transcode);
  add(ccrec::app::add_report);
  add(ccrec::app::add_encrypt_existing);
  add(ccrec::app::add_status);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message (or the help); its own exit codes (104,
    // 106, ...) are replaced by the documented one for unusable options.
    auto rc = app.exit(e);
    return rc == 0 ? 0 : exit_unusable_options;
  }
  for (auto* sub : app.get_subcommands())
    return commands.at(sub)();
  return exit_unusable_options;
}
