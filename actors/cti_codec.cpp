#include "actors/cti_codec.hpp"

#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "common/log_text.hpp"

namespace ccrec {

namespace {

using json = nlohmann::json;

// Which fields each event type requires beyond the common ones.
const std::map<std::string, std::vector<std::string>>& required_fields() {
  static const std::map<std::string, std::vector<std::string>> table = {
      {"agent_login", {"agent"}},
      {"agent_logout", {"agent"}},
      {"call_offered", {"call_id", "direction"}},
      {"call_answered", {"call_id", "agent"}},
      {"call_held", {"call_id"}},
      {"call_retrieved", {"call_id"}},
      {"call_transferred", {"call_id", "agent"}},
      {"call_ended", {"call_id"}},
      {"recording_control", {"call_id", "action"}},
  };
  return table;
}

error bad_event(const std::string& type, const std::string& what) {
  return make_error("bad_event", (type.empty() ? "event" : type) + ": " + what);
}

// Identifiers end up in file names and logs: printable ASCII, no spaces.
bool is_identifier(const std::string& s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f)
      return false;
  }
  return !s.empty();
}

// Reads an optional string field into `out`; fails on a wrong type or size.
result<void> read_string(const json& obj, const char* name, const std::string& type,
                         std::string& out) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null())
    return {};
  if (!it->is_string())
    return bad_event(type, std::string{"field '"} + name + "' must be a string");

  out = it->get<std::string>();
  if (out.size() > cti_max_string_bytes)
    return bad_event(type, std::string{"field '"} + name + "' is longer than " +
                               std::to_string(cti_max_string_bytes) + " bytes");
  return {};
}

result<void> read_legs(const json& obj, const std::string& type, cti_event& ev) {
  auto it = obj.find("legs");
  if (it == obj.end() || it->is_null())
    return {};
  if (!it->is_array() || it->size() > 8)
    return bad_event(type, "field 'legs' must be an array of at most 8 objects");

  for (const auto& leg : *it) {
    if (!leg.is_object())
      return bad_event(type, "each entry of 'legs' must be an object");
    leg_address addr;
    if (auto ok = read_string(leg, "name", type, addr.name); !ok)
      return ok;
    if (auto ok = read_string(leg, "address", type, addr.address); !ok)
      return ok;
    ev.legs.push_back(std::move(addr));
  }
  return {};
}

// Tells a missing field from one of the wrong type ("v":"1", "seq":1.5).
result<void> require_integer(const json& obj, const char* name, const std::string& type) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null())
    return bad_event(type, std::string{"missing required integer field '"} + name + "'");
  if (!it->is_number_integer())
    return bad_event(
        type, std::string{"field '"} + name + "' must be an integer, not " + it->type_name());
  return {};
}

result<void> read_common(const json& obj, cti_event& ev, std::int64_t now_ms) {
  if (auto ok = require_integer(obj, "v", ev.type); !ok)
    return ok;
  auto v = obj.find("v");
  if (v->get<std::int64_t>() != cti_protocol_version)
    return bad_event(ev.type, "protocol version " + v->dump() + " is not supported (only 1)");

  if (auto ok = require_integer(obj, "seq", ev.type); !ok)
    return ok;
  ev.seq = obj.find("seq")->get<std::int64_t>();

  ev.ts_ms = now_ms;
  if (auto ts = obj.find("ts"); ts != obj.end() && !ts->is_null()) {
    if (!ts->is_number_integer())
      return bad_event(ev.type, "field 'ts' must be integer milliseconds");
    ev.ts_ms = ts->get<std::int64_t>();
  }
  return {};
}

result<void> read_fields(const json& obj, cti_event& ev) {
  const std::pair<const char*, std::string*> fields[] = {
      {"pbx", &ev.pbx},       {"call_id", &ev.call_id},
      {"agent", &ev.agent},   {"extension", &ev.extension},
      {"queue", &ev.queue},   {"direction", &ev.direction},
      {"from", &ev.from},     {"to", &ev.to},
      {"action", &ev.action},
  };
  for (const auto& [name, target] : fields) {
    if (auto ok = read_string(obj, name, ev.type, *target); !ok)
      return ok;
  }
  return read_legs(obj, ev.type, ev);
}

