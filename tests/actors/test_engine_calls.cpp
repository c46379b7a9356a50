// The engine through its library API: real actors, a real SQLite file in a
// temp dir, real UDP media, files decrypted with the engine's own keys.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "actors/recordings.hpp"
#include "media/g711.hpp"
#include "tests/actors/engine_harness.hpp"

using namespace ccrec;
using namespace ccrec::test;

namespace {

constexpr std::uint32_t caller_ssrc = 0x11112222;
constexpr std::uint32_t agent_ssrc = 0x33334444;
constexpr std::uint16_t caller_seq0 = 1000;
constexpr std::uint16_t agent_seq0 = 5000;
constexpr std::uint32_t caller_ts0 = 80000;
constexpr std::uint32_t agent_ts0 = 160000;
constexpr std::size_t caller_packets = 10;
constexpr std::size_t agent_packets = 5;

// Distinct, never-silent u-law bytes per packet and sample parity
// (0x7f and 0xff are the only u-law codes for zero).
std::uint8_t caller_byte(std::size_t packet, std::size_t sample) {
  return static_cast<std::uint8_t>((sample % 2 == 0 ? 0x10 : 0x90) + packet);
}

std::uint8_t agent_byte(std::size_t packet, std::size_t sample) {
  return static_cast<std::uint8_t>((sample % 2 == 0 ? 0x40 : 0xc0) + packet);
}

std::vector<std::uint8_t> caller_rtp(std::size_t k) {
  return rtp_packet(static_cast<std::uint16_t>(caller_seq0 + k),
                    static_cast<std::uint32_t>(caller_ts0 + k * g711_frame_bytes), caller_ssrc,
                    [k](std::size_t j) { return caller_byte(k, j); });
}

std::vector<std::uint8_t> agent_rtp(std::size_t k) {
  return rtp_packet(static_cast<std::uint16_t>(agent_seq0 + k),
                    static_cast<std::uint32_t>(agent_ts0 + k * g711_frame_bytes), agent_ssrc,
                    [k](std::size_t j) { return agent_byte(k, j); });
}

// The first sample of a channel that is not silence: where its leg was
// anchored on the recording's timeline.
std::size_t first_sound(const std::vector<std::int16_t>& channel) {
  for (std::size_t i = 0; i < channel.size(); ++i) {
    if (channel[i] != 0)
      return i;
  }
  return channel.size();
}

// Requires `packets` consecutive frames of `byte` at `anchor`, and silence
// everywhere else in the channel.
void require_channel(const std::vector<std::int16_t>& channel, std::size_t packets,
                     std::uint8_t (*byte)(std::size_t, std::size_t)) {
  auto anchor = first_sound(channel);
  REQUIRE(anchor + packets * g711_frame_bytes <= channel.size());
  std::size_t wrong = 0;
  for (std::size_t k = 0; k < packets; ++k) {
    for (std::size_t j = 0; j < g711_frame_bytes; ++j) {
      auto at = anchor + k * g711_frame_bytes + j;
      if (channel[at] != media::ulaw_to_linear(byte(k, j)))
        ++wrong;
    }
  }
  CHECK(wrong == 0);
  for (std::size_t i = anchor + packets * g711_frame_bytes; i < channel.size(); ++i)
    REQUIRE(channel[i] == 0);
}

// Every file under recordings/ has a row that points at it.
void require_no_orphans(const engine_config& cfg) {
  std::set<std::string> row_paths;
  for (const auto& row : recording_rows(cfg.database_uri()))
    row_paths.insert(row.path);
  for (const auto& file : files_under(cfg.recordings_dir())) {
    INFO("file " << file);
    CHECK(row_paths.count(file) == 1);
  }
}

}  // namespace

