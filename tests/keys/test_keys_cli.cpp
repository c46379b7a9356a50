// `ccrec keys ...` and `ccrec play` as an operator runs them: the real
// program, its exit codes and what it prints, on SQLite and PostgreSQL.
// The export passphrase comes from CCREC_EXPORT_PASSPHRASE (stdin is not a
// terminal) and, in one test, from a real terminal (a pseudo-terminal).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/keys/keys_support.hpp"
#include "tests/support/program.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

using run_result = program_run;

// Runs ccrec with exactly `env` as its environment, stdin from /dev/null.
// `keep_fd` stays open in the child (for --kek-secret-fd).
run_result run_ccrec(const temp_dir& dir, const std::vector<std::string>& args,
                     const std::vector<std::string>& env, int keep_fd = -1) {
  return run_program(program_args{CCREC_BIN, args, env, keep_fd}, dir.file("stdout.txt"),
                     dir.file("stderr.txt"));
}

std::string config_file(const temp_dir& dir, const std::string& name, const std::string& db_uri,
                        bool encryption) {
  const auto path = dir.file(name);
  std::ofstream out{path};
  out << "[engine]\n"
      << "data_dir = \"" << dir.path() << "\"\n"
      << "db = \"" << db_uri << "\"\n"
      << "kdf_profile = \"test\"\n"
      << "encryption = " << (encryption ? "true" : "false") << "\n";
  return path;
}

// `ccrec keys` works on an installation's existing database (a missing
// SQLite file is refused, never created): make it, as a first start would.
void create_database(const fresh_target& target) {
  auto db = storage::database::open(target.connection());
  REQUIRE(db.ok());
  REQUIRE((*db)->migrate().ok());
}

const std::string secret_env = std::string{"CCREC_KEK_SECRET="} + test_kek_secret;
const std::string passphrase_env = std::string{"CCREC_EXPORT_PASSPHRASE="} + test_passphrase;

std::vector<std::string> keys_cmd(const std::string& config, std::vector<std::string> rest) {
  std::vector<std::string> args{"keys"};
  args.insert(args.end(), rest.begin(), rest.end());
  args.push_back("--config");
  args.push_back(config);
  return args;
}

}  // namespace

