#include "actors/engine.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "actors/call_manager.hpp"
#include "actors/cti_listener.hpp"
#include "actors/data_dir_lock.hpp"
#include "actors/db_watchdog.hpp"
#include "actors/errors.hpp"
#include "actors/key_cache.hpp"
#include "actors/keyring.hpp"
#include "actors/media_receiver.hpp"
#include "actors/metadata_writer.hpp"
#include "actors/row_conversion.hpp"
#include "actors/startup_policy.hpp"
#include "actors/transcoder.hpp"
#include "crypto/ccenx.hpp"
#include "crypto/secret.hpp"
#include "storage/database.hpp"
#include "storage/journal.hpp"

namespace ccrec {

struct engine::impl {
  caf::actor_system& sys;
  engine_config cfg;
  data_dir_lock lock;  // held from start until stop
  std::string cti_endpoint;
  std::shared_ptr<cti_counters> cti_stats = std::make_shared<cti_counters>();
  caf::actor metadata_writer;
  caf::actor db_watchdog;
  caf::actor key_cache;
  caf::actor media_receiver;
  caf::actor call_manager;
  caf::actor cti_listener;
  caf::actor transcoder;
  // Set when stopping: the transcoder finishes the recording in hand only.
  std::shared_ptr<std::atomic<bool>> transcoder_stop = std::make_shared<std::atomic<bool>>(false);
  bool stopped = false;
  // The metadata journal and what it held at start, for the writer.
  std::shared_ptr<storage::journal> journal;
  std::vector<storage::journal_entry> journal_pending;