TEST_CASE("a recorded call: RTP in, encrypted file out, exact audio back", "[engine]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  running_engine run{cfg};
  run.subscribe_events();

  auto login = send_event(run.self, run.cm, agent_login(1, "a1"));
  CHECK(login.ok);
  CHECK(login.seq == 1);
  CHECK_FALSE(login.record);
  auto offered = send_event(run.self, run.cm, call_offered(2, "call-1", "inbound", "sales"));
  CHECK(offered.ok);
  CHECK_FALSE(offered.record);

  auto answered = send_event(run.self, run.cm, call_answered(3, "call-1", "a1"));
  REQUIRE(answered.ok);
  CHECK(answered.seq == 3);
  REQUIRE(answered.record);
  CHECK(answered.schedule == "record-all");
  REQUIRE_FALSE(answered.recording_id.empty());
  CHECK_THAT(answered.recording_id, Catch::Contains("-call-1-"));
  REQUIRE(answered.media.size() == 2);
  auto caller = endpoint_named(answered, "caller");
  auto agent = endpoint_named(answered, "agent");
  REQUIRE(caller);
  REQUIRE(agent);
  CHECK(caller->host == "127.0.0.1");
  CHECK(agent->host == "127.0.0.1");
  CHECK(caller->port != agent->port);
  for (auto port : {caller->port, agent->port}) {
    CHECK(port >= cfg.media_port_low);
    CHECK(port <= cfg.media_port_high);
  }

  // Caller: 0 1 2 3 5 4 6 6 7 8 2 9 (one pair reordered, two duplicates).
  // Agent: 0 1 2 3 4 in order.
  udp_sender udp;
  for (std::size_t k : {0, 1, 2, 3, 5, 4, 6, 6, 7, 8, 2, 9})
    udp.send(caller->port, caller_rtp(k));
  for (std::size_t k = 0; k < agent_packets; ++k)
    udp.send(agent->port, agent_rtp(k));
  std::this_thread::sleep_for(media_settle);

  auto ended = send_event(run.self, run.cm, call_event(4, "call_ended", "call-1"));
  CHECK(ended.ok);
  CHECK_FALSE(ended.record);

  auto row = wait_final_recording(cfg.database_uri(), answered.recording_id);
  REQUIRE(row);
  CHECK(row->status == "complete");
  CHECK(row->kind == "audio");
  CHECK(row->call_id == "call-1");
  CHECK(row->agent == "a1");
  CHECK(row->schedule == "record-all");
  CHECK(row->encryption == "ccenx");
  CHECK(row->packets == static_cast<std::int64_t>(caller_packets + agent_packets));
  CHECK(row->ended_ms >= row->started_ms);
  auto path = cfg.recordings_dir() + "/" + row->path;
  REQUIRE(std::filesystem::exists(path));
  CHECK(row->bytes == static_cast<std::int64_t>(std::filesystem::file_size(path)));
  CHECK(std::filesystem::path{path}.extension() == ".ccenx");

  auto call = call_row(cfg.database_uri(), "call-1");
  REQUIRE(call);
  CHECK(call->state == "ended");
  CHECK(call->decision == "recorded");
  CHECK(call->schedule == "record-all");
  CHECK(call->agent == "a1");
  CHECK(call->queue == "sales");
  CHECK(call->direction == "inbound");
  CHECK(call->from_number == "+15550001");
  CHECK(call->offered_ms == 1700000000002);
  CHECK(call->answered_ms == 1700000000003);
  CHECK(call->ended_ms == 1700000000004);

  auto ring = open_test_keyring(cfg.database_uri());
  CHECK(row->key_id == ring.active_id);
  auto verified = verify_recording(path, ring, row->status);
  INFO(verified.describe());
  CHECK(verified.ok());
  CHECK(verified.records == 1 + caller_packets + agent_packets);  // metadata + audio

  auto wav_path = dir.file("call-1.wav");
  auto played = play_recording(path, ring, wav_path);
  REQUIRE(played.ok());
  CHECK(played->stats.audio_records == caller_packets + agent_packets);
  CHECK(played->stats.leg_samples[0] == caller_packets * g711_frame_bytes);
  CHECK(played->stats.leg_samples[1] == agent_packets * g711_frame_bytes);
  auto wav = read_wav(wav_path);
  CHECK(wav.rate == 8000);
  require_channel(wav.left, caller_packets, caller_byte);
  require_channel(wav.right, agent_packets, agent_byte);

  auto notes = collect_events(run.events, 2);
  REQUIRE(notes.size() == 2);
  CHECK(notes[0].recording_id == answered.recording_id);
  CHECK(notes[0].state == "started");
  CHECK(notes[0].kind == "audio");
  CHECK(notes[0].detail == "record-all");
  CHECK(notes[1].state == "stopped");
  CHECK(notes[1].call_id == "call-1");
  CHECK(notes[1].detail == "call_ended");

  auto status = run.eng->status();
  CHECK(status.cti_received == 4);
  CHECK(status.cti_events == 4);
  CHECK(status.cti_rejected == 0);
  CHECK(status.recordings_started == 1);
  CHECK(status.recordings_failed == 0);
  CHECK(status.active_calls == 0);
  CHECK(status.keys_loaded == 1);
  CHECK(status.active_key_id == ring.active_id);
  require_no_orphans(cfg);
}

