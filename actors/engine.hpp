// engine: the recording engine as a library — start it inside any
// caf::actor_system, feed it CTI events, stop it.
//
// `ccrec serve` is a thin main over this class; a host CTI process can use it
// the same way, in its own actor system, and send cti_event messages straight
// to call_manager() instead of going through ZeroMQ.
//
// Lifetime: the engine holds actor handles; destroy (or stop()) the engine
// before its actor_system, or the system's destructor waits forever.
// start(), status() and stop() block the calling thread; call them from a
// plain thread (main, a host's control thread), never from inside an actor.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "actors/config.hpp"
#include "common/result.hpp"
#include "messages/messages.hpp"

namespace ccrec {

class engine {
 public:
  // Checks the start-up policy, opens and migrates the database, loads the
  // keys, marks recordings a crash left unfinished as interrupted, binds the
  // CTI endpoint (unless cfg.cti_endpoint is empty) and spawns the actors.
  static result<std::unique_ptr<engine>> start(caf::actor_system& sys, const engine_config& cfg);
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // Where CTI events go: (cti_atom, cti_event) -> cti_reply.
  caf::actor call_manager() const;
  // `who` receives (event_atom, recording_event) for every recording.
  void subscribe(const caf::actor& who);
  // The CTI endpoint as bound ("tcp://127.0.0.1:5570"), or "" when none.
  const std::string& cti_endpoint() const;

  engine_status status(std::chrono::milliseconds timeout = std::chrono::seconds{5});

  // Stops taking events, ends every recording (files sealed, rows final),
  // flushes metadata, and ends the actors. Idempotent.
  void stop(std::chrono::milliseconds timeout = std::chrono::seconds{30});

  struct impl;  // defined in engine.cpp

 private:
  explicit engine(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

// Registers the engine's message types and error category with a config.
// A host calls this on its own actor_system_config before creating the
// system.
void add_engine_types(caf::actor_system_config& cfg);

}  // namespace ccrec
