// cti_codec: every malformed CTI message is refused with the right code and
// a message naming the problem; replies encode to the documented JSON.
#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "actors/cti_codec.hpp"
#include "common/log_text.hpp"

using namespace ccrec;

namespace {

constexpr std::int64_t receive_ms = 1700000000123;

// A valid event of `type` with every field it requires, as JSON text, plus
// `extra` (a JSON fragment starting with a comma, or "").
std::string event_json(const std::string& type, const std::string& extra = "") {
  static const std::map<std::string, std::string> required = {
      {"agent_login", R"("agent":"a1")"},
      {"agent_logout", R"("agent":"a1")"},
      {"call_offered", R"("call_id":"c1","direction":"inbound")"},
      {"call_answered", R"("call_id":"c1","agent":"a1")"},
      {"call_held", R"("call_id":"c1")"},
      {"call_retrieved", R"("call_id":"c1")"},
      {"call_transferred", R"("call_id":"c1","agent":"a2")"},
      {"call_ended", R"("call_id":"c1")"},
      {"recording_control", R"("call_id":"c1","action":"pause")"},
  };
  return R"({"v":1,"type":")" + type + R"(","seq":7,)" + required.at(type) + extra + "}";
}

// Decodes `text` and requires a failure with `code` and exactly `message`.
void require_refused(const std::string& text, const std::string& code, const std::string& message) {
  INFO("input: " << text.substr(0, 200));
  auto ev = decode_cti_event(text, receive_ms);
  REQUIRE_FALSE(ev.ok());
  CHECK(ev.error().code == code);
  CHECK(ev.error().message == message);
}

}  // namespace

TEST_CASE("a full call_offered decodes every field", "[cti_codec]") {
  auto text =
      R"({"v":1,"type":"call_offered","seq":42,"ts":1700000000000,"pbx":"pbx-east",)"
      R"("call_id":"call-0001","direction":"inbound","from":"+441234","to":"+449876",)"
      R"("queue":"sales","extension":"2001","legs":[{"name":"caller","address":"10.0.0.1:4000"},)"
      R"({"name":"agent","address":"10.0.0.2:4002"}]})";
  auto ev = decode_cti_event(text, receive_ms);
  REQUIRE(ev.ok());
  CHECK(ev->type == "call_offered");
  CHECK(ev->seq == 42);
  CHECK(ev->ts_ms == 1700000000000);
  CHECK(ev->pbx == "pbx-east");
  CHECK(ev->call_id == "call-0001");
  CHECK(ev->direction == "inbound");
  CHECK(ev->from == "+441234");
  CHECK(ev->to == "+449876");
  CHECK(ev->queue == "sales");
  CHECK(ev->extension == "2001");
  REQUIRE(ev->legs.size() == 2);
  CHECK(ev->legs[0].name == "caller");
  CHECK(ev->legs[0].address == "10.0.0.1:4000");
  CHECK(ev->legs[1].name == "agent");
  CHECK(ev->legs[1].address == "10.0.0.2:4002");
}

TEST_CASE("a missing ts takes the receive time", "[cti_codec]") {
  auto ev = decode_cti_event(event_json("call_ended"), receive_ms);
  REQUIRE(ev.ok());
  CHECK(ev->ts_ms == receive_ms);
  CHECK(ev->seq == 7);
}

TEST_CASE("each of the nine event types decodes with its required fields", "[cti_codec]") {
  for (const auto* type :
       {"agent_login", "agent_logout", "call_offered", "call_answered", "call_held",
        "call_retrieved", "call_transferred", "call_ended", "recording_control"}) {
    INFO(type);
    auto ev = decode_cti_event(event_json(type), receive_ms);
    REQUIRE(ev.ok());
    CHECK(ev->type == type);
  }
}

TEST_CASE("text that is not a JSON object is bad_json", "[cti_codec]") {
  require_refused("this is not json", "bad_json", "message is not valid JSON");
  require_refused("{\"v\":1,", "bad_json", "message is not valid JSON");
  require_refused("", "bad_json", "message is not valid JSON");
  require_refused(std::string{"\x00\xff\xfe\x01", 4}, "bad_json", "message is not valid JSON");
  require_refused(R"([{"v":1,"type":"call_ended","seq":1,"call_id":"c1"}])", "bad_json",
                  "message is JSON but not an object");
  require_refused("42", "bad_json", "message is JSON but not an object");
  require_refused(R"("call_ended")", "bad_json", "message is JSON but not an object");
}

