// embed_host: a CTI process of its own that runs ccrec's recording actors in
// its own actor system, feeds them CTI events as messages (no ZeroMQ), sends
// the call's RTP like a PBX would, follows the recording notifications, and
// shuts down cleanly.
//
//   CCREC_KEK_SECRET=... embed_host DATA_DIR [--calls N] [--stop-mid-call] [--ports LOW-HIGH]
//
// With --stop-mid-call the host stops the engine while the last call is
// still running: the engine seals the file and marks the recording final.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include <caf/all.hpp>
#include <ccrec/actors/engine.hpp>
#include <ccrec/crypto/secret.hpp>
#include <ccrec/media/g711.hpp>
#include <ccrec/media/rtp.hpp>

namespace {

using namespace std::chrono_literals;

constexpr int packets_per_call = 100;  // 2 s of 20 ms packets
constexpr std::size_t samples_per_packet = 160;

// The host's own actor that receives the engine's recording notifications.
caf::behavior notification_printer(caf::event_based_actor*) {
  return {
      [](ccrec::event_atom, const ccrec::recording_event& ev) {
        std::cout << "host: recording " << ev.recording_id << " (" << ev.kind << ") " << ev.state
                  << "\n"
                  << std::flush;
      },
  };
}

ccrec::cti_reply send_event(caf::scoped_actor& self, const caf::actor& manager,
                            ccrec::cti_event ev) {
  ccrec::cti_reply reply;
  self->request(manager, std::chrono::seconds{5}, ccrec::cti_atom::value, std::move(ev))
      .receive([&](ccrec::cti_reply& r) { reply = std::move(r); },
               [&](caf::error& err) {
                 reply.ok = false;
                 reply.message = caf::to_string(err);
               });
  return reply;
}

ccrec::cti_event event(const std::string& type, const std::string& call_id, std::int64_t seq) {
  ccrec::cti_event ev;
  ev.type = type;
  ev.seq = seq;
  ev.call_id = call_id;
  ev.agent = "host-agent-1";
  ev.direction = "inbound";
  ev.queue = "embedded";
  return ev;
}

// Sends `count` packets of a tone to each leg's port, 20 ms apart.
void send_rtp(const std::vector<ccrec::media_endpoint>& media, int count) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  std::uint8_t packet[12 + samples_per_packet];
  auto next = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) {
    for (std::size_t leg = 0; leg < media.size(); ++leg) {
      if (media[leg].name == "screen")
        continue;
      ccrec::media::write_rtp_header(packet, ccrec::media::pt_pcmu, false,
                                     static_cast<std::uint16_t>(i),
                                     static_cast<std::uint32_t>(i * samples_per_packet),
                                     0x1000 + static_cast<std::uint32_t>(leg));
      for (std::size_t s = 0; s < samples_per_packet; ++s) {
        double t = (i * samples_per_packet + s) / 8000.0;
        auto value = 8000.0 * std::sin(2 * M_PI * (400.0 + 200.0 * leg) * t);
        packet[12 + s] = ccrec::media::linear_to_ulaw(static_cast<std::int16_t>(value));
      }
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(media[leg].port);
      inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
      ::sendto(fd, packet, sizeof packet, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    }
    next += 20ms;
    std::this_thread::sleep_until(next);
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: embed_host DATA_DIR [--calls N] [--stop-mid-call] [--ports LOW-HIGH]\n";
    return 2;
  }
  std::string data_dir = argv[1];
  int calls = 2;
  bool stop_mid_call = false;
  std::string ports = "45000-45099";
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--calls" && i + 1 < argc)
      calls = std::stoi(argv[++i]);
    else if (arg == "--stop-mid-call")
      stop_mid_call = true;
    else if (arg == "--ports" && i + 1 < argc)
      ports = argv[++i];
  }
  const char* secret = std::getenv("CCREC_KEK_SECRET");
  if (secret == nullptr) {
    std::cerr << "embed_host: set CCREC_KEK_SECRET\n";
    return 2;
  }

  // The host's own configuration object and actor system; ccrec only adds
  // its message types to it.
  caf::actor_system_config host_cfg;
  ccrec::add_engine_types(host_cfg);
  caf::actor_system sys{host_cfg};

  ccrec::engine_config cfg;
  cfg.data_dir = data_dir;
  cfg.cti_endpoint = "";  // events come as messages, not over ZeroMQ
  cfg.kdf_profile = "test";
  if (auto ok = ccrec::parse_port_range(ports, cfg); !ok) {
    std::cerr << "embed_host: " << ok.error().message << "\n";
    return 2;
  }
  cfg.kek_secret =
      std::make_shared<ccrec::crypto::secret_bytes>(ccrec::crypto::secret_bytes::copy_of(
          reinterpret_cast<const std::uint8_t*>(secret), std::strlen(secret)));
  auto eng = ccrec::engine::start(sys, cfg);
  if (!eng) {
    std::cerr << "embed_host: engine did not start: " << eng.error().message << "\n";
    return 1;
  }
  auto printer = sys.spawn(notification_printer);
  (*eng)->subscribe(printer);

  caf::scoped_actor self{sys};
  auto manager = (*eng)->call_manager();
  std::int64_t seq = 0;
  auto login = event("agent_login", "", ++seq);
  send_event(self, manager, login);
  for (int c = 1; c <= calls; ++c) {
    auto call_id = "host-call-" + std::to_string(c);
    send_event(self, manager, event("call_offered", call_id, ++seq));
    auto answered = send_event(self, manager, event("call_answered", call_id, ++seq));
    if (!answered.ok || !answered.record) {
      std::cerr << "embed_host: call " << call_id << " not recorded: " << answered.message << "\n";
      return 1;
    }
    std::cout << "host: call " << call_id << " recording " << answered.recording_id << "\n";

    bool last = c == calls;
    send_rtp(answered.media, stop_mid_call && last ? packets_per_call / 2 : packets_per_call);
    if (stop_mid_call && last)
      break;  // the call is still up when the host shuts down
    send_event(self, manager, event("call_ended", call_id, ++seq));
  }

  // Stop the engine before the actor system goes: every recording in flight
  // is sealed and its row made final. Then the host's own actors.
  (*eng)->stop();
  eng->reset();
  self->send_exit(printer, caf::exit_reason::user_shutdown);
  std::cout << "host: engine stopped cleanly\n";
  return 0;
}
