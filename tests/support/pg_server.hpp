// pg_server: a throwaway PostgreSQL 15 server for tests, on 127.0.0.1 only.
//
// Runs initdb and the postmaster from /usr/lib/postgresql/15/bin in a private
// temporary directory: trust authentication, a private unix-socket directory,
// a free TCP port, and fsync and full_page_writes off because nothing here
// must survive a machine crash. synchronous_commit stays on so that
// stop_immediate() loses no committed transaction, as with a real server
// (see pg_server.cpp). As root the
// binaries run as the `postgres` user (they refuse root); otherwise as the
// current user.
//
// Failures throw std::runtime_error with the server's log tail: a suite that
// needs PostgreSQL must fail loudly, never skip. Not thread-safe: drive one
// server from one test thread. The destructor stops the server (immediate)
// and removes its directory; if the test process dies without running it, a
// small guardian process it forked does the same.
#pragma once

#include <sys/types.h>
#include <string>
#include <vector>

namespace ccrec::test {

class pg_server {
 public:
  pg_server();
  ~pg_server();
  pg_server(const pg_server&) = delete;
  pg_server& operator=(const pg_server&) = delete;

  // Creates the cluster on first use, then starts the postmaster and waits
  // until it accepts connections. Throws on failure.
  void start();

  // `pg_ctl stop -m immediate`: every backend dies at once, clients see
  // their connections drop, as in a crash or a pulled cable.
  void stop_immediate();

  // Starts the server again on the same port with the same data. Throws when
  // it cannot start.
  void restart();

  // SIGSTOP / SIGCONT of the postmaster and every backend it forked: a
  // server that accepts TCP connections and queries but never answers.
  void freeze();
  void thaw();

  // Creates database `name` (letters, digits, underscore) and returns its URI.
  std::string create_database(const std::string& name);

  // postgresql://postgres@127.0.0.1:PORT/NAME
  std::string uri(const std::string& name) const;

  int port() const { return port_; }
  bool running() const { return running_; }

 private:
  void init_cluster();
  void start_guardian();
  void start_postmaster();
  void run_as_owner(const std::vector<std::string>& argv, const std::string& what);
  pid_t postmaster_pid() const;

  std::string dir_;   // owns data/, sock/ and the logs
  std::string data_;  // the cluster
  int port_ = 0;
  bool initialised_ = false;
  bool running_ = false;
  std::vector<pid_t> frozen_;  // in the order they were stopped
  int guardian_pipe_ = -1;     // closing it (or dying) wakes the guardian
  pid_t guardian_pid_ = -1;
};

// One server per test executable, started on first use. Tests that need a
// fresh database call create_database with a unique name. Throws (every time
// it is called) when the server could not start.
pg_server& shared_pg_server();

}  // namespace ccrec::test