TEST_CASE("events that do not fit the call's state are refused and counted", "[engine]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  running_engine run{cfg};

  auto ghost = send_event(run.self, run.cm, call_answered(1, "ghost", "a1"));
  CHECK_FALSE(ghost.ok);
  CHECK(ghost.seq == 1);
  CHECK(ghost.error == "unknown_call");
  CHECK(ghost.message == "call_answered: call 'ghost' is not known (no call_offered seen)");

  REQUIRE(send_event(run.self, run.cm, call_offered(2, "c1")).ok);
  auto twice = send_event(run.self, run.cm, call_offered(3, "c1"));
  CHECK_FALSE(twice.ok);
  CHECK(twice.error == "bad_state");
  CHECK(twice.message == "call_offered: call 'c1' already exists");

  auto pause = send_event(run.self, run.cm, recording_control(4, "c1", "pause"));
  CHECK_FALSE(pause.ok);
  CHECK(pause.error == "bad_state");
  CHECK(pause.message == "recording_control pause: call 'c1' is not being recorded");

  auto answered = send_event(run.self, run.cm, call_answered(5, "c1", "a1"));
  REQUIRE(answered.ok);
  CHECK(answered.record);
  auto again = send_event(run.self, run.cm, call_answered(6, "c1", "a2"));
  CHECK_FALSE(again.ok);
  CHECK(again.error == "bad_state");
  CHECK(again.message == "call_answered: call 'c1' is answered");

  CHECK(send_event(run.self, run.cm, call_event(7, "call_held", "c1")).ok);
  auto held_twice = send_event(run.self, run.cm, call_event(8, "call_held", "c1"));
  CHECK_FALSE(held_twice.ok);
  CHECK(held_twice.error == "bad_state");
  CHECK(held_twice.message == "call_held: call 'c1' is held");
  CHECK(send_event(run.self, run.cm, call_event(9, "call_retrieved", "c1")).ok);

  CHECK(send_event(run.self, run.cm, call_event(10, "call_ended", "c1")).ok);
  auto ended_twice = send_event(run.self, run.cm, call_event(11, "call_ended", "c1"));
  CHECK_FALSE(ended_twice.ok);
  CHECK(ended_twice.error == "unknown_call");

  auto status = run.eng->status();
  CHECK(status.cti_received == 11);
  CHECK(status.cti_events == 11);
  CHECK(status.cti_rejected == 6);
  CHECK(status.recordings_started == 1);
  CHECK(status.active_calls == 0);

  // The refused answer changed nothing: the call row names the first agent.
  REQUIRE(wait_final_recording(cfg.database_uri(), answered.recording_id));
  auto call = call_row(cfg.database_uri(), "c1");
  REQUIRE(call);
  CHECK(call->agent == "a1");
  CHECK(call->state == "ended");
}

TEST_CASE("quick start/stop leaves a final row and no orphan file", "[engine]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  schedule keep;
  keep.name = "keep";
  keep.queues = {"keep"};
  schedule discard;
  discard.name = "discard-short";
  discard.queues = {"short"};
  discard.min_seconds = 1;
  cfg.schedules = {keep, discard};
  running_engine run{cfg};
  auto ring = open_test_keyring(cfg.database_uri());

  std::int64_t seq = 0;
  for (const std::string queue : {"keep", "short"}) {
    SECTION("call_ended right after the answer is received, queue " + queue) {
      REQUIRE(send_event(run.self, run.cm, call_offered(++seq, "q1", "inbound", queue)).ok);
      auto answered = send_event(run.self, run.cm, call_answered(++seq, "q1", "a1"));
      REQUIRE(answered.record);
      CHECK(send_event(run.self, run.cm, call_event(++seq, "call_ended", "q1")).ok);

      auto row = wait_final_recording(cfg.database_uri(), answered.recording_id);
      REQUIRE(row);
      CHECK(row->packets == 0);
      auto path = cfg.recordings_dir() + "/" + row->path;
      if (queue == "keep") {
        CHECK(row->status == "complete");
        CHECK(row->schedule == "keep");
        auto verified = verify_recording(path, ring, row->status);
        INFO(verified.describe());
        CHECK(verified.ok());
        CHECK(verified.records == 1);  // the metadata record only
      } else {
        CHECK(row->status == "discarded");
        CHECK(row->schedule == "discard-short");
        CHECK_FALSE(std::filesystem::exists(path));
      }
      require_no_orphans(cfg);
    }
  }

  SECTION("call_ended sent before the answer's reply arrives") {
    // Both requests leave before either reply is read, so the stop reaches
    // the session while it is still opening its files and ports.
    REQUIRE(send_event(run.self, run.cm, call_offered(++seq, "q2", "inbound", "keep")).ok);
    REQUIRE(send_event(run.self, run.cm, call_offered(++seq, "q3", "inbound", "short")).ok);
    std::vector<cti_reply> replies;
    auto collect = [&](cti_reply& r) { replies.push_back(r); };
    auto fail = [](caf::error& err) { FAIL(caf::to_string(err)); };
    auto a2 =
        run.self->request(run.cm, reply_timeout, cti_atom::value, call_answered(++seq, "q2", "a1"));
    auto e2 = run.self->request(run.cm, reply_timeout, cti_atom::value,
                                call_event(++seq, "call_ended", "q2"));
    auto a3 =
        run.self->request(run.cm, reply_timeout, cti_atom::value, call_answered(++seq, "q3", "a2"));
    auto e3 = run.self->request(run.cm, reply_timeout, cti_atom::value,
                                call_event(++seq, "call_ended", "q3"));
    a2.receive(collect, fail);
    e2.receive(collect, fail);
    a3.receive(collect, fail);
    e3.receive(collect, fail);
    REQUIRE(replies.size() == 4);
    for (const auto& r : replies)
      CHECK(r.ok);
    REQUIRE(replies[0].record);
    REQUIRE(replies[2].record);

    auto kept = wait_final_recording(cfg.database_uri(), replies[0].recording_id);
    auto dropped = wait_final_recording(cfg.database_uri(), replies[2].recording_id);
    REQUIRE(kept);
    REQUIRE(dropped);
    CHECK(kept->status == "complete");
    CHECK(dropped->status == "discarded");
    auto verified = verify_recording(cfg.recordings_dir() + "/" + kept->path, ring, kept->status);
    INFO(verified.describe());
    CHECK(verified.ok());
    CHECK_FALSE(std::filesystem::exists(cfg.recordings_dir() + "/" + dropped->path));
    require_no_orphans(cfg);

    auto status = run.eng->status();
    CHECK(status.active_calls == 0);
    CHECK(status.recordings_started == 2);
  }
}