TEST_CASE("ccrec keys: rotate, list, deactivate, delete, export, import", "[keys][cli]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(backend) {
    temp_dir dir;
    fresh_target target{backend};
    create_database(target);
    const auto cfg = config_file(dir, "ccrec.toml", target.connection(), true);

    auto first = run_ccrec(dir, keys_cmd(cfg, {"rotate"}), {secret_env});
    INFO(first.err);
    REQUIRE(first.code == 0);
    CHECK_THAT(first.out, Catch::StartsWith("master key 1 (fingerprint "));
    CHECK_THAT(first.out, Catch::Contains(") is now the active key; retired: none\n"));
    auto second = run_ccrec(dir, keys_cmd(cfg, {"rotate"}), {secret_env});
    REQUIRE(second.code == 0);
    CHECK_THAT(second.out, Catch::Contains(") is now the active key; retired: 1\n"));
    CHECK_THAT(second.out, Catch::Contains("after its next key reload (every 5000 ms)"));

    // Without the secret: refused, saying how to give it.
    auto no_secret = run_ccrec(dir, keys_cmd(cfg, {"rotate"}), {});
    CHECK(no_secret.code == 2);
    CHECK(no_secret.err ==
          "ccrec keys rotate: no key-encrypting secret: set CCREC_KEK_SECRET or pass "
          "--kek-secret-fd N [kek_secret_missing]\n");
    // From a file descriptor instead of the environment.
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    REQUIRE(::write(fds[1], test_kek_secret, sizeof test_kek_secret - 1) > 0);
    ::close(fds[1]);
    auto by_fd = run_ccrec(
        dir, keys_cmd(cfg, {"rotate", "--kek-secret-fd", std::to_string(fds[0])}), {}, fds[0]);
    ::close(fds[0]);
    INFO(by_fd.err);
    CHECK(by_fd.code == 0);
    CHECK_THAT(by_fd.out, Catch::StartsWith("master key 3 "));

    {
      auto db = open_migrated(target.connection());
      auto r = sample_recording("rec-1", key_admin_now_ms(), "complete");
      r.key_id = 1;
      r.retention_days = 0;
      REQUIRE(db->upsert_recording(r).ok());
    }
    auto refused = run_ccrec(dir, keys_cmd(cfg, {"deactivate", "1"}), {});
    CHECK(refused.code == 1);
    CHECK(refused.err ==
          "ccrec keys deactivate: master key 1 is still used by 1 kept recording; it can be "
          "deactivated once none is kept [key_in_use]\n");
    auto ok = run_ccrec(dir, keys_cmd(cfg, {"deactivate", "2"}), {});
    CHECK(ok.code == 0);
    CHECK(ok.out == "master key 2 is inactive\n");
    auto del = run_ccrec(dir, keys_cmd(cfg, {"delete", "1"}), {});
    CHECK(del.code == 1);
    CHECK_THAT(del.err, Catch::EndsWith("[key_delete_refused]\n"));

    auto list = run_ccrec(dir, keys_cmd(cfg, {"list"}), {});
    REQUIRE(list.code == 0);
    CHECK_THAT(list.out,
               Catch::StartsWith("ID    CREATED               STATUS    FINGERPRINT       "
                                 "FILES   KEPT\n"));
    CHECK_THAT(list.out, Catch::EndsWith("3 master keys\n"));
    auto json = run_ccrec(dir, keys_cmd(cfg, {"list", "--json"}), {});
    REQUIRE(json.code == 0);
    auto keys = nlohmann::json::parse(json.out);
    REQUIRE(keys.size() == 3);
    CHECK(keys[0]["id"] == 1);
    CHECK(keys[0]["status"] == "retired");
    CHECK(keys[0]["files"] == 1);
    CHECK(keys[0]["kept"] == 1);
    CHECK(keys[1]["status"] == "inactive");
    CHECK(keys[2]["status"] == "active");
    CHECK(keys[2]["files"] == 0);
    // One table row per key, in the columns of the heading.
    std::vector<std::string> lines;
    std::istringstream table{list.out};
    for (std::string line; std::getline(table, line);)
      lines.push_back(line);
    REQUIRE(lines.size() == 5);
    auto pad = [](const std::string& s, std::size_t width) {
      return s + std::string(width - s.size(), ' ');
    };
    for (std::size_t i = 0; i < 3; ++i) {
      const auto& k = keys[i];
      const auto& line = lines[i + 1];
      INFO(line);
      REQUIRE(line.size() > 64);
      CHECK(line.substr(0, 6) == pad(std::to_string(k["id"].get<int>()), 6));
      CHECK(line.substr(28, 10) == pad(k["status"].get<std::string>(), 10));
      CHECK(line.substr(38, 18) == pad(k["fingerprint"].get<std::string>(), 18));
      CHECK(line.substr(56) ==
            pad(std::to_string(k["files"].get<int>()), 8) + std::to_string(k["kept"].get<int>()));
    }

    const auto backup = dir.file("keys.cckeyx");
    auto no_pass = run_ccrec(dir, keys_cmd(cfg, {"export", "-o", backup}), {secret_env});
    CHECK(no_pass.code == 2);
    CHECK_THAT(no_pass.err, Catch::EndsWith("[passphrase_missing]\n"));
    auto exported =
        run_ccrec(dir, keys_cmd(cfg, {"export", "-o", backup}), {secret_env, passphrase_env});
    INFO(exported.err);
    REQUIRE(exported.code == 0);
    CHECK_THAT(exported.out, Catch::StartsWith("exported 3 master keys to " + backup));
    auto again =
        run_ccrec(dir, keys_cmd(cfg, {"export", "-o", backup}), {secret_env, passphrase_env});
    CHECK(again.code == 1);
    CHECK_THAT(again.err, Catch::EndsWith("[export_exists]\n"));

    fresh_target other{backend};
    const auto cfg2 = config_file(dir, "other.toml", other.connection(), true);
    auto wrong =
        run_ccrec(dir, keys_cmd(cfg2, {"import", backup}),
                  {secret_env, std::string{"CCREC_EXPORT_PASSPHRASE="} + wrong_passphrase_text});
    CHECK(wrong.code == 1);
    CHECK(wrong.err == "ccrec keys import: " + backup +
                           ": the passphrase does not open this key export [wrong_passphrase]\n");
    auto imported =
        run_ccrec(dir, keys_cmd(cfg2, {"import", backup}), {secret_env, passphrase_env});
    INFO(imported.err);
    CHECK(imported.code == 0);
    CHECK(imported.out == "imported 3 master keys, 0 already present\n");
    auto twice = run_ccrec(dir, keys_cmd(cfg2, {"import", backup}), {passphrase_env});
    CHECK(twice.code == 0);
    CHECK(twice.out == "imported 0 master keys, 3 already present\n");
    auto db = open_migrated(other.connection());
    CHECK(test_keyring(*db).active_id == 3);
    CHECK(audit_events(*db).size() == 2);

    // A new installation: the import creates its (private) data directory.
    const auto restored = dir.file("restored");
    const auto bare = dir.file("bare.toml");
    std::ofstream{bare} << "[engine]\nkdf_profile = \"test\"\n";
    auto created =
        run_ccrec(dir, {"keys", "import", backup, "--config", bare, "--data-dir", restored},
                  {secret_env, passphrase_env});
    INFO(created.err);
    CHECK(created.code == 0);
    CHECK(created.out ==
          "created data directory " + restored + "\nimported 3 master keys, 0 already present\n");
    CHECK((std::filesystem::status(restored).permissions() & std::filesystem::perms::all) ==
          std::filesystem::perms::owner_all);
    auto listed = run_ccrec(dir, {"keys", "list", "--data-dir", restored}, {});
    CHECK(listed.code == 0);
    CHECK_THAT(listed.out, Catch::EndsWith("3 master keys\n"));
  }
}

