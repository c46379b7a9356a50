// db_worker — one database session on a thread of its own, supervised, so
// that the actor owning it never blocks on the database.
//
// SOCI has no client-side query timeout, and a frozen server blocks a query
// forever. So the owner posts a job (a function over storage::database); the
// job runs on the worker's thread and bumps a progress counter after each
// statement; when it ends the worker calls `on_done` on its own thread. The
// owner arms a timer when it posts; if the counter has not moved when the
// timer fires, the database is not answering, and the owner abandons the
// worker: the thread is detached and left to finish or to die with the
// process, its session is never used again, and its on_done is dropped. The
// next post starts a fresh thread with a fresh session. Nothing ever joins a
// thread that may be stuck.
//
// Threads: every member function is for the owner's thread only. The job
// runs on the worker's thread and must touch nothing but the database it is
// given and its own captures. on_done must be cheap and thread-safe; an
// actor gets one from make_db_worker, which sends to it by a weak address.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/fwd.hpp>

#include "common/result.hpp"
#include "storage/database.hpp"

namespace ccrec {

// One job's progress and outcome, shared by the owner and the worker.
struct db_job {
  std::atomic<std::uint64_t> steps{0};  // bumped by the job after each statement
  std::atomic<bool> finished{false};
  result<void> outcome;  // read only once `finished` is true
};

using db_job_fn =
    std::function<result<void>(storage::database&, std::atomic<std::uint64_t>& steps)>;

class db_worker {
 public:
  // `on_done(job_id)` is called on the worker thread when a job ends.
  db_worker(std::string uri, std::function<void(std::uint64_t)> on_done);
  // Ends and joins an idle thread; abandons a busy one.
  ~db_worker();
  db_worker(const db_worker&) = delete;
  db_worker& operator=(const db_worker&) = delete;

  // Starts `fn` and returns the job's id. The session is opened (or opened
  // again after it was lost) inside the job, so connecting is supervised
  // too. Precondition: !busy().
  std::uint64_t post(db_job_fn fn);

  bool busy() const;
  // The job last posted (null before the first).
  const std::shared_ptr<db_job>& job() const { return job_; }
  std::uint64_t job_id() const { return job_id_; }

  // Gives the current thread and session up for lost.
  void abandon();

  // Threads this worker abandoned that have not ended yet: a call still
  // stuck in the database.
  std::size_t stuck() const;
  // The same over every worker in the process.
  static std::size_t stuck_everywhere();

  struct core;  // the thread's side; defined in db_worker.cpp

 private:
  void start_thread();

  std::string uri_;
  std::function<void(std::uint64_t)> on_done_;
  std::shared_ptr<core> core_;
  std::thread thread_;
  std::vector<std::shared_ptr<core>> abandoned_;
  std::shared_ptr<db_job> job_;
  std::uint64_t job_id_ = 0;
};

// A worker owned by the actor `self`, which receives (done_atom, job_id)
// when a job ends. It holds the actor by a weak address: a job that ends
// after the actor is gone is dropped. Call from `self`'s own handlers.
std::unique_ptr<db_worker> make_db_worker(caf::event_based_actor* self, std::string uri);

// The deadline for one database step on `uri`: `timeout` for a server; for
// SQLite (in-process, no server to hang) at least its own lock wait plus a
// margin, so that a busy lock is not mistaken for a hung database.
std::chrono::milliseconds db_step_deadline(const std::string& uri,
                                           std::chrono::milliseconds timeout);

// "3 s", "2.5 s": a deadline for messages.
std::string seconds_text(std::chrono::milliseconds d);

}  // namespace ccrec