TEST_CASE("stopping the engine mid-call seals the recording", "[engine]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  actor_env env;
  auto eng = start_engine(env.sys(), cfg);
  std::string recording_id;
  {
    caf::scoped_actor self{env.sys()};
    auto cm = eng->call_manager();
    REQUIRE(send_event(self, cm, call_offered(1, "long-call")).ok);
    auto answered = send_event(self, cm, call_answered(2, "long-call", "a1"));
    REQUIRE(answered.record);
    recording_id = answered.recording_id;

    udp_sender udp;
    auto caller = endpoint_named(answered, "caller");
    REQUIRE(caller);
    for (std::size_t k = 0; k < caller_packets; ++k)
      udp.send(caller->port, caller_rtp(k));
    std::this_thread::sleep_for(media_settle);
  }

  eng->stop();
  eng->stop();  // idempotent

  // stop() returns after the rows were flushed: no waiting needed.
  auto rows = recording_rows(cfg.database_uri());
  REQUIRE(rows.size() == 1);
  const auto& row = rows[0];
  CHECK(row.id == recording_id);
  CHECK(row.status == "complete");
  CHECK(row.packets == static_cast<std::int64_t>(caller_packets));
  CHECK(row.ended_ms > 0);

  auto ring = open_test_keyring(cfg.database_uri());
  auto path = cfg.recordings_dir() + "/" + row.path;
  auto verified = verify_recording(path, ring, row.status);
  INFO(verified.describe());
  CHECK(verified.ok());
  CHECK(verified.report.state == crypto::ccenx_state::complete);
  CHECK(verified.records == 1 + caller_packets);
  require_no_orphans(cfg);
}

