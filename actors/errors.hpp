// The engine's error category for caf::error values exchanged by actors.
//
// Below the actors, errors are ccrec::error values (common/result.hpp); an
// actor that receives one turns it into a caf::error with to_caf_error(),
// keeping the sentence as the error's context.
#pragma once

#include <cstdint>
#include <string>

#include <caf/all.hpp>

#include "common/result.hpp"

namespace ccrec {

enum class engine_errc : std::uint8_t {
  // 0 is reserved for "no error" by CAF.
  failed = 1,       // a lower layer failed; the context says why
  unknown_key = 2,  // no master key with that id in the cache
  busy = 3,         // no media ports left
  bad_state = 4,    // request not valid in the current state
  db_down = 5,      // the operation needs the database, which is down
};

inline constexpr caf::atom_value engine_error_category = caf::atom("ccrec");

inline caf::error make_engine_error(engine_errc code, std::string message) {
  return caf::error{static_cast<std::uint8_t>(code), engine_error_category,
                    caf::make_message(std::move(message))};
}

inline caf::error to_caf_error(const error& err) {
  auto code = err.code == "unknown_key" ? engine_errc::unknown_key
              : err.code == "busy"      ? engine_errc::busy
                                        : engine_errc::failed;
  return make_engine_error(code, err.message);
}

// The sentence inside an engine error, or CAF's rendering for others.
std::string describe(const caf::error& err);

// Registers the renderer so that CAF prints engine errors readably.
void add_error_category(caf::actor_system_config& cfg);

}  // namespace ccrec
