// ccrec_bench: what encryption costs, measured in one run (not a test).
//
// Part 1, the engine: the same load twice against an engine started in this
// process (engine::start), once with encryption on and once with it off. The
// load is `ccrec-pbxsim load` in a child process, so this process's CPU time
// is the engine's alone; the child reads it from /proc/<our pid>, and the
// engine's database tells how many packets were recorded. Printed per run:
// calls, packets lost, answer latency, engine CPU per recorded call-second
// and calls per core; then the ratio.
//
// Part 2, the format: CCENX's streaming encryption (ccenx_writer into a sink
// that discards) and decryption (read_ccenx of a file in /dev/shm or the
// temp dir) against libsodium's AES-256-GCM alone, one call per chunk, on
// the same buffers, for 64 KiB and 16 KiB chunks; the best of a few passes.
//
//   ccrec_bench [--calls N] [--duration S] [--hold S] [--crypto-mib M]
//               [--skip-engine] [--skip-crypto] [--pbxsim PATH] [--keep DIR]
#include <fcntl.h>
#include <sodium.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/engine.hpp"
#include "crypto/ccenx.hpp"
#include "crypto/secret.hpp"

extern char** environ;

namespace {

using ccrec::crypto::secret_bytes;
namespace fs = std::filesystem;

constexpr std::size_t mib = 1024 * 1024;
constexpr std::size_t kib = 1024;
constexpr int crypto_passes = 3;
constexpr std::uint16_t bench_port_low = 45000;  // away from a default engine's 40000-44999
constexpr std::uint16_t bench_port_high = 49999;
constexpr char bench_secret[] = "ccrec-bench-kek-secret-not-for-production";
constexpr double percent = 100.0;

struct bench_args {
  std::size_t calls = 1000;
  double duration_s = 60;
  double hold_s = 0;
  double ramp_s = 10;
  std::size_t crypto_mib = 256;
  bool skip_engine = false;
  bool skip_crypto = false;
  std::string pbxsim = CCREC_PBXSIM_PATH;
  std::string keep;
  std::string encryption = "both";  // "on", "off" or "both"
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ---------------------------------------------------------------------------
// Part 1: the engine under load, encryption on and off
// ---------------------------------------------------------------------------

struct engine_run {
  bool ok = false;
  std::string why;
  nlohmann::json result;
};

// Runs argv[0] with its output (progress, summary) in `log`.
int spawn_and_wait(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_adddup2(&files, STDOUT_FILENO, STDERR_FILENO);
  pid_t child = 0;
  const int spawned = posix_spawn(&child, args[0], &files, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  if (spawned != 0)
    return -1;
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

engine_run run_engine_load(const bench_args& a, bool encryption, const std::string& dir) {
  engine_run out;
  ccrec::engine_config cfg;
  cfg.data_dir = dir;
  cfg.kdf_profile = "test";  // a bench database, thrown away after
  cfg.kek_secret = std::make_shared<secret_bytes>(secret_bytes::copy_of(
      reinterpret_cast<const std::uint8_t*>(bench_secret), sizeof bench_secret - 1));
  cfg.cti_endpoint = "tcp://127.0.0.1:*";
  cfg.media_port_low = bench_port_low;
  cfg.media_port_high = bench_port_high;
  cfg.encryption = encryption;

  caf::actor_system_config sys_cfg;
  ccrec::add_engine_types(sys_cfg);
  caf::actor_system sys{sys_cfg};
  auto eng = ccrec::engine::start(sys, cfg);
  if (!eng) {
    out.why = "engine did not start: " + eng.error().message;
    return out;
  }

  const std::string result_file = dir + "/load-result.json";
  std::vector<std::string> argv = {a.pbxsim,       "load",
                                   "--cti",        (*eng)->cti_endpoint(),
                                   "--calls",      std::to_string(a.calls),
                                   "--duration",   std::to_string(a.duration_s),
                                   "--ramp",       std::to_string(a.ramp_s),
                                   "--engine-pid", std::to_string(::getpid()),
                                   "--data-dir",   dir,
                                   "--result",     result_file};
  if (a.hold_s > 0) {
    argv.push_back("--hold");
    argv.push_back(std::to_string(a.hold_s));
  }
  const int rc = spawn_and_wait(argv, dir + "/load.log");
  (*eng)->stop();
  eng->reset();

  std::ifstream in{result_file};
  out.result = nlohmann::json::parse(in, nullptr, false);
  if (out.result.is_discarded()) {
    out.why =
        "the load generator (" + a.pbxsim + ") wrote no result (exit " + std::to_string(rc) + ")";
    return out;
  }
  out.ok = true;
  if (rc != 0)
    out.why = "the load generator reported problems (exit " + std::to_string(rc) + ")";
  return out;
}

double json_number(const nlohmann::json& j, const char* a, const char* b = nullptr) {
  const auto* node = &j;
  for (const char* key : {a, b}) {
    if (key == nullptr)
      break;
    if (!node->contains(key) || (*node)[key].is_null())
      return 0.0;
    node = &(*node)[key];
  }
  return node->is_number() ? node->get<double>() : 0.0;
}

void print_engine_run(const char* name, const engine_run& r) {
  if (!r.ok) {
    std::printf("  %-15s FAILED: %s\n", name, r.why.c_str());
    return;
  }
  const auto& j = r.result;
  const double per_call = json_number(j, "engine", "cpu_ms_per_call_second");
  std::printf(
      "  %-15s %6.0f calls up, %10.0f packets sent, %6.0f lost; answer p99 %6.2f ms; engine "
      "CPU %5.1f%% of a core; %.3f ms CPU per call-second = %.0f calls per core%s%s\n",
      name, json_number(j, "calls_up_max"), json_number(j, "packets_sent"),
      json_number(j, "packets_lost"), json_number(j, "latency_ms", "p99"),
      json_number(j, "engine", "cpu_avg_pct"), per_call, per_call > 0 ? 1000.0 / per_call : 0.0,
      r.why.empty() ? "" : "; ", r.why.c_str());
}

void bench_engine(const bench_args& a, const std::string& root) {
  std::printf("Engine: %zu concurrent calls for %.0f s (ramp %.0f s), encryption on, then off\n",
              a.calls, a.duration_s, a.ramp_s);
  std::fflush(stdout);
  engine_run on;
  engine_run off;
  if (a.encryption != "off") {
    on = run_engine_load(a, true, root + "/encrypted");
    print_engine_run("encryption on", on);
    std::fflush(stdout);
  }
  if (a.encryption != "on") {
    off = run_engine_load(a, false, root + "/plain");
    print_engine_run("encryption off", off);
  }
  if (!on.ok || !off.ok)
    return;

  const double cpu_on = json_number(on.result, "engine", "cpu_ms_per_call_second");
  const double cpu_off = json_number(off.result, "engine", "cpu_ms_per_call_second");
  if (cpu_on <= 0 || cpu_off <= 0)
    return;
  std::printf(
      "  => encryption costs %+.1f%% CPU per recorded call; throughput with encryption = %.1f%% "
      "of without (target >= 95%%)\n\n",
      (cpu_on - cpu_off) / cpu_off * percent, cpu_off / cpu_on * percent);
}

// ---------------------------------------------------------------------------
// Part 2: CCENX against AES-256-GCM alone
// ---------------------------------------------------------------------------

class null_sink final : public ccrec::crypto::byte_sink {
 public:
  ccrec::result<void> write(const std::uint8_t*, std::size_t size) override {
    bytes_ += size;
    return {};
  }
  ccrec::result<void> sync() override { return {}; }

 private:
  std::uint64_t bytes_ = 0;
};

template <class F>
double best_mb_per_s(std::size_t bytes, F&& run) {
  double best = 0;
  for (int pass = 0; pass < crypto_passes; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    best = std::max(best, static_cast<double>(bytes) / mib / seconds_since(t0));
  }
  return best;
}

std::string temp_file_dir() {
  std::error_code ec;
  if (fs::is_directory("/dev/shm", ec))
    return "/dev/shm";
  return fs::temp_directory_path().string();
}

void bench_chunk(std::size_t chunk, std::size_t total, const secret_bytes& master) {
  const std::size_t chunks = total / chunk;
  std::vector<std::uint8_t> plain(chunk);
  randombytes_buf(plain.data(), plain.size());
  std::vector<std::uint8_t> sealed(chunk + crypto_aead_aes256gcm_ABYTES);
  std::vector<std::uint8_t> opened(chunk);
  std::uint8_t key[crypto_aead_aes256gcm_KEYBYTES];
  std::uint8_t nonce[crypto_aead_aes256gcm_NPUBBYTES] = {};
  crypto_aead_aes256gcm_keygen(key);
  crypto_aead_aes256gcm_state state;
  crypto_aead_aes256gcm_beforenm(&state, key);

  // Raw AES-GCM, one message per chunk, a fresh nonce each (as a counter).
  const double raw_enc = best_mb_per_s(chunks * chunk, [&] {
    for (std::size_t i = 0; i < chunks; ++i) {
      std::memcpy(nonce, &i, sizeof i);
      unsigned long long n = 0;
      crypto_aead_aes256gcm_encrypt(sealed.data(), &n, plain.data(), chunk, nullptr, 0, nullptr,
                                    nonce, key);
    }
  });
  const double raw_enc_nm = best_mb_per_s(chunks * chunk, [&] {
    for (std::size_t i = 0; i < chunks; ++i) {
      std::memcpy(nonce, &i, sizeof i);
      unsigned long long n = 0;
      crypto_aead_aes256gcm_encrypt_afternm(sealed.data(), &n, plain.data(), chunk, nullptr, 0,
                                            nullptr, nonce, &state);
    }
  });
  std::memset(nonce, 0, sizeof nonce);
  unsigned long long sealed_len = 0;
  crypto_aead_aes256gcm_encrypt(sealed.data(), &sealed_len, plain.data(), chunk, nullptr, 0,
                                nullptr, nonce, key);
  const double raw_dec = best_mb_per_s(chunks * chunk, [&] {
    for (std::size_t i = 0; i < chunks; ++i) {
      unsigned long long n = 0;
      if (crypto_aead_aes256gcm_decrypt(opened.data(), &n, nullptr, sealed.data(), sealed_len,
                                        nullptr, 0, nonce, key) != 0)
        std::abort();  // our own ciphertext: cannot fail
    }
  });

  // CCENX streaming: the writer's whole path (framing, nonce, associated
  // data, sealing) into a sink that only counts.
  const double fmt_enc = best_mb_per_s(chunks * chunk, [&] {
    auto w = ccrec::crypto::ccenx_writer::create(std::make_unique<null_sink>(), 1, master,
                                                 ccrec::crypto::ccenx_content::raw_call_audio,
                                                 static_cast<std::uint32_t>(chunk));
    if (!w)
      std::abort();
    for (std::size_t i = 0; i < chunks; ++i)
      (void)(*w)->append(plain.data(), chunk);
    (void)(*w)->finish();
  });

  // Decryption reads a real file (the reader's only entry point), kept in
  // memory-backed storage so the disk does not decide the figure.
  const std::string path = temp_file_dir() + "/ccrec-bench-" + std::to_string(::getpid()) + "-" +
                           std::to_string(chunk) + ".ccenx";
  {
    auto sink = ccrec::crypto::open_file_sink(path);
    auto w = ccrec::crypto::ccenx_writer::create(std::move(*sink), 1, master,
                                                 ccrec::crypto::ccenx_content::raw_call_audio,
                                                 static_cast<std::uint32_t>(chunk));
    for (std::size_t i = 0; i < chunks; ++i)
      (void)(*w)->append(plain.data(), chunk);
    (void)(*w)->finish();
  }
  const ccrec::crypto::key_resolver keys = [&](std::uint64_t) { return &master; };
  const double fmt_dec = best_mb_per_s(chunks * chunk, [&] {
    auto report = ccrec::crypto::read_ccenx(path, keys, [](const std::uint8_t*, std::size_t) {});
    if (report.state != ccrec::crypto::ccenx_state::complete)
      std::abort();
  });
  std::error_code ec;
  fs::remove(path, ec);

  std::printf(
      "  %2zu KiB chunks  encrypt: CCENX %6.0f MB/s, crypto_aead_aes256gcm_encrypt %6.0f "
      "MB/s -> %5.1f%% (vs precomputed-key _afternm %6.0f MB/s -> %5.1f%%)\n",
      chunk / kib, fmt_enc, raw_enc, fmt_enc / raw_enc * percent, raw_enc_nm,
      fmt_enc / raw_enc_nm * percent);
  std::printf(
      "  %2zu KiB chunks  decrypt: CCENX %6.0f MB/s (from a file), "
      "crypto_aead_aes256gcm_decrypt %6.0f MB/s -> %5.1f%%\n",
      chunk / kib, fmt_dec, raw_dec, fmt_dec / raw_dec * percent);
}

void bench_crypto(const bench_args& a) {
  if (auto ok = ccrec::crypto::initialise(); !ok) {
    std::printf("Format: skipped: %s\n", ok.error().message.c_str());
    return;
  }
  std::printf(
      "Format: CCENX streaming vs AES-256-GCM alone, %zu MiB per pass, best of %d "
      "(target: encryption >= 90%%)\n",
      a.crypto_mib, crypto_passes);
  const auto master = secret_bytes::random(ccrec::crypto::key_bytes);
  for (std::size_t chunk : {64 * kib, 16 * kib})
    bench_chunk(chunk, a.crypto_mib * mib, master);
}

}  // namespace

int main(int argc, char** argv) {
  bench_args a;
  CLI::App app{"ccrec_bench: encryption on vs off under load, and CCENX vs raw AES-256-GCM"};
  app.add_option("--calls", a.calls, "concurrent calls for the engine runs")->capture_default_str();
  app.add_option("--duration", a.duration_s, "seconds per engine run")->capture_default_str();
  app.add_option("--hold", a.hold_s, "call hold time (default: the whole run)");
  app.add_option("--ramp", a.ramp_s, "ramp-up seconds")->capture_default_str();
  app.add_option("--crypto-mib", a.crypto_mib, "MiB per crypto pass")->capture_default_str();
  app.add_option("--encryption", a.encryption, "engine runs: on, off or both")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off", "both"}));
  app.add_flag("--skip-engine", a.skip_engine, "only the format benchmark");
  app.add_flag("--skip-crypto", a.skip_crypto, "only the engine benchmark");
  app.add_option("--pbxsim", a.pbxsim, "the ccrec-pbxsim program")->capture_default_str();
  app.add_option("--keep", a.keep, "run the engines in DIR and keep it (default: a temp dir)");
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::warn);  // the engine's per-call lines would drown the figures
  std::printf("ccrec_bench on %u CPUs\n\n", std::thread::hardware_concurrency());
  if (!a.skip_engine) {
    const std::string root =
        a.keep.empty()
            ? (fs::temp_directory_path() / ("ccrec-bench-" + std::to_string(::getpid()))).string()
            : a.keep;
    bench_engine(a, root);
    if (a.keep.empty()) {
      std::error_code ec;
      fs::remove_all(root, ec);
    }
  }
  if (!a.skip_crypto)
    bench_crypto(a);
  return 0;
}