TEST_CASE("type problems are bad_event", "[cti_codec]") {
  require_refused(R"({"v":1,"seq":1,"call_id":"c1"})", "bad_event",
                  "event: missing required string field 'type'");
  require_refused(R"({"v":1,"type":7,"seq":1})", "bad_event",
                  "event: missing required string field 'type'");
  require_refused(R"({"v":1,"type":"call_exploded","seq":1,"call_id":"c1"})", "bad_event",
                  "event: unknown event type 'call_exploded'");
}

TEST_CASE("version and seq problems name the field", "[cti_codec]") {
  require_refused(R"({"type":"call_ended","seq":1,"call_id":"c1"})", "bad_event",
                  "call_ended: missing required integer field 'v'");
  require_refused(R"({"v":"1","type":"call_ended","seq":1,"call_id":"c1"})", "bad_event",
                  "call_ended: field 'v' must be an integer, not string");
  require_refused(R"({"v":2,"type":"call_ended","seq":1,"call_id":"c1"})", "bad_event",
                  "call_ended: protocol version 2 is not supported (only 1)");
  require_refused(R"({"v":1,"type":"call_ended","call_id":"c1"})", "bad_event",
                  "call_ended: missing required integer field 'seq'");
  require_refused(R"({"v":1,"type":"call_ended","seq":"5","call_id":"c1"})", "bad_event",
                  "call_ended: field 'seq' must be an integer, not string");
  require_refused(R"({"v":1,"type":"call_ended","seq":1.5,"call_id":"c1"})", "bad_event",
                  "call_ended: field 'seq' must be an integer, not number");
  require_refused(R"({"v":1,"type":"call_ended","seq":null,"call_id":"c1"})", "bad_event",
                  "call_ended: missing required integer field 'seq'");
  require_refused(R"({"v":1,"type":"call_ended","seq":1,"ts":"now","call_id":"c1"})", "bad_event",
                  "call_ended: field 'ts' must be integer milliseconds");
}

TEST_CASE("every required field of every event type is checked", "[cti_codec]") {
  struct missing_case {
    const char* type;
    const char* json_fields;  // everything required except `missing`
    const char* missing;
  };
  const missing_case cases[] = {
      {"agent_login", R"("extension":"2001")", "agent"},
      {"agent_logout", "", "agent"},
      {"call_offered", R"("direction":"inbound")", "call_id"},
      {"call_offered", R"("call_id":"c1")", "direction"},
      {"call_answered", R"("agent":"a1")", "call_id"},
      {"call_answered", R"("call_id":"c1")", "agent"},
      {"call_held", "", "call_id"},
      {"call_retrieved", "", "call_id"},
      {"call_transferred", R"("agent":"a2")", "call_id"},
      {"call_transferred", R"("call_id":"c1")", "agent"},
      {"call_ended", "", "call_id"},
      {"recording_control", R"("action":"start")", "call_id"},
      {"recording_control", R"("call_id":"c1")", "action"},
  };
  for (const auto& c : cases) {
    std::string fields = c.json_fields;
    auto text = std::string{R"({"v":1,"seq":3,"type":")"} + c.type + "\"" +
                (fields.empty() ? "" : "," + fields) + "}";
    require_refused(text, "bad_event",
                    std::string{c.type} + ": missing required field '" + c.missing + "'");

    // An empty string is as good as missing.
    auto empty = std::string{R"({"v":1,"seq":3,"type":")"} + c.type + R"(",")" + c.missing +
                 R"(":"")" + (fields.empty() ? "" : "," + fields) + "}";
    require_refused(empty, "bad_event",
                    std::string{c.type} + ": missing required field '" + c.missing + "'");
  }
}

TEST_CASE("a field of the wrong type names the field", "[cti_codec]") {
  require_refused(event_json("call_offered", R"(,"from":12345)"), "bad_event",
                  "call_offered: field 'from' must be a string");
  require_refused(R"({"v":1,"type":"call_ended","seq":1,"call_id":17})", "bad_event",
                  "call_ended: field 'call_id' must be a string");
  require_refused(event_json("call_answered", R"(,"queue":["sales"])"), "bad_event",
                  "call_answered: field 'queue' must be a string");
  require_refused(event_json("call_offered", R"(,"legs":[{"name":"caller","address":5}])"),
                  "bad_event", "call_offered: field 'address' must be a string");
}

TEST_CASE("strings are limited to 256 bytes", "[cti_codec]") {
  std::string at_limit(cti_max_string_bytes, 'q');
  auto ok =
      decode_cti_event(event_json("call_answered", R"(,"queue":")" + at_limit + "\""), receive_ms);
  REQUIRE(ok.ok());
  CHECK(ok->queue == at_limit);

  std::string over(cti_max_string_bytes + 1, 'q');
  require_refused(event_json("call_answered", R"(,"queue":")" + over + "\""), "bad_event",
                  "call_answered: field 'queue' is longer than 256 bytes");
  require_refused(R"({"v":1,"type":"call_ended","seq":1,"call_id":")" + over + "\"}", "bad_event",
                  "call_ended: field 'call_id' is longer than 256 bytes");
}