TEST_CASE("a screen schedule records the agent's screen as its own file", "[engine]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  schedule screens;
  screens.name = "with-screen";
  screens.screen = true;
  screens.retention_days = 30;
  cfg.schedules = {screens};
  running_engine run{cfg};

  REQUIRE(send_event(run.self, run.cm, call_offered(1, "screen-call")).ok);
  auto answered = send_event(run.self, run.cm, call_answered(2, "screen-call", "a1"));
  REQUIRE(answered.ok);
  REQUIRE(answered.record);
  CHECK(answered.schedule == "with-screen");
  REQUIRE(answered.media.size() == 3);
  auto screen = endpoint_named(answered, "screen");
  REQUIRE(screen);
  CHECK(screen->host == "127.0.0.1");
  std::set<std::uint16_t> ports;
  for (const auto& m : answered.media)
    ports.insert(m.port);
  CHECK(ports.size() == 3);

  constexpr std::size_t frames = 5;
  std::vector<std::vector<std::uint8_t>> sent;
  udp_sender udp;
  for (std::uint32_t f = 0; f < frames; ++f) {
    std::vector<std::uint8_t> bytes(100 + f * 37);
    for (std::size_t i = 0; i < bytes.size(); ++i)
      bytes[i] = static_cast<std::uint8_t>(i * 7 + f);
    sent.push_back(bytes);
    udp.send(screen->port, screen_datagram(f + 1, f * 200, bytes));
  }
  udp.send(screen->port, {'J', 'U', 'N', 'K', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13});
  std::this_thread::sleep_for(media_settle);
  REQUIRE(send_event(run.self, run.cm, call_event(3, "call_ended", "screen-call")).ok);

  auto audio = wait_final_recording(cfg.database_uri(), answered.recording_id);
  auto screen_row = wait_final_recording(cfg.database_uri(), answered.recording_id + "-screen");
  REQUIRE(audio);
  REQUIRE(screen_row);
  CHECK(audio->status == "complete");
  CHECK(audio->kind == "audio");
  CHECK(screen_row->status == "complete");
  CHECK(screen_row->kind == "screen");
  CHECK(screen_row->call_id == "screen-call");
  CHECK(screen_row->packets == static_cast<std::int64_t>(frames));
  CHECK(screen_row->retention_days == 30);
  CHECK(screen_row->encryption == "ccenx");
  CHECK(screen_row->path != audio->path);

  auto ring = open_test_keyring(cfg.database_uri());
  auto stream = decode_recording(cfg.recordings_dir() + "/" + screen_row->path, ring);
  CHECK(stream.ccenx_state == crypto::to_string(crypto::ccenx_state::complete));
  CHECK(stream.error.empty());
  std::vector<std::vector<std::uint8_t>> got;
  std::size_t metadata = 0;
  for (const auto& r : stream.records) {
    if (r.type == media::record_type::screen)
      got.push_back(r.payload);
    else if (r.type == media::record_type::metadata)
      ++metadata;
    else
      FAIL("unexpected record type " << static_cast<int>(r.type));
  }
  CHECK(metadata == 1);
  REQUIRE(got.size() == frames);
  CHECK(got == sent);
  require_no_orphans(cfg);
}

TEST_CASE("no free media port: the answer says busy and the call goes on", "[engine]") {
  // Three ports: the first call takes two, the second finds one. Another
  // program may hold a port of the range; then the first call is busy too,
  // and the test tries the next range.
  constexpr int tries = 5;
  for (int attempt = 0; attempt < tries; ++attempt) {
    temp_dir dir;
    auto cfg = test_config(dir);
    cfg.media_port_high = static_cast<std::uint16_t>(cfg.media_port_low + 2);
    actor_env env;
    auto eng = start_engine(env.sys(), cfg);
    caf::scoped_actor self{env.sys()};
    auto cm = eng->call_manager();

    REQUIRE(send_event(self, cm, call_offered(1, "first")).ok);
    auto first = send_event(self, cm, call_answered(2, "first", "a1"));
    if (!first.record && first.error == "busy" && attempt + 1 < tries)
      continue;
    REQUIRE(first.record);
    REQUIRE(send_event(self, cm, call_offered(3, "second")).ok);
    auto second = send_event(self, cm, call_answered(4, "second", "a2"));
    CHECK_FALSE(second.ok);
    CHECK(second.error == "busy");
    CHECK(second.message == "recording could not start: no free media port in " +
                                std::to_string(cfg.media_port_low) + "-" +
                                std::to_string(cfg.media_port_high));
    CHECK_FALSE(second.record);

    // The unrecorded call still ends normally; the first recording is intact.
    CHECK(send_event(self, cm, call_event(5, "call_ended", "second")).ok);
    CHECK(send_event(self, cm, call_event(6, "call_ended", "first")).ok);
    auto row = wait_final_recording(cfg.database_uri(), first.recording_id);
    REQUIRE(row);
    CHECK(row->status == "complete");

    auto rows = recording_rows(cfg.database_uri());
    REQUIRE(rows.size() == 2);
    auto failed = rows[0].id == first.recording_id ? rows[1] : rows[0];
    CHECK(failed.call_id == "second");
    CHECK(failed.status == "failed");
    auto status = eng->status();
    CHECK(status.recordings_started == 2);
    CHECK(status.recordings_failed == 1);
    CHECK(status.active_recordings == 0);
    require_no_orphans(cfg);
    return;
  }
}

TEST_CASE("no free media port for a screen recording leaves no orphan file", "[engine]") {
  // The screen file exists before the ports are asked for; a failed start
  // must give it a row too.
  temp_dir dir;
  auto cfg = test_config(dir);
  cfg.media_port_high = static_cast<std::uint16_t>(cfg.media_port_low + 4);  // 5 ports
  schedule screens;
  screens.name = "with-screen";
  screens.screen = true;
  cfg.schedules = {screens};
  running_engine run{cfg};

  REQUIRE(send_event(run.self, run.cm, call_offered(1, "first")).ok);
  REQUIRE(send_event(run.self, run.cm, call_answered(2, "first", "a1")).record);
  REQUIRE(send_event(run.self, run.cm, call_offered(3, "second")).ok);
  auto second = send_event(run.self, run.cm, call_answered(4, "second", "a2"));
  CHECK(second.error == "busy");
  run.eng->stop();

  for (const auto& row : recording_rows(cfg.database_uri())) {
    INFO(row.id);
    CHECK(row.status != "recording");
  }
  require_no_orphans(cfg);
}

