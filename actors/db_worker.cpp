#include "actors/db_worker.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include <caf/all.hpp>

#include "messages/messages.hpp"

namespace ccrec {

namespace {

// SQLite waits this long for a lock (storage/database.cpp) before failing.
constexpr std::chrono::milliseconds sqlite_lock_wait{5000};
constexpr std::chrono::milliseconds sqlite_margin{5000};

std::atomic<std::size_t> stuck_threads{0};

}  // namespace

struct db_worker::core {
  std::mutex mutex;
  std::condition_variable wake;
  std::string uri;
  std::function<void(std::uint64_t)> on_done;  // cleared when abandoned
  db_job_fn fn;
  std::shared_ptr<db_job> job;
  std::uint64_t job_id = 0;
  bool has_job = false;
  bool running_job = false;
  bool stop = false;
  bool abandoned = false;
  std::atomic<bool> exited{false};
  std::unique_ptr<storage::database> db;  // worker thread only
};

namespace {

using core_ptr = std::shared_ptr<db_worker::core>;

result<void> run_job(db_worker::core& c, const db_job_fn& fn, db_job& job) {
  try {
    if (!c.db) {
      // The engine created the database at start; a file gone since then
      // must show as an outage, not be replaced by an empty one.
      auto db = storage::database::open_existing(c.uri);
      if (!db)
        return db.error();
      c.db = std::move(*db);
    }
    auto outcome = fn(*c.db, job.steps);
    // A lost connection: the next job starts from a fresh session rather
    // than a half-broken one.
    if (!outcome && outcome.error().code == "db_unreachable")
      c.db.reset();
    return outcome;
  } catch (const std::exception& e) {
    c.db.reset();
    return make_error("db_error", std::string{"database job failed: "} + e.what());
  }
}

void worker_loop(core_ptr c) {
  for (;;) {
    db_job_fn fn;
    std::shared_ptr<db_job> job;
    std::uint64_t id = 0;
    {
      std::unique_lock<std::mutex> lock(c->mutex);
      c->wake.wait(lock, [&] { return c->has_job || c->stop || c->abandoned; });
      if (!c->has_job)
        break;
      fn = std::move(c->fn);
      job = c->job;
      id = c->job_id;
      c->has_job = false;
      c->running_job = true;
    }

    job->outcome = run_job(*c, fn, *job);
    job->finished.store(true, std::memory_order_release);

    std::function<void(std::uint64_t)> done;
    {
      std::lock_guard<std::mutex> lock(c->mutex);
      c->running_job = false;
      if (c->abandoned)
        break;
      done = c->on_done;
    }
    if (done)
      done(id);
  }

  // Closing a session may itself wait on the server; it is this thread's
  // to wait for, nobody else's.
  c->db.reset();
  std::lock_guard<std::mutex> lock(c->mutex);
  c->exited = true;
  if (c->abandoned)
    --stuck_threads;
}

}  // namespace

db_worker::db_worker(std::string uri, std::function<void(std::uint64_t)> on_done)
    : uri_(std::move(uri)), on_done_(std::move(on_done)) {}

db_worker::~db_worker() {
  if (!core_)
    return;
  if (busy()) {
    abandon();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(core_->mutex);
    core_->stop = true;
    core_->on_done = nullptr;
  }
  core_->wake.notify_all();
  // Idle: it ends at once (closing a session only sends a goodbye).
  thread_.join();
}

void db_worker::start_thread() {
  core_ = std::make_shared<core>();
  core_->uri = uri_;
  core_->on_done = on_done_;
  thread_ = std::thread{worker_loop, core_};
}

std::uint64_t db_worker::post(db_job_fn fn) {
  if (!core_)
    start_thread();
  job_ = std::make_shared<db_job>();
  {
    std::lock_guard<std::mutex> lock(core_->mutex);
    core_->fn = std::move(fn);
    core_->job = job_;
    core_->job_id = ++job_id_;
    core_->has_job = true;
  }
  core_->wake.notify_all();
  return job_id_;
}

bool db_worker::busy() const {
  return job_ && !job_->finished.load(std::memory_order_acquire);
}

void db_worker::abandon() {
  if (!core_)
    return;
  {
    std::lock_guard<std::mutex> lock(core_->mutex);
    core_->abandoned = true;
    core_->on_done = nullptr;
    if (!core_->exited)
      ++stuck_threads;
  }
  core_->wake.notify_all();
  // Never joined: the thread may wait on the database forever.
  thread_.detach();
  abandoned_.erase(std::remove_if(abandoned_.begin(), abandoned_.end(),
                                  [](const auto& c) { return c->exited.load(); }),
                   abandoned_.end());
  abandoned_.push_back(core_);
  core_.reset();
  job_.reset();
}

std::size_t db_worker::stuck() const {
  std::size_t n = 0;
  for (const auto& c : abandoned_) {
    if (!c->exited.load())
      ++n;
  }
  return n;
}

std::size_t db_worker::stuck_everywhere() {
  return stuck_threads.load();
}

std::unique_ptr<db_worker> make_db_worker(caf::event_based_actor* self, std::string uri) {
  caf::actor_addr me = self->address();
  return std::make_unique<db_worker>(std::move(uri), [me](std::uint64_t id) {
    if (auto strong = caf::actor_cast<caf::actor>(me))
      caf::anon_send(strong, done_atom::value, id);
  });
}

std::chrono::milliseconds db_step_deadline(const std::string& uri,
                                           std::chrono::milliseconds timeout) {
  bool server = uri.rfind("postgresql://", 0) == 0 || uri.rfind("postgres://", 0) == 0;
  if (server)
    return timeout;
  return std::max(timeout, sqlite_lock_wait + sqlite_margin);
}

std::string seconds_text(std::chrono::milliseconds d) {
  auto tenths = d.count() / 100;
  auto text = std::to_string(tenths / 10);
  if (tenths % 10 != 0)
    text += "." + std::to_string(tenths % 10);
  return text + " s";
}

}  // namespace ccrec
