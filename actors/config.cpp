#include "actors/config.hpp"

#include <set>

#include <toml++/toml.h>

#include "actors/encryption_policy.hpp"

namespace ccrec {

std::string engine_config::database_uri() const {
  if (!db.empty())
    return db;
  return "sqlite:" + data_dir + "/ccrec.db";
}

std::string engine_config::recordings_dir() const {
  return data_dir + "/recordings";
}

namespace {

error config_error(const std::string& path, const std::string& what) {
  return make_error("bad_config", path + ": " + what);
}

// Rejects keys this version does not know, naming the first one found.
result<void> check_keys(const toml::table& table, const std::set<std::string>& known,
                        const std::string& where, const std::string& path) {
  for (auto&& [key, value] : table) {
    (void)value;
    if (known.count(std::string{key.str()}) == 0)
      return config_error(path, "unknown key '" + std::string{key.str()} + "' in " + where);
  }
  return {};
}

std::vector<std::string> string_list(const toml::node_view<const toml::node>& node) {
  std::vector<std::string> out;
  if (auto arr = node.as_array()) {
    for (auto&& item : *arr) {
      if (auto s = item.value<std::string>())
        out.push_back(*s);
    }
  }
  return out;
}

result<schedule> read_schedule(const toml::table& t, const std::string& path) {
  static const std::set<std::string> known = {
      "name",   "mode",      "priority", "percentage",  "count",       "agents",        "queues",
      "direction", "screen", "min_seconds", "max_seconds", "retention_days",
      "recording_method", "metadata_xml"};
  if (auto ok = check_keys(t, known, "[[schedule]]", path); !ok)
    return ok.error();

  schedule s;
  s.name = t["name"].value_or(std::string{});
  s.mode = t["mode"].value_or(std::string{"all"});
  s.priority = t["priority"].value_or(0);
  s.percentage = t["percentage"].value_or(100.0);
  s.count = t["count"].value_or(std::int64_t{0});
  s.agents = string_list(t["agents"]);
  s.queues = string_list(t["queues"]);
  s.direction = t["direction"].value_or(std::string{"any"});
  s.screen = t["screen"].value_or(false);
  s.min_seconds = t["min_seconds"].value_or(std::int64_t{0});
  s.max_seconds = t["max_seconds"].value_or(std::int64_t{0});
  s.retention_days = t["retention_days"].value_or(std::int64_t{0});
  s.recording_method = t["recording_method"].value_or(std::string{});
  s.metadata_xml = t["metadata_xml"].value_or(std::string{});
  return s;
}

result<pbx_integration> read_pbx(const toml::table& t, const std::string& path) {
  static const std::set<std::string> known = {"name", "recording_method", "metadata_xml"};
  if (auto ok = check_keys(t, known, "[[pbx]]", path); !ok)
    return ok.error();

  pbx_integration p;
  p.name = t["name"].value_or(std::string{});
  p.recording_method = t["recording_method"].value_or(p.recording_method);
  p.metadata_xml = t["metadata_xml"].value_or(std::string{});
  return p;
}

result<void> read_engine_table(const toml::table& t, engine_config& cfg, const std::string& path) {
  static const std::set<std::string> known = {
      "data_dir",       "db",           "cti",      "media_host",        "media_ports",
      "encryption",     "kdf_profile",  "random_seed", "flush_interval_ms", "late_grace_ms",
      "db_probe_interval_ms", "cti_request_timeout_ms", "key_reload_interval_ms", "metadata_xml", "transcode",
      "transcode_interval_ms", "transcode_delay_ms",
      "db_timeout_ms", "wait_for_db_ms"};
  if (auto ok = check_keys(t, known, "[engine]", path); !ok)
    return ok.error();

  cfg.data_dir = t["data_dir"].value_or(cfg.data_dir);
  cfg.db = t["db"].value_or(cfg.db);
  cfg.cti_endpoint = t["cti"].value_or(cfg.cti_endpoint);
  cfg.media_host = t["media_host"].value_or(cfg.media_host);
  if (auto ports = t["media_ports"].value<std::string>()) {
    if (auto ok = parse_port_range(*ports, cfg); !ok)
      return ok.error().with_context(path);
  }
  cfg.encryption = t["encryption"].value_or(cfg.encryption);
  cfg.kdf_profile = t["kdf_profile"].value_or(cfg.kdf_profile);
  cfg.random_seed = t["random_seed"].value_or(cfg.random_seed);
  cfg.flush_interval_ms = t["flush_interval_ms"].value_or(cfg.flush_interval_ms);
  cfg.late_grace_ms = t["late_grace_ms"].value_or(cfg.late_grace_ms);
  cfg.db_probe_interval_ms = t["db_probe_interval_ms"].value_or(cfg.db_probe_interval_ms);
  cfg.cti_request_timeout_ms = t["cti_request_timeout_ms"].value_or(cfg.cti_request_timeout_ms);
  cfg.db_timeout_ms = t["db_timeout_ms"].value_or(cfg.db_timeout_ms);
  cfg.wait_for_db_ms = t["wait_for_db_ms"].value_or(cfg.wait_for_db_ms);
  cfg.key_reload_interval_ms = t["key_reload_interval_ms"].value_or(cfg.key_reload_interval_ms);
  cfg.metadata_xml = t["metadata_xml"].value_or(cfg.metadata_xml);
  cfg.transcode = t["transcode"].value_or(cfg.transcode);
  cfg.transcode_interval_ms = t["transcode_interval_ms"].value_or(cfg.transcode_interval_ms);
  cfg.transcode_delay_ms = t["transcode_delay_ms"].value_or(cfg.transcode_delay_ms);
  return {};
}

}  // namespace

result<engine_config> load_config_file(const std::string& path, engine_config base) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return config_error(path, std::string{"not valid TOML: "} + std::string{e.description()});
  }

  if (auto ok = check_keys(root, {"engine", "schedule", "pbx"}, "the top level", path); !ok)
    return ok.error();
  if (auto engine = root["engine"].as_table()) {
    if (auto ok = read_engine_table(*engine, base, path); !ok)
      return ok.error();
  }
  if (auto list = root["schedule"].as_array()) {
    base.schedules.clear();
    for (auto&& item : *list) {
      auto table = item.as_table();
      if (table == nullptr)
        return config_error(path, "[[schedule]] entries must be tables");
      auto s = read_schedule(*table, path);
      if (!s)
        return s.error();
      base.schedules.push_back(std::move(*s));
    }
  }

  if (auto list = root["pbx"].as_array()) {
    base.pbx.clear();
    for (auto&& item : *list) {
      auto table = item.as_table();
      if (table == nullptr)
        return config_error(path, "[[pbx]] entries must be tables");
      auto p = read_pbx(*table, path);
      if (!p)
        return p.error();
      base.pbx.push_back(std::move(*p));
    }
  }

  if (auto ok = validate_config(base); !ok)
    return ok.error().with_context(path);
  return base;
}