  explicit impl(caf::actor_system& s) : sys(s) {}
};

namespace {

// Media ports are opened per call; a media_host that is not an address of
// this machine would otherwise be found only when the first call is refused.
result<void> check_media_host(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return make_error("media_host",
                      std::string{"cannot create a UDP socket: "} + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;  // any free port: this only asks whether the address is ours
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int why = errno;
  ::close(fd);
  if (rc != 0)
    return make_error("media_host", "media_host " + host +
                                        " cannot be bound on this machine: " + std::strerror(why));
  return {};
}

result<void> make_private_dir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec)
    return make_error("data_dir", "cannot create " + path + ": " + ec.message());
  ::chmod(path.c_str(), 0700);
  return {};
}

// One attempt to open and migrate the database.
result<std::unique_ptr<storage::database>> open_database(const engine_config& cfg) {
  auto db = storage::database::open(cfg.database_uri());
  if (!db)
    return db.error();
  if (auto migrated = (*db)->migrate(); !migrated)
    return migrated.error();
  return std::move(*db);
}

// `--wait-for-db`: tries again with backoff (startup_policy's next_db_wait)
// until the database answers or the wait is over, logging progress.
result<std::unique_ptr<storage::database>> wait_for_database(const engine_config& cfg, error last) {
  using namespace std::chrono;
  const milliseconds limit{cfg.wait_for_db_ms};
  const auto began = steady_clock::now();
  for (int attempt = 1;; ++attempt) {
    auto elapsed = duration_cast<milliseconds>(steady_clock::now() - began);
    auto step = next_db_wait(attempt, elapsed, limit);
    if (!step.retry) {
      spdlog::error("gave up waiting for the database after {} s", limit.count() / 1000);
      return last.with_context("still unreachable after waiting " +
                               std::to_string(limit.count() / 1000) + " s");
    }
    spdlog::warn("waiting for the database ({} s of {} s left, next try in {} ms): {}",
                 (limit - elapsed).count() / 1000, limit.count() / 1000, step.delay.count(),
                 last.message);
    std::this_thread::sleep_for(step.delay);

    auto db = open_database(cfg);
    if (db) {
      spdlog::info("the database answered after {} s of waiting",
                   duration_cast<seconds>(steady_clock::now() - began).count());
      return db;
    }
    last = db.error();
  }
}

// Checks the start-up policy; on success returns the open, migrated database.
result<std::unique_ptr<storage::database>> gate_startup(const engine_config& cfg) {
  startup_facts facts;
  facts.encryption = cfg.encryption;
  facts.kek_secret_given = cfg.kek_secret && !cfg.kek_secret->empty();
  if (cfg.encryption) {
    auto aes = crypto::initialise();
    facts.aes_available = aes.ok();
    if (!aes)
      facts.aes_problem = aes.error().message;
  }

  auto db = open_database(cfg);
  if (!db && cfg.wait_for_db_ms > 0)
    db = wait_for_database(cfg, db.error());
  facts.db_reachable = db.ok();
  if (!db)
    facts.db_problem = db.error().message;

  auto decision = decide_startup(facts);
  if (!decision.start)
    return make_error("startup_refused", decision.refusal);
  for (const auto& w : decision.warnings)
    spdlog::warn("{}", w);
  if (!db)
    return std::unique_ptr<storage::database>{};
  return std::move(*db);
}

std::optional<std::int64_t> last_write_ms(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return std::nullopt;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

// A crash leaves recordings in "recording": say what the files hold now.
recording_info mark_interrupted(recording_info row, const keyring& ring, const engine_config& cfg) {
  auto path = cfg.recordings_dir() + "/" + row.path;
  auto report = crypto::read_ccenx(path, ring.resolver(), {});
  row.status = "interrupted";
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  row.bytes = ec ? 0 : static_cast<std::int64_t>(size);

  // The file's last write is the best end we know. Left at 0, the row would
  // read as "ended long ago" and skip the transcoder's waiting period.
  if (row.ended_ms == 0)
    row.ended_ms = last_write_ms(path).value_or(row.started_ms);
  spdlog::warn(
      "recording {} was left unfinished by a previous run: marked interrupted ({}: {} "
      "chunks authenticate)",
      row.id, crypto::to_string(report.state), report.chunks);
  return row;
}

struct journal_start {
  std::shared_ptr<storage::journal> journal;
  std::vector<storage::journal_entry> pending;
};

// Opens the metadata journal and marks every recording a crash left in
// "recording" as interrupted: those whose latest journaled row says so, and
// those the database says so about (when it is up) unless the journal holds
// a newer row. The marks go into the journal behind what is pending, so the
// writer applies everything in order (docs/journal.md).
result<journal_start> open_journal(const engine_config& cfg, storage::database* db,
                                   const keyring& ring) {
  storage::journal_recovery found;
  auto j = storage::journal::open(cfg.data_dir + "/journal", &found);
  if (!j)
    return j.error();
  if (!found.warning.empty())
    spdlog::warn("{}", found.warning);
  journal_start out{std::shared_ptr<storage::journal>{std::move(*j)}, std::move(found.pending)};

  std::unordered_map<std::string, recording_info> latest;
  std::vector<std::string> order;
  for (const auto& e : out.pending) {
    auto row = decode_metadata(e.payload);
    if (!row || !std::holds_alternative<recording_info>(*row))
      continue;
    auto& info = std::get<recording_info>(*row);
    if (latest.count(info.id) == 0)
      order.push_back(info.id);
    latest[info.id] = info;
  }

  std::vector<recording_info> unfinished;
  for (const auto& id : order) {
    if (latest[id].status == "recording")
      unfinished.push_back(latest[id]);
  }
  if (db != nullptr) {
    auto rows = db->unfinished_recordings();
    if (!rows)
      spdlog::warn("could not list unfinished recordings: {}", rows.error().message);
    for (const auto& r : rows ? *rows : std::vector<storage::recording_row>{}) {
      if (latest.count(r.id) == 0)
        unfinished.push_back(to_info(r));
    }
  }
  if (unfinished.empty())
    return out;

  std::vector<std::string> payloads;
  for (const auto& row : unfinished)
    payloads.push_back(encode_metadata(mark_interrupted(row, ring, cfg)));
  auto first = out.journal->append(payloads);
  if (!first)
    return first.error().with_context("while marking interrupted recordings");
  for (std::size_t i = 0; i < payloads.size(); ++i)
    out.pending.push_back(storage::journal_entry{*first + i, payloads[i]});
  return out;
}

// The first sealed recording under `dir`, or "" when there is none.
std::string first_sealed_file(const std::string& dir) {
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it{dir, ec}, end;
  for (; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".ccenx")
      return it->path().string();
  }
  return "";
}

bool journal_has_entries(const engine_config& cfg) {
  std::error_code ec;
  auto size =
      std::filesystem::file_size(cfg.data_dir + "/journal/" + storage::journal_file_name, ec);
  return !ec && size > storage::journal_header_bytes;
}

// A database without keys, KEK salt or recordings beside a data directory
// that holds sealed recordings or journaled rows is not a new installation:
// the database was deleted or replaced. A new key hierarchy would seal new
// files under a "master key 1" that is not the one the old files need, and
// nothing would say so; refuse instead.
result<void> refuse_new_keys_over_old_data(storage::database& db, const engine_config& cfg) {
  auto salt = db.setting("kek_salt");
  auto keys = db.keys();
  auto rows = db.recordings();
  if (!salt || !keys || !rows)
    return {};  // load_keys reports what is wrong with the database
  if (salt->has_value() || !keys->empty() || !rows->empty())
    return {};

  auto sealed = first_sealed_file(cfg.recordings_dir());
  const bool journaled = journal_has_entries(cfg);
  if (sealed.empty() && !journaled)
    return {};
  auto file = storage::sqlite_file_path(cfg.database_uri());
  return make_error(
      "db_missing_keys",
      "the database" + (file.empty() ? std::string{} : " " + file) +
          " holds no keys and no recordings, but the data directory " + cfg.data_dir +
          " already has " +
          (sealed.empty() ? std::string{"a metadata journal with entries"}
                          : "sealed recordings (" + sealed + ")") +
          ": the database they belong to is missing or was replaced, and new keys would not "
          "match them. Restore the database from a backup, or `ccrec keys import` the key "
          "export into it, before starting");
}

// The KEK stays in guarded memory for the key cache's reloads (a rotation
// made by another process must reach new files); Argon2id runs only here.
struct loaded_keys {
  std::shared_ptr<const keyring> ring = std::make_shared<const keyring>();
  std::shared_ptr<const crypto::secret_bytes> kek;  // null: encryption disabled
};

result<loaded_keys> load_keys(storage::database* db, const engine_config& cfg) {
  loaded_keys out;
  if (!cfg.encryption)
    return out;
  keyring_options opts;
  opts.kdf_profile = cfg.kdf_profile;
  auto kek = open_kek(*db, cfg.kek_secret.get(), opts);
  if (!kek)
    return kek.error();
  auto ring = load_keyring(*db, *kek, opts);
  if (!ring)
    return ring.error();
  spdlog::info("key cache: {} master key(s) loaded, active key {}", ring->keys.size(),
               ring->active_id);
  out.ring = std::make_shared<const keyring>(std::move(*ring));
  out.kek = std::make_shared<const crypto::secret_bytes>(std::move(*kek));
  return out;
}

void spawn_actors(engine::impl& e, loaded_keys keys, std::shared_ptr<cti_socket> sock) {
  const auto& cfg = e.cfg;
  metadata_writer_args mw;
  mw.db_uri = cfg.database_uri();
  mw.timeout = std::chrono::milliseconds{cfg.db_timeout_ms};
  mw.journal = e.journal;
  mw.pending = std::move(e.journal_pending);
  e.metadata_writer = e.sys.spawn<caf::detached>(metadata_writer, std::move(mw));
  db_watchdog_args wd;
  wd.db_uri = cfg.database_uri();
  wd.interval = std::chrono::milliseconds{cfg.db_probe_interval_ms};
  wd.timeout = std::chrono::milliseconds{cfg.db_timeout_ms};
  e.db_watchdog = e.sys.spawn<caf::detached>(db_watchdog, std::move(wd));
  caf::anon_send(e.db_watchdog, subscribe_atom::value, e.metadata_writer);
  key_cache_args kc;
  auto transcoder_ring = keys.ring;
  kc.ring = std::move(keys.ring);
  kc.db_uri = cfg.database_uri();
  kc.kek = std::move(keys.kek);
  kc.reload_interval_ms = cfg.key_reload_interval_ms;
  e.key_cache = e.sys.spawn(key_cache, std::move(kc));

  media_receiver_options media;
  media.host = cfg.media_host;
  media.port_low = cfg.media_port_low;
  media.port_high = cfg.media_port_high;
  media.late_grace_ms = cfg.late_grace_ms;
  e.media_receiver = e.sys.spawn(media_receiver, media);

  // The transcoder: notes each recording's policies, and (encryption on)
  // converts finished recordings. Detached: it blocks on files and the
  // database.
  transcoder_args tc;
  tc.db_uri = cfg.database_uri();
  tc.recordings_dir = cfg.recordings_dir();
  tc.encrypt = cfg.encryption && cfg.transcode;
  tc.key_cache = e.key_cache;
  tc.interval_ms = cfg.transcode_interval_ms;
  tc.delay_ms = cfg.transcode_delay_ms;
  tc.ring = std::move(transcoder_ring);
  tc.timeout = std::chrono::milliseconds{cfg.db_timeout_ms};
  tc.stop = e.transcoder_stop;
  e.transcoder = e.sys.spawn<caf::detached>(transcoder, std::move(tc));

  call_manager_args cm;
  cm.schedules = cfg.schedules;
  cm.seed = cfg.random_seed != 0 ? cfg.random_seed : std::random_device{}();
  cm.recordings_dir = cfg.recordings_dir();
  cm.encrypt = cfg.encryption;
  cm.flush_interval_ms = cfg.flush_interval_ms;
  cm.key_cache = e.key_cache;
  cm.media_receiver = e.media_receiver;
  cm.metadata_writer = e.metadata_writer;
  cm.policy = encryption_policy{cfg};
  cm.transcoder = e.transcoder;
  cm.max_calls_in_progress = cfg.max_calls_in_progress;
  cm.call_expiry_ms = cfg.call_expiry_ms;
  e.call_manager = e.sys.spawn(call_manager, cm);

  if (sock)
    e.cti_listener =
        e.sys.spawn<ccrec::cti_listener>(std::move(sock), e.call_manager, e.cti_stats,
                                         std::chrono::milliseconds{cfg.cti_request_timeout_ms});
}

}  // namespace