TEST_CASE("call_id and agent must be printable ASCII without spaces", "[cti_codec]") {
  require_refused(R"({"v":1,"type":"call_ended","seq":1,"call_id":"call 1"})", "bad_event",
                  "call_ended: field 'call_id' must be printable ASCII without spaces");
  require_refused(R"({"v":1,"type":"call_ended","seq":1,"call_id":"call\u0001x"})", "bad_event",
                  "call_ended: field 'call_id' must be printable ASCII without spaces");
  require_refused(R"({"v":1,"type":"call_ended","seq":1,"call_id":"call\tx"})", "bad_event",
                  "call_ended: field 'call_id' must be printable ASCII without spaces");
  require_refused(R"({"v":1,"type":"call_ended","seq":1,"call_id":"caf\u00e9"})", "bad_event",
                  "call_ended: field 'call_id' must be printable ASCII without spaces");
  require_refused(R"({"v":1,"type":"agent_login","seq":1,"agent":"jo smith"})", "bad_event",
                  "agent_login: field 'agent' must be printable ASCII without spaces");
}

TEST_CASE("direction and action take only their listed values", "[cti_codec]") {
  require_refused(R"({"v":1,"type":"call_offered","seq":1,"call_id":"c1","direction":"sideways"})",
                  "bad_event",
                  "call_offered: field 'direction' must be inbound, outbound or internal, not "
                  "'sideways'");
  require_refused(R"({"v":1,"type":"recording_control","seq":1,"call_id":"c1","action":"rewind"})",
                  "bad_event",
                  "recording_control: field 'action' must be start, stop, pause or resume, not "
                  "'rewind'");
  for (const auto* action : {"start", "stop", "pause", "resume"}) {
    auto ev = decode_cti_event(R"({"v":1,"type":"recording_control","seq":1,"call_id":"c1",)"
                               R"("action":")" +
                                   std::string{action} + "\"}",
                               receive_ms);
    REQUIRE(ev.ok());
    CHECK(ev->action == action);
  }
}

TEST_CASE("legs must be an array of at most 8 objects", "[cti_codec]") {
  const std::string message = "call_offered: field 'legs' must be an array of at most 8 objects";
  require_refused(event_json("call_offered", R"(,"legs":{"name":"caller"})"), "bad_event", message);
  require_refused(event_json("call_offered", R"(,"legs":"caller")"), "bad_event", message);

  std::string nine = R"(,"legs":[)";
  for (int i = 0; i < 9; ++i)
    nine += std::string{i ? "," : ""} + R"({"name":"caller","address":"1.2.3.4:5"})";
  require_refused(event_json("call_offered", nine + "]"), "bad_event", message);

  require_refused(event_json("call_offered", R"(,"legs":["caller"])"), "bad_event",
                  "call_offered: each entry of 'legs' must be an object");
}

TEST_CASE("messages are limited to 64 KiB", "[cti_codec]") {
  // Pad a valid event with whitespace to exactly the limit: still accepted.
  auto base = event_json("call_ended");
  auto at_limit = base + std::string(cti_max_message_bytes - base.size(), ' ');
  REQUIRE(at_limit.size() == 65536);
  REQUIRE(decode_cti_event(at_limit, receive_ms).ok());

  require_refused(at_limit + " ", "bad_json",
                  "message of 65537 bytes is larger than the limit of 65536");
}

TEST_CASE("salvage_seq recovers seq from undecodable events", "[cti_codec]") {
  CHECK(salvage_seq(R"({"v":1,"type":"call_answered","seq":99,"call_id":"c1"})") == 99);
  CHECK(salvage_seq(R"({"v":9,"type":"nonsense","seq":-4})") == -4);
  CHECK(salvage_seq(R"({"seq":"12"})") == 0);
  CHECK(salvage_seq(R"({"type":"call_ended"})") == 0);
  CHECK(salvage_seq(R"([1,2,3])") == 0);
  CHECK(salvage_seq("not json at all") == 0);
  CHECK(salvage_seq("") == 0);
}

