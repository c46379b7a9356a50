#include "actors/errors.hpp"

namespace ccrec {

std::string describe(const caf::error& err) {
  if (err.category() == engine_error_category && err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  return caf::to_string(err);
}

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(engine_error_category,
                         [](std::uint8_t, caf::atom_value, const caf::message& ctx) {
                           if (ctx.match_elements<std::string>())
                             return ctx.get_as<std::string>(0);
                           return std::string{"ccrec engine error"};
                         });
}

}  // namespace ccrec
