#include "actors/config.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <limits>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "actors/encryption_policy.hpp"
#include "common/log_text.hpp"

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

// Reads typed values from one TOML table. A key of the wrong type is an
// error naming the key and both types (never a silent default: a typo must
// not change what is recorded). Remembers the first error.
class table_reader {
 public:
  table_reader(const toml::table& t, std::string where, std::string path)
      : t_(t), where_(std::move(where)), path_(std::move(path)) {}

  void read(const char* key, std::string& out) {
    if (auto n = want(key, toml::node_type::string, "a string"))
      out = *n->value<std::string>();
  }
  void read(const char* key, bool& out) {
    if (auto n = want(key, toml::node_type::boolean, "true or false"))
      out = *n->value<bool>();
  }
  void read(const char* key, std::int64_t& out) {
    if (auto n = want(key, toml::node_type::integer, "an integer"))
      out = *n->value<std::int64_t>();
  }
  void read(const char* key, std::uint64_t& out) {
    std::int64_t v = static_cast<std::int64_t>(out);
    read(key, v);
    if (v < 0)
      return fail(key, "must not be negative");
    out = static_cast<std::uint64_t>(v);
  }
  void read(const char* key, int& out) {
    std::int64_t v = out;
    read(key, v);
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
      return fail(key, "is out of range");
    out = static_cast<int>(v);
  }
  void read(const char* key, double& out) {
    auto n = t_.get(key);
    if (n == nullptr)
      return;
    if (!n->is_number())
      return fail(key, "must be a number, not " + type_name(*n));
    out = *n->value<double>();
  }
  void read(const char* key, std::vector<std::string>& out) {
    auto n = want(key, toml::node_type::array, "an array of strings");
    if (n == nullptr)
      return;
    out.clear();
    for (auto&& item : *n->as_array()) {
      if (!item.is_string())
        return fail(key, "must be an array of strings");
      out.push_back(*item.value<std::string>());
    }
  }

  result<void> status() const { return error_.code.empty() ? result<void>{} : error_; }

 private:
  static std::string type_name(const toml::node& n) {
    std::ostringstream out;
    out << n.type();
    return out.str();
  }

  const toml::node* want(const char* key, toml::node_type type, const char* what) {
    auto n = t_.get(key);
    if (n == nullptr)
      return nullptr;
    if (n->type() != type) {
      fail(key, std::string{"must be "} + what + ", not " + type_name(*n));
      return nullptr;
    }
    return n;
  }

  void fail(const char* key, const std::string& what) {
    if (error_.code.empty())
      error_ = config_error(path_, where_ + " key '" + key + "' " + what);
  }

  const toml::table& t_;
  std::string where_;
  std::string path_;
  error error_;
};

result<schedule> read_schedule(const toml::table& t, const std::string& path) {
  static const std::set<std::string> known = {
      "name",        "mode",           "priority",         "percentage",  "count",
      "agents",      "queues",         "direction",        "screen",      "min_seconds",
      "max_seconds", "retention_days", "recording_method", "metadata_xml"};
  if (auto ok = check_keys(t, known, "[[schedule]]", path); !ok)
    return ok.error();

  schedule s;
  table_reader r{t, "[[schedule]]", path};
  r.read("name", s.name);
  r.read("mode", s.mode);
  r.read("priority", s.priority);
  r.read("percentage", s.percentage);
  r.read("count", s.count);
  r.read("agents", s.agents);
  r.read("queues", s.queues);
  r.read("direction", s.direction);
  r.read("screen", s.screen);
  r.read("min_seconds", s.min_seconds);
  r.read("max_seconds", s.max_seconds);
  r.read("retention_days", s.retention_days);
  r.read("recording_method", s.recording_method);
  r.read("metadata_xml", s.metadata_xml);
  if (auto ok = r.status(); !ok)
    return ok.error();
  return s;
}