result<void> parse_port_range(const std::string& text, engine_config& cfg) {
  auto dash = text.find('-');
  if (dash == std::string::npos)
    return make_error("bad_config", "media ports '" + text + "' are not LOW-HIGH");

  try {
    auto low = std::stoul(text.substr(0, dash));
    auto high = std::stoul(text.substr(dash + 1));
    if (low == 0 || high > 65535 || low > high)
      return make_error("bad_config", "media ports '" + text + "' are not a range in 1-65535");
    cfg.media_port_low = static_cast<std::uint16_t>(low);
    cfg.media_port_high = static_cast<std::uint16_t>(high);
  } catch (const std::exception&) {
    return make_error("bad_config", "media ports '" + text + "' are not LOW-HIGH numbers");
  }
  return {};
}

result<void> validate_config(const engine_config& cfg) {
  static const std::set<std::string> modes = {"all", "percentage", "count", "on_demand"};
  static const std::set<std::string> directions = {"any", "inbound", "outbound", "internal"};
  static const std::set<std::string> profiles = {"moderate", "test"};

  if (profiles.count(cfg.kdf_profile) == 0)
    return make_error("bad_config", "kdf_profile '" + cfg.kdf_profile +
                                        "' is not moderate or test");
  if (cfg.key_reload_interval_ms < 0)
    return make_error("bad_config", "key_reload_interval_ms must not be negative");
  if (cfg.db_timeout_ms <= 0)
    return make_error("bad_config", "db_timeout_ms must be positive");
  if (cfg.wait_for_db_ms < 0)
    return make_error("bad_config", "wait_for_db_ms must not be negative");
  if (cfg.media_port_high - cfg.media_port_low < 2)
    return make_error("bad_config", "the media port range needs at least 3 ports");
  std::set<std::string> names;
  for (const auto& s : cfg.schedules) {
    if (s.name.empty())
      return make_error("bad_config", "a schedule has no name");
    if (!names.insert(s.name).second)
      return make_error("bad_config", "schedule name '" + s.name + "' is used twice");
    if (modes.count(s.mode) == 0)
      return make_error("bad_config", "schedule '" + s.name + "': mode '" + s.mode +
                                          "' is not all, percentage, count or on_demand");
    if (directions.count(s.direction) == 0)
      return make_error("bad_config", "schedule '" + s.name + "': direction '" + s.direction +
                                          "' is not any, inbound, outbound or internal");
    if (s.percentage < 0 || s.percentage > 100)
      return make_error("bad_config", "schedule '" + s.name + "': percentage must be 0-100");
    if (s.max_seconds < 0 || s.min_seconds < 0 || s.retention_days < 0 || s.count < 0)
      return make_error("bad_config", "schedule '" + s.name + "': negative limit");
  }
  return validate_policies(cfg);
}

}  // namespace ccrec