TEST_CASE("ccrec keys export asks for the passphrase twice on a terminal, without echo",
          "[keys][cli]") {
  temp_dir dir;
  fresh_target target{"sqlite"};
  create_database(target);
  const auto cfg = config_file(dir, "ccrec.toml", target.connection(), true);
  REQUIRE(run_ccrec(dir, keys_cmd(cfg, {"rotate"}), {secret_env}).code == 0);

  auto export_on_tty = [&](const std::string& path, const std::string& first,
                           const std::string& second, std::string& screen) {
    int master = -1;
    // Built before fork: the child only execs (this process runs threads).
    auto args = keys_cmd(cfg, {"export", "-o", path});
    std::vector<char*> argv{const_cast<char*>(CCREC_BIN)};
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp{const_cast<char*>(secret_env.c_str()), nullptr};
    pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::execve(CCREC_BIN, argv.data(), envp.data());
      ::_exit(127);
    }
    // Answer each prompt as it appears; collect everything the terminal shows.
    std::vector<std::string> answers{first + "\n", second + "\n"};
    std::size_t answered = 0;
    for (;;) {
      pollfd p{master, POLLIN, 0};
      if (::poll(&p, 1, 20000) <= 0)
        break;
      char buf[512];
      auto n = ::read(master, buf, sizeof buf);
      if (n <= 0)
        break;
      screen.append(buf, static_cast<std::size_t>(n));
      const char* prompts[] = {"Export passphrase: ", "Repeat the export passphrase: "};
      if (answered < 2 && screen.find(prompts[answered]) != std::string::npos) {
        REQUIRE(::write(master, answers[answered].data(), answers[answered].size()) > 0);
        ++answered;
      }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(master);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };

  std::string screen;
  const auto path = dir.file("tty.cckeyx");
  CHECK(export_on_tty(path, test_passphrase, test_passphrase, screen) == 0);
  CHECK_THAT(screen, Catch::Contains("Export passphrase: "));
  CHECK_THAT(screen, Catch::Contains("Repeat the export passphrase: "));
  CHECK_THAT(screen, Catch::Contains("exported 1 master keys to " + path));
  CHECK(screen.find(test_passphrase) == std::string::npos);  // never echoed
  auto file = crypto::read_key_export_file(path);
  REQUIRE(file.ok());
  CHECK(crypto::open_key_export(*file, secret_of(test_passphrase)).ok());

  screen.clear();
  const auto mismatch = dir.file("mismatch.cckeyx");
  CHECK(export_on_tty(mismatch, test_passphrase, wrong_passphrase_text, screen) == 2);
  CHECK_THAT(screen, Catch::Contains("the two passphrases differ; nothing was done "
                                     "[passphrase_mismatch]"));
  CHECK_FALSE(std::filesystem::exists(mismatch));
}