result<std::unique_ptr<engine>> engine::start(caf::actor_system& sys, const engine_config& cfg) {
  if (auto ok = validate_config(cfg); !ok)
    return ok.error();
  if (auto ok = check_media_host(cfg.media_host); !ok)
    return ok.error();
  if (auto ok = make_private_dir(cfg.data_dir); !ok)
    return ok.error();
  auto lock = data_dir_lock::acquire(cfg.data_dir);
  if (!lock)
    return lock.error();
  if (auto ok = make_private_dir(cfg.recordings_dir()); !ok)
    return ok.error();
  if (auto ok = make_private_dir(cfg.recordings_dir() + "/" + storage::plaintext_spool_dir); !ok)
    return ok.error();
  for (const auto& line : encryption_policy{cfg}.exceptions())
    spdlog::warn("encryption exception in force: {}", line);

  auto db = gate_startup(cfg);
  if (!db)
    return db.error();
  if (cfg.encryption && *db) {
    if (auto ok = refuse_new_keys_over_old_data(**db, cfg); !ok)
      return ok.error();
  }
  auto keys = load_keys(db->get(), cfg);
  if (!keys)
    return keys.error();
  auto journal = open_journal(cfg, db->get(), *keys->ring);
  if (!journal)
    return journal.error();

  std::shared_ptr<cti_socket> sock;
  if (!cfg.cti_endpoint.empty()) {
    auto bound = bind_cti_socket(cfg.cti_endpoint);
    if (!bound)
      return bound.error();
    sock = *bound;
  }

  auto p = std::make_unique<impl>(sys);
  p->cfg = cfg;
  p->lock = std::move(*lock);
  p->journal = std::move(journal->journal);
  p->journal_pending = std::move(journal->pending);
  p->cti_endpoint = sock ? sock->endpoint : "";
  spawn_actors(*p, std::move(*keys), std::move(sock));
  spdlog::info("engine started: data dir {}, database {}, CTI {}, media ports {}-{}, encryption {}",
               cfg.data_dir, (*db) ? (*db)->backend() : "unavailable",
               p->cti_endpoint.empty() ? "none (embedded)" : p->cti_endpoint, cfg.media_port_low,
               cfg.media_port_high, cfg.encryption ? "on (CCENX, AES-256-GCM)" : "OFF");
  return std::unique_ptr<engine>{new engine(std::move(p))};
}