TEST_CASE("recording_control starts, pauses, resumes and stops a recording", "[engine]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  schedule supervisor;
  supervisor.name = "supervisor";
  supervisor.mode = "on_demand";
  supervisor.agents = {"a1"};
  supervisor.retention_days = 7;
  cfg.schedules = {supervisor};
  running_engine run{cfg};
  run.subscribe_events();

  REQUIRE(send_event(run.self, run.cm, call_offered(1, "od-1")).ok);
  auto answered = send_event(run.self, run.cm, call_answered(2, "od-1", "a1"));
  REQUIRE(answered.ok);
  CHECK_FALSE(answered.record);
  CHECK(answered.media.empty());

  auto started = send_event(run.self, run.cm, recording_control(3, "od-1", "start"));
  REQUIRE(started.ok);
  REQUIRE(started.record);
  CHECK(started.schedule == "supervisor");
  auto caller = endpoint_named(started, "caller");
  REQUIRE(caller);
  auto again = send_event(run.self, run.cm, recording_control(4, "od-1", "start"));
  // Already recording: the answer names the running recording and its
  // ports again; no second recording starts.
  CHECK(again.ok);
  CHECK(again.record);
  CHECK(again.recording_id == started.recording_id);
  CHECK(again.media.size() == started.media.size());
  CHECK(endpoint_named(again, "caller")->port == caller->port);

  // Packets 0-4 recorded, 5-9 sent while paused, 10-14 recorded.
  udp_sender udp;
  auto send_range = [&](std::size_t from, std::size_t to) {
    for (std::size_t k = from; k < to; ++k)
      udp.send(caller->port, caller_rtp(k));
    std::this_thread::sleep_for(media_settle);
  };
  send_range(0, 5);
  REQUIRE(send_event(run.self, run.cm, recording_control(5, "od-1", "pause")).ok);
  std::this_thread::sleep_for(media_settle);
  send_range(5, 10);
  REQUIRE(send_event(run.self, run.cm, recording_control(6, "od-1", "resume")).ok);
  std::this_thread::sleep_for(media_settle);
  send_range(10, 15);
  REQUIRE(send_event(run.self, run.cm, recording_control(7, "od-1", "stop")).ok);

  auto row = wait_final_recording(cfg.database_uri(), started.recording_id);
  REQUIRE(row);
  CHECK(row->status == "complete");
  CHECK(row->schedule == "supervisor");
  CHECK(row->retention_days == 7);
  CHECK(row->packets == 10);

  auto ring = open_test_keyring(cfg.database_uri());
  auto stream = decode_recording(cfg.recordings_dir() + "/" + row->path, ring);
  CHECK(stream.ccenx_state == crypto::to_string(crypto::ccenx_state::complete));
  CHECK(stream.error.empty());
  std::vector<std::string> markers;
  std::vector<std::uint8_t> first_bytes;  // identifies each packet
  for (const auto& r : stream.records) {
    if (r.type == media::record_type::marker)
      markers.emplace_back(r.payload.begin(), r.payload.end());
    if (r.type == media::record_type::audio) {
      REQUIRE(r.payload.size() == g711_frame_bytes);
      first_bytes.push_back(r.payload[0]);
    }
  }
  CHECK(markers == std::vector<std::string>{"pause", "resume"});
  std::vector<std::uint8_t> expected;
  for (std::size_t k : {0, 1, 2, 3, 4, 10, 11, 12, 13, 14})
    expected.push_back(caller_byte(k, 0));
  CHECK(first_bytes == expected);

  // The call goes on unrecorded; controls now find nothing to control.
  auto late_pause = send_event(run.self, run.cm, recording_control(8, "od-1", "pause"));
  CHECK(late_pause.error == "bad_state");
  CHECK(send_event(run.self, run.cm, call_event(9, "call_ended", "od-1")).ok);
  auto call = call_row(cfg.database_uri(), "od-1");
  REQUIRE(call);
  CHECK(call->decision == "recorded");
  CHECK(call->schedule == "supervisor");

  auto notes = collect_events(run.events, 2);
  REQUIRE(notes.size() == 2);
  CHECK(notes[1].state == "stopped");
  CHECK(notes[1].detail == "stopped_on_demand");
}