TEST_CASE(
    "ccrec play with encryption disabled: plain files play without a secret, "
    "encrypted ones are refused until it is enabled again",
    "[keys][cli]") {
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(backend) {
    temp_dir dir;
    fresh_target target{backend};
    actor_env env;
    auto cfg = keys_config(dir, target.connection());
    storage::recording_row encrypted;
    storage::recording_row plain;
    {
      auto eng = start_engine(env.sys(), cfg);
      encrypted = record_call(env.sys(), *eng, cfg, "cli-enc", 1);
      eng->stop();
    }
    {
      auto off = cfg;
      off.encryption = false;
      off.kek_secret = nullptr;
      auto eng = start_engine(env.sys(), off);
      plain = record_call(env.sys(), *eng, off, "cli-plain", 10);
      eng->stop();
    }
    const auto off_cfg = config_file(dir, "off.toml", target.connection(), false);
    const auto on_cfg = config_file(dir, "on.toml", target.connection(), true);

    auto played =
        run_ccrec(dir, {"play", plain.id, "-o", dir.file("p.wav"), "--config", off_cfg}, {});
    INFO(played.err);
    CHECK(played.code == 0);
    CHECK_THAT(played.out, Catch::StartsWith("wrote " + dir.file("p.wav") + ": "));

    auto refused =
        run_ccrec(dir, {"play", encrypted.id, "-o", dir.file("e.wav"), "--config", off_cfg}, {});
    CHECK(refused.code == 1);
    CHECK(refused.err == "ccrec play: " + cfg.recordings_dir() + "/" + encrypted.path +
                             " was recorded while encryption was enabled; encryption is now "
                             "disabled, so it cannot be played. Enable encryption again (with "
                             "the same database and secret) to play it.\n");

    auto enabled = run_ccrec(
        dir, {"play", encrypted.id, "-o", dir.file("e.wav"), "--config", on_cfg}, {secret_env});
    INFO(enabled.err);
    CHECK(enabled.code == 0);
    auto db = open_migrated(target.connection());
    auto ring = test_keyring(*db);
    require_plays(cfg.recordings_dir() + "/" + encrypted.path, ring, dir.file("check.wav"));
    CHECK(read_bytes(dir.file("e.wav")) == read_bytes(dir.file("check.wav")));
  }
}

TEST_CASE("ccrec keys with the database down says that it is down", "[keys][cli]") {
  temp_dir dir;
  // Port 1 on loopback: nothing listens there, so the connection is refused.
  const auto cfg = config_file(dir, "down.toml",
                               "postgresql://postgres@127.0.0.1:1/ccrec?connect_timeout=2", true);

  auto rotated = run_ccrec(dir, keys_cmd(cfg, {"rotate"}), {secret_env});
  CHECK(rotated.code == 2);
  CHECK_THAT(rotated.err,
             Catch::StartsWith("ccrec keys rotate: cannot run `ccrec keys rotate` while the "
                               "database is down ("));
  CHECK_THAT(rotated.err, Catch::EndsWith("try again once `ccrec status` shows the database up "
                                          "[db_down]\n"));
  CHECK(rotated.out.empty());
}