// The value of a field that some event type requires.
const std::string& required_value(const cti_event& ev, const std::string& name) {
  if (name == "call_id")
    return ev.call_id;
  if (name == "agent")
    return ev.agent;
  if (name == "direction")
    return ev.direction;
  return ev.action;
}

result<void> check_values(const cti_event& ev) {
  static const std::set<std::string> directions = {"inbound", "outbound", "internal"};
  static const std::set<std::string> actions = {"start", "stop", "pause", "resume"};

  for (const auto& name : required_fields().at(ev.type)) {
    if (required_value(ev, name).empty())
      return bad_event(ev.type, "missing required field '" + name + "'");
  }
  if (!ev.call_id.empty() && !is_identifier(ev.call_id))
    return bad_event(ev.type, "field 'call_id' must be printable ASCII without spaces");
  if (!ev.agent.empty() && !is_identifier(ev.agent))
    return bad_event(ev.type, "field 'agent' must be printable ASCII without spaces");
  if (!ev.direction.empty() && directions.count(ev.direction) == 0)
    return bad_event(ev.type, "field 'direction' must be inbound, outbound or internal, not '" +
                                  log_safe(ev.direction) + "'");
  if (ev.type == "recording_control" && actions.count(ev.action) == 0)
    return bad_event(ev.type, "field 'action' must be start, stop, pause or resume, not '" +
                                  log_safe(ev.action) + "'");
  return {};
}

}  // namespace

result<cti_event> decode_cti_event(std::string_view text, std::int64_t now_ms) {
  if (text.size() > cti_max_message_bytes)
    return make_error("bad_json", "message of " + std::to_string(text.size()) +
                                      " bytes is larger than the limit of " +
                                      std::to_string(cti_max_message_bytes));

  auto obj = json::parse(text.begin(), text.end(), nullptr, false);
  if (obj.is_discarded())
    return make_error("bad_json", "message is not valid JSON");
  if (!obj.is_object())
    return make_error("bad_json", "message is JSON but not an object");

  cti_event ev;
  auto type = obj.find("type");
  if (type == obj.end() || !type->is_string())
    return bad_event("", "missing required string field 'type'");
  ev.type = type->get<std::string>();
  if (required_fields().count(ev.type) == 0)
    return bad_event("", "unknown event type '" + log_safe(ev.type) + "'");

  if (auto ok = read_common(obj, ev, now_ms); !ok)
    return ok.error();
  if (auto ok = read_fields(obj, ev); !ok)
    return ok.error();
  if (auto ok = check_values(ev); !ok)
    return ok.error();
  return ev;
}

std::int64_t salvage_seq(std::string_view text) {
  auto obj = json::parse(text.begin(), text.end(), nullptr, false);
  if (obj.is_discarded() || !obj.is_object())
    return 0;
  auto seq = obj.find("seq");
  return seq != obj.end() && seq->is_number_integer() ? seq->get<std::int64_t>() : 0;
}

std::string encode_cti_reply(const cti_reply& reply) {
  json out = {{"v", cti_protocol_version}, {"type", "ack"}, {"seq", reply.seq}, {"ok", reply.ok}};
  if (!reply.ok) {
    out["error"] = reply.error;
    out["message"] = reply.message;
    return out.dump();
  }

  out["record"] = reply.record;
  if (!reply.record)
    return out.dump();
  out["recording_id"] = reply.recording_id;
  out["schedule"] = reply.schedule;
  out["media"] = json::object();
  out["screen"] = nullptr;
  for (const auto& m : reply.media) {
    json endpoint = {{"host", m.host}, {"port", m.port}};
    if (m.name == "screen")
      out["screen"] = endpoint;
    else
      out["media"][m.name] = endpoint;
  }
  return out.dump();
}

}  // namespace ccrec