TEST_CASE("encode_cti_reply writes the documented JSON", "[cti_codec]") {
  SECTION("ok without a recording") {
    cti_reply r;
    r.seq = 12;
    CHECK(encode_cti_reply(r) == R"({"ok":true,"record":false,"seq":12,"type":"ack","v":1})");
  }
  SECTION("an error") {
    cti_reply r;
    r.seq = 13;
    r.ok = false;
    r.error = "bad_event";
    r.message = "call_answered: missing required field 'agent'";
    r.record = true;  // ignored on failure
    CHECK(encode_cti_reply(r) ==
          R"({"error":"bad_event","message":"call_answered: missing required field 'agent'",)"
          R"("ok":false,"seq":13,"type":"ack","v":1})");
  }
  SECTION("a recording without screen") {
    cti_reply r;
    r.seq = 14;
    r.record = true;
    r.recording_id = "r-0a1b2c";
    r.schedule = "all-calls";
    r.media = {{"caller", "127.0.0.1", 40002}, {"agent", "127.0.0.1", 40004}};
    CHECK(encode_cti_reply(r) ==
          R"({"media":{"agent":{"host":"127.0.0.1","port":40004},)"
          R"("caller":{"host":"127.0.0.1","port":40002}},"ok":true,"record":true,)"
          R"("recording_id":"r-0a1b2c","schedule":"all-calls","screen":null,"seq":14,)"
          R"("type":"ack","v":1})");
  }
  SECTION("a recording with screen") {
    cti_reply r;
    r.seq = 15;
    r.record = true;
    r.recording_id = "r-9";
    r.schedule = "screens";
    r.media = {{"caller", "127.0.0.1", 40010},
               {"agent", "127.0.0.1", 40011},
               {"screen", "127.0.0.1", 40012}};
    CHECK(encode_cti_reply(r) ==
          R"({"media":{"agent":{"host":"127.0.0.1","port":40011},)"
          R"("caller":{"host":"127.0.0.1","port":40010}},"ok":true,"record":true,)"
          R"("recording_id":"r-9","schedule":"screens",)"
          R"("screen":{"host":"127.0.0.1","port":40012},"seq":15,"type":"ack","v":1})");
  }
}

TEST_CASE("log_safe escapes control characters and shortens long text", "[cti_codec][log_text]") {
  CHECK(log_safe("call-0001") == "call-0001");
  CHECK(log_safe("") == "");
  CHECK(log_safe("a\nb\rc\td\\e") == "a\\nb\\rc\\td\\\\e");
  CHECK(log_safe(std::string{"x\x1b[31m\x7f\0y", 9}) == "x\\x1b[31m\\x7f\\x00y");
  CHECK(log_safe(std::string(64, 'a')) == std::string(64, 'a'));
  CHECK(log_safe(std::string(65, 'a')) == std::string(64, 'a') + "\u2026");
  CHECK(log_safe("abcdef", 3) == "abc\u2026");
  // Valid UTF-8 stays; C1 controls, line separators and bidi overrides and
  // bytes that are not UTF-8 are escaped.
  CHECK(log_safe("caf\u00e9 \u65e5\u672c") == "caf\u00e9 \u65e5\u672c");
  CHECK(log_safe("a\u0085b\u2028c\u202ed") == "a\\u{0085}b\\u{2028}c\\u{202e}d");
  CHECK(log_safe("\xff\xc3(\xc0\x80") == "\\xff\\xc3(\\xc0\\x80");
  CHECK(log_safe("\xe2\x80") == "\\xe2\\x80");
  // One character is one code point: the limit never splits one.
  CHECK(log_safe("\u00e9\u00e9\u00e9", 2) == "\u00e9\u00e9\u2026");
}

TEST_CASE("wire values in error messages cannot forge a log line", "[cti_codec][log_text]") {
  require_refused(
      R"({"v":1,"seq":1,"type":"x\n2026-12-04T00:00:00.000 info FAKE LINE\u001b[31m"})",
      "bad_event",
      "event: unknown event type 'x\\n2026-12-04T00:00:00.000 info FAKE LINE\\x1b[31m'");
  require_refused(
      R"({"v":1,"seq":1,"type":"call_offered","call_id":"c1","direction":"in\r\nFAKE"})",
      "bad_event",
      "call_offered: field 'direction' must be inbound, outbound or internal, not 'in\\r\\nFAKE'");
  require_refused(
      R"({"v":1,"seq":1,"type":"recording_control","call_id":"c1","action":"go\u001b]0;x\u0007"})",
      "bad_event",
      "recording_control: field 'action' must be start, stop, pause or resume, not "
      "'go\\x1b]0;x\\x07'");
  require_refused(R"({"v":1,"seq":1,"type":")" + std::string(200, 't') + R"("})", "bad_event",
                  "event: unknown event type '" + std::string(64, 't') + "\u2026'");
}