TEST_CASE("a call no schedule wants is not recorded", "[engine]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  schedule sales;
  sales.name = "sales-only";
  sales.queues = {"sales"};
  cfg.schedules = {sales};
  running_engine run{cfg};

  REQUIRE(send_event(run.self, run.cm, call_offered(1, "n1", "outbound", "support")).ok);
  auto answered = send_event(run.self, run.cm, call_answered(2, "n1", "a1"));
  CHECK(answered.ok);
  CHECK_FALSE(answered.record);
  CHECK(answered.recording_id.empty());
  CHECK(answered.media.empty());
  auto transfer = call_event(3, "call_transferred", "n1");
  transfer.agent = "a2";
  CHECK(send_event(run.self, run.cm, transfer).ok);
  REQUIRE(send_event(run.self, run.cm, call_event(4, "call_ended", "n1")).ok);

  run.eng->stop();
  auto call = call_row(cfg.database_uri(), "n1");
  REQUIRE(call);
  CHECK(call->decision == "not_recorded");
  CHECK(call->schedule.empty());
  CHECK(call->direction == "outbound");
  CHECK(call->queue == "support");
  CHECK(call->state == "ended");
  CHECK(call->agent == "a2");
  CHECK(recording_rows(cfg.database_uri()).empty());
  CHECK(files_under(cfg.recordings_dir()).empty());
}

TEST_CASE("a schedule's maximum length stops the recording, not the call", "[engine]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  schedule capped;
  capped.name = "capped";
  capped.max_seconds = 1;
  cfg.schedules = {capped};
  running_engine run{cfg};
  run.subscribe_events();

  REQUIRE(send_event(run.self, run.cm, call_offered(1, "cap-1")).ok);
  auto answered = send_event(run.self, run.cm, call_answered(2, "cap-1", "a1"));
  REQUIRE(answered.record);

  auto notes = collect_events(run.events, 2);
  REQUIRE(notes.size() == 2);
  CHECK(notes[0].state == "started");
  CHECK(notes[1].state == "stopped");
  CHECK(notes[1].detail == "max_length");
  auto row = wait_final_recording(cfg.database_uri(), answered.recording_id);
  REQUIRE(row);
  CHECK(row->status == "complete");
  CHECK(row->ended_ms - row->started_ms >= 1000);

  CHECK(run.eng->status().active_calls == 1);
  CHECK(send_event(run.self, run.cm, call_event(3, "call_ended", "cap-1")).ok);
  CHECK(run.eng->status().active_calls == 0);
}

TEST_CASE("an on-demand start before the answer is the call's one recording", "[engine]") {
  temp_dir dir;
  auto cfg = test_config(dir);
  std::string recording_id;
  {
    actor_env env;
    auto eng = start_engine(env.sys(), cfg);
    caf::scoped_actor self{env.sys()};
    auto cm = eng->call_manager();
    REQUIRE(send_event(self, cm, call_offered(1, "early")).ok);
    auto started = send_event(self, cm, recording_control(2, "early", "start"));
    REQUIRE(started.record);
    recording_id = started.recording_id;

    auto answered = send_event(self, cm, call_answered(3, "early", "a1"));
    REQUIRE(answered.ok);
    CHECK(answered.record);
    CHECK(answered.recording_id == recording_id);
    CHECK(endpoint_named(answered, "caller")->port == endpoint_named(started, "caller")->port);
    REQUIRE(send_event(self, cm, call_event(4, "call_ended", "early")).ok);
    eng->stop();
  }  // the actor system ends here: nothing may keep it waiting

  auto rows = recording_rows(cfg.database_uri());
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].id == recording_id);
  CHECK(rows[0].status == "complete");
  require_no_orphans(cfg);
}

namespace {

constexpr std::uint32_t stray_ssrc = 0xAAA;
constexpr std::uint32_t own_ssrc = 0xCCC;
constexpr std::uint8_t stray_byte = 0x44;

std::vector<std::uint8_t> stray_rtp(std::size_t k) {
  return rtp_packet(static_cast<std::uint16_t>(300 + k),
                    static_cast<std::uint32_t>(99000 + k * g711_frame_bytes), stray_ssrc,
                    [](std::size_t) { return stray_byte; });
}

std::vector<std::uint8_t> own_rtp(std::size_t k) {
  return rtp_packet(static_cast<std::uint16_t>(7000 + k),
                    static_cast<std::uint32_t>(1000 + k * g711_frame_bytes), own_ssrc,
                    [k](std::size_t j) { return caller_byte(k, j); });
}

struct answered_call {
  std::string recording_id;
  std::uint16_t caller = 0;
  std::uint16_t agent = 0;
};

// Offers and answers call `id` (agent a1 logged in), which is recorded.
answered_call answer_call(running_engine& run, std::int64_t seq, const std::string& id) {
  REQUIRE(send_event(run.self, run.cm, call_offered(seq, id, "inbound", "sales")).ok);
  auto answered = send_event(run.self, run.cm, call_answered(seq + 1, id, "a1"));
  REQUIRE(answered.record);
  return {answered.recording_id, endpoint_named(answered, "caller")->port,
          endpoint_named(answered, "agent")->port};
}

}  // namespace

