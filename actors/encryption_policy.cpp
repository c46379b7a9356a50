#include "actors/encryption_policy.hpp"

#include <set>

namespace ccrec {

namespace {

const std::set<std::string>& methods() {
  static const std::set<std::string> known = {method_ccenx, method_plain_wav};
  return known;
}

const std::set<std::string>& xml_policies() {
  static const std::set<std::string> known = {xml_off, xml_plain, xml_encrypted};
  return known;
}

result<void> check_choice(const std::string& where, const std::string& method,
                          const std::string& xml) {
  if (!method.empty() && methods().count(method) == 0)
    return make_error("bad_config",
                      where + ": recording_method '" + method + "' is not ccenx or plain_wav");
  if (!xml.empty() && xml_policies().count(xml) == 0)
    return make_error("bad_config",
                      where + ": metadata_xml '" + xml + "' is not off, plain or encrypted");
  return {};
}

}  // namespace

encryption_policy::encryption_policy(const engine_config& cfg)
    : encryption_(cfg.encryption), default_xml_(cfg.metadata_xml) {
  for (const auto& p : cfg.pbx)
    pbx_[p.name] = choice{p.recording_method, p.metadata_xml};
  for (const auto& s : cfg.schedules)
    schedules_[s.name] = choice{s.recording_method, s.metadata_xml};
}

artefact_plan encryption_policy::decide(const std::string& pbx, const std::string& schedule) const {
  // Most specific first: the schedule, the PBX integration, the engine.
  std::string method = method_ccenx;
  std::string method_from = "engine default";
  std::string xml = default_xml_;
  std::string xml_from = "engine default";
  auto apply = [&](const std::map<std::string, choice>& table, const std::string& key,
                   const std::string& label) {
    auto it = table.find(key);
    if (it == table.end())
      return;
    if (!it->second.method.empty() && method_from == "engine default") {
      method = it->second.method;
      method_from = label + " '" + key + "'";
    }
    if (!it->second.xml.empty() && xml_from == "engine default") {
      xml = it->second.xml;
      xml_from = label + " '" + key + "'";
    }
  };
  apply(schedules_, schedule, "schedule");
  apply(pbx_, pbx, "pbx");

  artefact_plan plan;
  plan.method = method;
  plan.xml_policy = xml;
  plan.reason = "recording_method " + method + " (" + method_from + "), metadata_xml " + xml +
                " (" + xml_from + ")";
  if (method == method_plain_wav)
    plan.audio = audio_writer_kind::plain_wav;
  if (xml == xml_plain)
    plan.xml = xml_writer_kind::plain;
  if (xml == xml_encrypted)
    plan.xml = xml_writer_kind::ccenx;

  if (!encryption_) {
    plan.screen_encrypted = false;
    if (plan.audio == audio_writer_kind::ccenx) {
      plan.audio = audio_writer_kind::plain_raw;
      plan.method = method_none;
    }
    if (plan.xml == xml_writer_kind::ccenx) {
      plan.xml = xml_writer_kind::plain;
      plan.xml_policy = xml_plain;
    }
    plan.reason += "; encryption is disabled, so nothing is encrypted";
  }
  return plan;
}

std::vector<std::string> encryption_policy::exceptions() const {
  std::vector<std::string> out;
  if (!encryption_)
    out.push_back("encryption is disabled: every recording is written in the clear");
  auto describe = [&](const std::map<std::string, choice>& table, const std::string& label) {
    for (const auto& [name, c] : table) {
      if (c.method == method_plain_wav)
        out.push_back(label + " '" + name +
                      "': recording_method plain_wav (audio written as plain WAV, encrypted "
                      "later by the transcoder)");
      if (c.xml == xml_plain || c.xml == xml_encrypted)
        out.push_back(label + " '" + name + "': metadata_xml " + c.xml);
    }
  };
  if (default_xml_ != xml_off)
    out.push_back("engine: metadata_xml " + default_xml_ + " (per-call XML metadata files)");
  describe(pbx_, "pbx");
  describe(schedules_, "schedule");
  return out;
}

result<void> validate_policies(const engine_config& cfg) {
  if (auto ok = check_choice("[engine]", "", cfg.metadata_xml); !ok)
    return ok;
  if (cfg.metadata_xml.empty())
    return make_error("bad_config", "[engine]: metadata_xml must be off, plain or encrypted");

  std::set<std::string> names;
  for (const auto& p : cfg.pbx) {
    if (p.name.empty())
      return make_error("bad_config", "a [[pbx]] entry has no name");
    if (!names.insert(p.name).second)
      return make_error("bad_config", "pbx name '" + p.name + "' is used twice");
    if (p.recording_method.empty())
      return make_error("bad_config", "pbx '" + p.name + "': recording_method is empty");
    if (auto ok = check_choice("pbx '" + p.name + "'", p.recording_method, p.metadata_xml); !ok)
      return ok;
  }
  for (const auto& s : cfg.schedules) {
    if (auto ok = check_choice("schedule '" + s.name + "'", s.recording_method, s.metadata_xml);
        !ok)
      return ok;
  }
  return {};
}

}  // namespace ccrec