engine::engine(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

engine::~engine() {
  stop();
}

caf::actor engine::call_manager() const {
  return impl_->call_manager;
}

void engine::subscribe(const caf::actor& who) {
  caf::anon_send(impl_->call_manager, subscribe_atom::value, who);
}

const std::string& engine::cti_endpoint() const {
  return impl_->cti_endpoint;
}

engine_status engine::status(std::chrono::milliseconds timeout) {
  engine_status out;
  caf::scoped_actor self{impl_->sys};
  self->request(impl_->call_manager, timeout, status_atom::value)
      .receive([&](engine_status& s) { out = s; }, [](caf::error&) {});
  self->request(impl_->db_watchdog, timeout, status_atom::value)
      .receive(
          [&](db_state& s) {
            out.db_up = s.up;
            out.db_reason = s.reason;
            out.db_since_ms = s.since_ms;
          },
          [](caf::error&) {});
  self->request(impl_->metadata_writer, timeout, status_atom::value)
      .receive(
          [&](metadata_status& m) {
            out.metadata_pending = m.pending;
            out.journal_bytes = m.journal_bytes;
            out.journal_ok = m.journal_ok;
            out.metadata_written = m.written;
            out.metadata_replayed = m.replayed;
            out.metadata_error = m.last_error;
            out.db_stuck_calls = m.stuck_calls;
          },
          [](caf::error&) {});
  self->request(impl_->key_cache, timeout, status_atom::value)
      .receive(
          [&](std::int64_t keys, std::int64_t active) {
            out.keys_loaded = keys;
            out.active_key_id = active;
          },
          [](caf::error&) {});
  self->request(impl_->media_receiver, timeout, status_atom::value)
      .receive([&](media_status& m) { out.media = m; }, [](caf::error&) {});
  // Malformed messages never reach the call manager: the listener answers
  // them, and counts them here.
  const auto malformed = static_cast<std::int64_t>(impl_->cti_stats->malformed.load());
  out.cti_rejected += malformed;
  out.cti_received = out.cti_events + malformed;
  return out;
}

void engine::stop(std::chrono::milliseconds timeout) {
  if (!impl_ || impl_->stopped)
    return;
  impl_->stopped = true;
  impl_->transcoder_stop->store(true);
  caf::scoped_actor self{impl_->sys};

  // No new events, then every recording sealed, then every row written.
  if (impl_->cti_listener)
    self->send(impl_->cti_listener, shutdown_atom::value);
  self->request(impl_->call_manager, timeout, shutdown_atom::value)
      .receive([](bool) {},
               [](caf::error& err) {
                 spdlog::warn("engine stop: recordings did not all finish: {}", describe(err));
               });
  self->request(impl_->metadata_writer, timeout, flush_atom::value)
      .receive(
          [](std::int64_t pending) {
            if (pending > 0)
              spdlog::warn("engine stop: {} metadata rows could not be written", pending);
          },
          [](caf::error&) {});

  // The sessions' last policy notes reach the rows (the rows exist now).
  self->request(impl_->transcoder, timeout, flush_atom::value)
      .receive([](std::int64_t) {}, [](caf::error&) {});
  self->send_exit(impl_->transcoder, caf::exit_reason::user_shutdown);
  impl_->transcoder = caf::actor{};

  for (auto& a : {impl_->call_manager, impl_->media_receiver, impl_->key_cache,
                  impl_->metadata_writer, impl_->db_watchdog})
    self->send_exit(a, caf::exit_reason::user_shutdown);
  impl_->call_manager = impl_->media_receiver = impl_->key_cache = caf::actor{};
  impl_->metadata_writer = impl_->db_watchdog = impl_->cti_listener = caf::actor{};
  impl_->lock.release();
}

void add_engine_types(caf::actor_system_config& cfg) {
  add_message_types(cfg);
  add_error_category(cfg);
  // CAF's default work stealing follows every job with ~25 ms of polling in
  // 50 us sleeps on each idle worker. The media path hands the actors a
  // steady trickle of write batches, which keeps every worker in that loop:
  // a third of a core for nothing. A short spin, then the worker's condition
  // variable, costs nothing idle and some 50 us of wake-up latency.
  cfg.set("work-stealing.moderate-poll-attempts", std::size_t{0});
}

}  // namespace ccrec