result<pbx_integration> read_pbx(const toml::table& t, const std::string& path) {
  static const std::set<std::string> known = {"name", "recording_method", "metadata_xml"};
  if (auto ok = check_keys(t, known, "[[pbx]]", path); !ok)
    return ok.error();

  pbx_integration p;
  table_reader r{t, "[[pbx]]", path};
  r.read("name", p.name);
  r.read("recording_method", p.recording_method);
  r.read("metadata_xml", p.metadata_xml);
  if (auto ok = r.status(); !ok)
    return ok.error();
  return p;
}

result<void> read_engine_table(const toml::table& t, engine_config& cfg, const std::string& path) {
  static const std::set<std::string> known = {"data_dir",
                                              "db",
                                              "cti",
                                              "media_host",
                                              "media_ports",
                                              "encryption",
                                              "kdf_profile",
                                              "random_seed",
                                              "flush_interval_ms",
                                              "late_grace_ms",
                                              "db_probe_interval_ms",
                                              "cti_request_timeout_ms",
                                              "key_reload_interval_ms",
                                              "metadata_xml",
                                              "transcode",
                                              "transcode_interval_ms",
                                              "transcode_delay_ms",
                                              "db_timeout_ms",
                                              "wait_for_db_ms",
                                              "max_calls_in_progress",
                                              "call_expiry_ms"};
  if (auto ok = check_keys(t, known, "[engine]", path); !ok)
    return ok.error();

  table_reader r{t, "[engine]", path};
  r.read("data_dir", cfg.data_dir);
  r.read("db", cfg.db);
  r.read("cti", cfg.cti_endpoint);
  r.read("media_host", cfg.media_host);
  std::string ports;
  r.read("media_ports", ports);
  r.read("encryption", cfg.encryption);
  r.read("kdf_profile", cfg.kdf_profile);
  r.read("random_seed", cfg.random_seed);
  r.read("flush_interval_ms", cfg.flush_interval_ms);
  r.read("late_grace_ms", cfg.late_grace_ms);
  r.read("db_probe_interval_ms", cfg.db_probe_interval_ms);
  r.read("cti_request_timeout_ms", cfg.cti_request_timeout_ms);
  r.read("db_timeout_ms", cfg.db_timeout_ms);
  r.read("wait_for_db_ms", cfg.wait_for_db_ms);
  r.read("key_reload_interval_ms", cfg.key_reload_interval_ms);
  r.read("metadata_xml", cfg.metadata_xml);
  r.read("transcode", cfg.transcode);
  r.read("transcode_interval_ms", cfg.transcode_interval_ms);
  r.read("transcode_delay_ms", cfg.transcode_delay_ms);
  r.read("max_calls_in_progress", cfg.max_calls_in_progress);
  r.read("call_expiry_ms", cfg.call_expiry_ms);
  if (auto ok = r.status(); !ok)
    return ok;
  if (!ports.empty()) {
    if (auto ok = parse_port_range(ports, cfg); !ok)
      return ok.error().with_context(path);
  }
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
  if (root.contains("engine") && !root["engine"].is_table())
    return config_error(path, "[engine] must be a table");
  for (const char* list : {"schedule", "pbx"}) {
    if (root.contains(list) && !root[list].is_array())
      return config_error(path, std::string{list} + " must be written [[" + list + "]]");
  }
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

  // Every character must belong to one of the two numbers: "10-20x" and
  // "1-2-3" are typos, not ranges.
  auto number = [](const char* first, const char* last, unsigned long& out) {
    auto [end, ec] = std::from_chars(first, last, out);
    return ec == std::errc{} && end == last && first != last;
  };
  unsigned long low = 0;
  unsigned long high = 0;
  const char* begin = text.data();
  if (!number(begin, begin + dash, low) || !number(begin + dash + 1, begin + text.size(), high))
    return make_error("bad_config", "media ports '" + text + "' are not LOW-HIGH numbers");
  if (low == 0 || high > 65535 || low > high)
    return make_error("bad_config", "media ports '" + text + "' are not a range in 1-65535");

  cfg.media_port_low = static_cast<std::uint16_t>(low);
  cfg.media_port_high = static_cast<std::uint16_t>(high);
  return {};
}