TEST_CASE("a second RTP stream on a leg's port is dropped, the call's own audio kept",
          "[engine][media]") {
  constexpr std::size_t own_packets = 100;
  constexpr std::size_t garbage = 3;
  temp_dir dir;
  auto cfg = test_config(dir);
  running_engine run{cfg};
  REQUIRE(send_event(run.self, run.cm, agent_login(1, "a1")).ok);
  auto call = answer_call(run, 2, "c1");

  // The call's stream and a stray one alternate, packet for packet.
  udp_sender udp;
  for (std::size_t k = 0; k < own_packets; ++k) {
    udp.send(call.caller, own_rtp(k));
    udp.send(call.caller, stray_rtp(k));
  }
  for (std::size_t k = 0; k < agent_packets; ++k)
    udp.send(call.agent, agent_rtp(k));
  for (std::size_t k = 0; k < garbage; ++k)
    udp.send(call.agent, {0x01, 0x02, 0x03});
  std::this_thread::sleep_for(media_settle);
  REQUIRE(send_event(run.self, run.cm, call_event(4, "call_ended", "c1")).ok);

  auto row = wait_final_recording(cfg.database_uri(), call.recording_id);
  REQUIRE(row);
  CHECK(row->status == "complete");
  CHECK(row->packets == static_cast<std::int64_t>(own_packets + agent_packets));

  auto ring = open_test_keyring(cfg.database_uri());
  auto wav_path = dir.file("c1.wav");
  auto played = play_recording(cfg.recordings_dir() + "/" + row->path, ring, wav_path);
  REQUIRE(played.ok());
  CHECK(played->stats.leg_samples[0] == own_packets * g711_frame_bytes);
  CHECK(played->stats.leg_samples[1] == agent_packets * g711_frame_bytes);
  auto wav = read_wav(wav_path);
  require_channel(wav.left, own_packets, caller_byte);
  require_channel(wav.right, agent_packets, agent_byte);

  auto status = run.eng->status();
  CHECK(status.media.packets == 2 * own_packets + agent_packets + garbage);
  CHECK(status.media.foreign_ssrc == own_packets);
  CHECK(status.media.invalid == garbage);
  CHECK(status.media.late == 0);
  CHECK(status.media.duplicates == 0);
  CHECK(status.media.after_end == 0);
}

TEST_CASE("a port that RTP keeps hitting after its call ended goes to no new call",
          "[engine][media]") {
  constexpr auto settle = std::chrono::milliseconds{700};  // > late_grace_ms + a cycle
  temp_dir dir;
  auto cfg = test_config(dir);
  cfg.media_port_high = static_cast<std::uint16_t>(cfg.media_port_low + 3);  // two calls' worth
  running_engine run{cfg};
  REQUIRE(send_event(run.self, run.cm, agent_login(1, "a1")).ok);

  auto first = answer_call(run, 10, "c1");
  REQUIRE(send_event(run.self, run.cm, call_event(12, "call_ended", "c1")).ok);
  REQUIRE(wait_final_recording(cfg.database_uri(), first.recording_id));

  // A sender of the ended call never stops, every 20 ms.
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> sent{0};
  std::thread stray{[&] {
    udp_sender udp;
    while (!stop) {
      udp.send(first.caller, stray_rtp(sent));
      ++sent;
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
  }};
  std::this_thread::sleep_for(settle);

  // The next calls take the other ports; once they are free again, the
  // pool still passes over the stray's port.
  auto second = answer_call(run, 20, "c2");
  REQUIRE(send_event(run.self, run.cm, call_event(22, "call_ended", "c2")).ok);
  std::this_thread::sleep_for(settle);
  auto third = answer_call(run, 30, "c3");
  const std::set<std::uint16_t> free_ports{first.agent, second.caller, second.agent};
  CHECK(free_ports.count(third.caller) == 1);
  CHECK(free_ports.count(third.agent) == 1);
  REQUIRE(send_event(run.self, run.cm, call_event(32, "call_ended", "c3")).ok);

  // Once the stray has been quiet for late_grace_ms, its port is free.
  stop = true;
  stray.join();
  std::this_thread::sleep_for(settle);
  auto fourth = answer_call(run, 40, "c4");
  CHECK((fourth.caller == first.caller || fourth.agent == first.caller));
  REQUIRE(send_event(run.self, run.cm, call_event(42, "call_ended", "c4")).ok);

  auto status = run.eng->status();
  CHECK(status.media.after_end == sent.load());
  CHECK(status.media.packets == 0);
  CHECK(status.media.foreign_ssrc == 0);
}
