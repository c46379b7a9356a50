#include "actors/media_receiver.hpp"

#include <map>
#include <memory>

#include "actors/errors.hpp"
#include "actors/media_io.hpp"
#include "messages/messages.hpp"

namespace ccrec {

namespace {

struct receiver_state {
  std::unique_ptr<media_io> io;
  // Close requests waiting for the I/O thread's media_closed.
  std::multimap<std::string, caf::response_promise> closing;
};

}  // namespace

caf::behavior media_receiver(caf::event_based_actor* self, media_receiver_options opts) {
  auto st = std::make_shared<receiver_state>();
  st->io = std::make_unique<media_io>(self->system(), self->address(), std::move(opts));

  return {
      [st](open_atom, const open_media& req) -> caf::result<std::vector<media_endpoint>> {
        auto endpoints = st->io->open(req);
        if (!endpoints)
          return to_caf_error(endpoints.error());
        return std::move(*endpoints);
      },
      [self, st](close_atom, const std::string& id) {
        st->closing.emplace(id, self->make_response_promise());
        st->io->close(id);
      },
      [st](event_atom, media_closed& closed) {
        auto range = st->closing.equal_range(closed.recording_id);
        for (auto it = range.first; it != range.second; ++it)
          it->second.deliver(closed);
        st->closing.erase(range.first, range.second);
      },
      [st](pause_atom, const std::string& id) { st->io->set_paused(id, true); },
      [st](resume_atom, const std::string& id) { st->io->set_paused(id, false); },
      [st](status_atom) {
        const auto& c = st->io->stats();
        media_status out;
        out.packets = c.packets.load();
        out.invalid = c.invalid.load();
        out.after_end = c.after_end.load();
        out.open_ports = c.open_ports.load();
        out.late = c.late.load();
        out.duplicates = c.duplicates.load();
        out.foreign_ssrc = c.foreign_ssrc.load();
        return out;
      },
  };
}

}  // namespace ccrec