result<void> check_database_uri(const std::string& uri) {
  static const char* const known[] = {"sqlite:", "postgresql://", "postgres://"};
  for (const char* prefix : known) {
    if (uri.rfind(prefix, 0) == 0)
      return {};
  }

  static const char* const hint = "; use sqlite:PATH or postgresql://USER@HOST/DATABASE";
  auto colon = uri.find(':');
  if (colon == std::string::npos || colon == 0)
    return make_error("bad_config", "the database '" + log_safe(uri) + "' has no scheme" + hint);
  return make_error("bad_config",
                    "unknown database scheme '" + log_safe(uri.substr(0, colon + 1)) + "'" + hint);
}

namespace {

// Periods drive timers: zero or less would spin or never fire. Waits may be
// zero (no wait) but not negative.
result<void> check_intervals(const engine_config& cfg) {
  const std::pair<const char*, std::int64_t> periods[] = {
      {"flush_interval_ms", cfg.flush_interval_ms},
      {"db_probe_interval_ms", cfg.db_probe_interval_ms},
      {"cti_request_timeout_ms", cfg.cti_request_timeout_ms},
      {"transcode_interval_ms", cfg.transcode_interval_ms}};
  for (const auto& [name, value] : periods) {
    if (value <= 0)
      return make_error("bad_config",
                        std::string{name} + " must be positive, not " + std::to_string(value));
  }

  const std::pair<const char*, std::int64_t> waits[] = {
      {"late_grace_ms", cfg.late_grace_ms}, {"transcode_delay_ms", cfg.transcode_delay_ms}};
  for (const auto& [name, value] : waits) {
    if (value < 0)
      return make_error("bad_config",
                        std::string{name} + " must not be negative, not " + std::to_string(value));
  }
  return {};
}

}  // namespace

result<void> validate_config(const engine_config& cfg) {
  static const std::set<std::string> modes = {"all", "percentage", "count", "on_demand"};
  static const std::set<std::string> directions = {"any", "inbound", "outbound", "internal"};
  static const std::set<std::string> profiles = {"moderate", "test"};

  if (profiles.count(cfg.kdf_profile) == 0)
    return make_error("bad_config",
                      "kdf_profile '" + cfg.kdf_profile + "' is not moderate or test");
  if (cfg.key_reload_interval_ms < 0)
    return make_error("bad_config", "key_reload_interval_ms must not be negative");
  if (cfg.db_timeout_ms <= 0)
    return make_error("bad_config", "db_timeout_ms must be positive");
  if (cfg.wait_for_db_ms < 0)
    return make_error("bad_config", "wait_for_db_ms must not be negative");
  if (auto ok = check_database_uri(cfg.database_uri()); !ok)
    return ok;
  if (cfg.max_calls_in_progress < 0)
    return make_error("bad_config", "max_calls_in_progress must not be negative");
  if (cfg.call_expiry_ms < 0)
    return make_error("bad_config", "call_expiry_ms must not be negative");
  // An address inet_pton cannot read would leave the sockets bound to
  // 0.0.0.0, every interface, rather than the one the operator named.
  in_addr media_addr{};
  if (::inet_pton(AF_INET, cfg.media_host.c_str(), &media_addr) != 1)
    return make_error("bad_config", "media_host '" + log_safe(cfg.media_host) +
                                        "' is not an IPv4 address (the media sockets are IPv4)");
  if (cfg.media_port_high - cfg.media_port_low < 2)
    return make_error("bad_config", "the media port range needs at least 3 ports");
  if (auto ok = check_intervals(cfg); !ok)
    return ok;
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
    if (s.max_seconds > 0 && s.min_seconds > s.max_seconds)
      return make_error("bad_config", "schedule '" + s.name + "': min_seconds " +
                                          std::to_string(s.min_seconds) + " is above max_seconds " +
                                          std::to_string(s.max_seconds) +
                                          ", so every recording would be discarded");
  }
  return validate_policies(cfg);
}

}  // namespace ccrec
