// engine_config: the TOML file, its validation, and the port range syntax.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "actors/config.hpp"
#include "tests/support/temp_dir.hpp"

using namespace ccrec;

namespace {

std::string write_file(const test::temp_dir& dir, const std::string& text) {
  auto path = dir.file("ccrec.toml");
  std::ofstream out{path, std::ios::trunc};
  out << text;
  return path;
}

// Loads `text` over the defaults and requires a bad_config error whose
// message is exactly `message` (after the file path and ": ").
void require_rejected(const std::string& text, const std::string& message) {
  test::temp_dir dir;
  auto path = write_file(dir, text);
  auto cfg = load_config_file(path, engine_config{});
  REQUIRE_FALSE(cfg.ok());
  CHECK(cfg.error().code == "bad_config");
  CHECK(cfg.error().message == path + ": " + message);
}

const char* const every_key = R"(
[engine]
data_dir = "/var/lib/ccrec-test"
db = "postgresql://rec@127.0.0.1:5433/ccrec"
cti = "tcp://127.0.0.1:6000"
media_host = "127.0.0.2"
media_ports = "30000-30999"
encryption = false
kdf_profile = "test"
random_seed = 987654321
flush_interval_ms = 250
late_grace_ms = 1500
db_probe_interval_ms = 700
cti_request_timeout_ms = 3000

[[schedule]]
name = "vip"
mode = "count"
priority = 50
count = 12
agents = ["a1", "a2"]
queues = ["vip"]
direction = "inbound"
screen = true
min_seconds = 3
max_seconds = 7200
retention_days = 2555

[[schedule]]
name = "sample"
mode = "percentage"
percentage = 12.5
priority = 10
direction = "outbound"
retention_days = 90

[[schedule]]
name = "supervisor"
mode = "on_demand"
priority = -1
)";

}  // namespace

TEST_CASE("a file with every key sets every field", "[config]") {
  test::temp_dir dir;
  auto cfg = load_config_file(write_file(dir, every_key), engine_config{});
  REQUIRE(cfg.ok());

  CHECK(cfg->data_dir == "/var/lib/ccrec-test");
  CHECK(cfg->db == "postgresql://rec@127.0.0.1:5433/ccrec");
  CHECK(cfg->database_uri() == "postgresql://rec@127.0.0.1:5433/ccrec");
  CHECK(cfg->recordings_dir() == "/var/lib/ccrec-test/recordings");
  CHECK(cfg->cti_endpoint == "tcp://127.0.0.1:6000");
  CHECK(cfg->media_host == "127.0.0.2");
  CHECK(cfg->media_port_low == 30000);
  CHECK(cfg->media_port_high == 30999);
  CHECK(cfg->encryption == false);
  CHECK(cfg->kdf_profile == "test");
  CHECK(cfg->random_seed == 987654321u);
  CHECK(cfg->flush_interval_ms == 250);
  CHECK(cfg->late_grace_ms == 1500);
  CHECK(cfg->db_probe_interval_ms == 700);
  CHECK(cfg->cti_request_timeout_ms == 3000);

  REQUIRE(cfg->schedules.size() == 3);
  const auto& vip = cfg->schedules[0];
  CHECK(vip.name == "vip");
  CHECK(vip.mode == "count");
  CHECK(vip.priority == 50);
  CHECK(vip.count == 12);
  CHECK(vip.agents == std::vector<std::string>{"a1", "a2"});
  CHECK(vip.queues == std::vector<std::string>{"vip"});
  CHECK(vip.direction == "inbound");
  CHECK(vip.screen);
  CHECK(vip.min_seconds == 3);
  CHECK(vip.max_seconds == 7200);
  CHECK(vip.retention_days == 2555);

  const auto& sample = cfg->schedules[1];
  CHECK(sample.name == "sample");
  CHECK(sample.mode == "percentage");
  CHECK(sample.percentage == 12.5);
  CHECK(sample.priority == 10);
  CHECK(sample.direction == "outbound");
  CHECK(sample.retention_days == 90);
  CHECK(sample.agents.empty());
  CHECK_FALSE(sample.screen);
  CHECK(sample.count == 0);

  const auto& supervisor = cfg->schedules[2];
  CHECK(supervisor.mode == "on_demand");
  CHECK(supervisor.priority == -1);
  CHECK(supervisor.percentage == 100.0);
  CHECK(supervisor.direction == "any");
}

TEST_CASE("keys absent from the file keep the base values", "[config]") {
  test::temp_dir dir;
  engine_config base;
  base.data_dir = "/base";
  base.media_port_low = 41000;
  base.media_port_high = 41010;
  base.schedules.push_back(schedule{});
  base.schedules.back().name = "from-base";

  auto cfg = load_config_file(write_file(dir, "[engine]\nflush_interval_ms = 10\n"), base);
  REQUIRE(cfg.ok());
  CHECK(cfg->data_dir == "/base");
  CHECK(cfg->database_uri() == "sqlite:/base/ccrec.db");
  CHECK(cfg->media_port_low == 41000);
  CHECK(cfg->media_port_high == 41010);
  CHECK(cfg->flush_interval_ms == 10);
  REQUIRE(cfg->schedules.size() == 1);
  CHECK(cfg->schedules[0].name == "from-base");

  // A file that lists schedules replaces the base's list.
  auto replaced =
      load_config_file(write_file(dir, "[[schedule]]\nname = \"only\"\nmode = \"all\"\n"), base);
  REQUIRE(replaced.ok());
  REQUIRE(replaced->schedules.size() == 1);
  CHECK(replaced->schedules[0].name == "only");
}

TEST_CASE("unknown keys are rejected by name", "[config]") {
  require_rejected("[engine]\ndata_dri = \"/x\"\n", "unknown key 'data_dri' in [engine]");
  require_rejected("[[schedule]]\nname = \"s\"\nprioirty = 3\n",
                   "unknown key 'prioirty' in [[schedule]]");
  require_rejected("[engines]\ndata_dir = \"/x\"\n", "unknown key 'engines' in the top level");
  require_rejected("encryption = false\n", "unknown key 'encryption' in the top level");
}

TEST_CASE("a file that is not TOML is rejected", "[config]") {
  test::temp_dir dir;
  auto path = write_file(dir, "[engine\ndata_dir = \"/x\"\n");
  auto cfg = load_config_file(path, engine_config{});
  REQUIRE_FALSE(cfg.ok());
  CHECK(cfg.error().code == "bad_config");
  CHECK_THAT(cfg.error().message, Catch::StartsWith(path + ": not valid TOML: "));

  auto missing = load_config_file(dir.file("does-not-exist.toml"), engine_config{});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "bad_config");
  CHECK_THAT(missing.error().message,
             Catch::StartsWith(dir.file("does-not-exist.toml") + ": not valid TOML: "));
}

TEST_CASE("schedule lists that are not tables are rejected", "[config]") {
  require_rejected("schedule = [1, 2]\n", "[[schedule]] entries must be tables");
}

TEST_CASE("schedule values are validated", "[config]") {
  require_rejected("[[schedule]]\nname = \"dup\"\n[[schedule]]\nname = \"dup\"\n",
                   "schedule name 'dup' is used twice");
  require_rejected("[[schedule]]\nname = \"s\"\nmode = \"sometimes\"\n",
                   "schedule 's': mode 'sometimes' is not all, percentage, count or on_demand");
  require_rejected("[[schedule]]\nname = \"s\"\ndirection = \"up\"\n",
                   "schedule 's': direction 'up' is not any, inbound, outbound or internal");
  require_rejected("[[schedule]]\nmode = \"all\"\n", "a schedule has no name");
  require_rejected("[[schedule]]\nname = \"s\"\nmode = \"percentage\"\npercentage = 100.5\n",
                   "schedule 's': percentage must be 0-100");
  require_rejected("[[schedule]]\nname = \"s\"\nmin_seconds = -1\n",
                   "schedule 's': negative limit");
  require_rejected("[engine]\nkdf_profile = \"fast\"\n",
                   "kdf_profile 'fast' is not moderate or test");
  require_rejected("[engine]\nmedia_ports = \"5000-5001\"\n",
                   "the media port range needs at least 3 ports");
  require_rejected("[engine]\nmedia_ports = \"5000\"\n", "media ports '5000' are not LOW-HIGH");
}

TEST_CASE("parse_port_range", "[config]") {
  engine_config cfg;

  SECTION("a valid range") {
    REQUIRE(parse_port_range("20000-20999", cfg).ok());
    CHECK(cfg.media_port_low == 20000);
    CHECK(cfg.media_port_high == 20999);
  }
  SECTION("the widest range") {
    REQUIRE(parse_port_range("1-65535", cfg).ok());
    CHECK(cfg.media_port_low == 1);
    CHECK(cfg.media_port_high == 65535);
  }
  SECTION("a single port") {
    REQUIRE(parse_port_range("5000-5000", cfg).ok());
    CHECK(cfg.media_port_low == 5000);
    CHECK(cfg.media_port_high == 5000);
  }
  SECTION("refusals leave the range alone") {
    struct refusal {
      const char* text;
      const char* message;
    };
    const refusal cases[] = {
        {"40000", "media ports '40000' are not LOW-HIGH"},
        {"", "media ports '' are not LOW-HIGH"},
        {"0-100", "media ports '0-100' are not a range in 1-65535"},
        {"100-65536", "media ports '100-65536' are not a range in 1-65535"},
        {"5000-4000", "media ports '5000-4000' are not a range in 1-65535"},
        {"a-b", "media ports 'a-b' are not LOW-HIGH numbers"},
        {"-100", "media ports '-100' are not LOW-HIGH numbers"},
    };
    for (const auto& c : cases) {
      INFO(c.text);
      auto ok = parse_port_range(c.text, cfg);
      REQUIRE_FALSE(ok.ok());
      CHECK(ok.error().code == "bad_config");
      CHECK(ok.error().message == c.message);
      CHECK(cfg.media_port_low == 40000);
      CHECK(cfg.media_port_high == 44999);
    }
  }
}

TEST_CASE("validate_config accepts the defaults", "[config]") {
  CHECK(validate_config(engine_config{}).ok());
}

TEST_CASE("a value of the wrong type is rejected, not defaulted", "[config]") {
  // A value of the wrong type must never fall back to a default: `agents =
  // "a1"` (a string, not a list) would otherwise record every agent's calls.
  const char* const wrong[] = {
      "[[schedule]]\nname = \"s\"\nagents = \"a1\"\n",
      "[[schedule]]\nname = \"s\"\nmode = 5\n",
      "[[schedule]]\nname = \"s\"\npriority = \"high\"\n",
      "[[schedule]]\nname = \"s\"\nmode = \"count\"\ncount = 2.5\n",
      "[[schedule]]\nname = \"s\"\nscreen = \"yes\"\n",
      "[[schedule]]\nname = \"s\"\nagents = [\"a1\", 7]\n",
      "[engine]\nencryption = \"no\"\n",
      "[engine]\nmedia_ports = 5000\n",
      "[engine]\nrandom_seed = -1\n",
      "schedule = 3\n",
  };
  for (const auto* text : wrong) {
    INFO(text);
    test::temp_dir dir;
    auto cfg = load_config_file(write_file(dir, text), engine_config{});
    CHECK_FALSE(cfg.ok());
  }
}

TEST_CASE("a port range with trailing text is rejected", "[config]") {
  // Every character must belong to the two numbers.
  engine_config cfg;
  CHECK_FALSE(parse_port_range("10-20x", cfg).ok());
  CHECK_FALSE(parse_port_range("1-2-3", cfg).ok());
  CHECK(parse_port_range("10-20", cfg).ok());
  CHECK(cfg.media_port_low == 10);
  CHECK(cfg.media_port_high == 20);
}

TEST_CASE("a wrong type is named with the key and both types", "[config]") {
  require_rejected("[[schedule]]\nname = \"s\"\nagents = \"a1\"\n",
                   "[[schedule]] key 'agents' must be an array of strings, not string");
  require_rejected("[engine]\nencryption = \"no\"\n",
                   "[engine] key 'encryption' must be true or false, not string");
}

TEST_CASE("a database URI of an unknown scheme is refused naming only the scheme", "[config]") {
  CHECK(check_database_uri("sqlite:/var/lib/ccrec/ccrec.db").ok());
  CHECK(check_database_uri("postgresql://ccrec@db/ccrec").ok());
  CHECK(check_database_uri("postgres://ccrec@db/ccrec").ok());

  auto mysql = check_database_uri("mysql://ccrec:hunter2@db/ccrec");
  REQUIRE_FALSE(mysql.ok());
  CHECK(mysql.error().code == "bad_config");
  CHECK(mysql.error().message ==
        "unknown database scheme 'mysql:'; use sqlite:PATH or postgresql://USER@HOST/DATABASE");
  auto bare = check_database_uri("ccrec.db");
  REQUIRE_FALSE(bare.ok());
  CHECK(bare.error().message ==
        "the database 'ccrec.db' has no scheme; use sqlite:PATH or "
        "postgresql://USER@HOST/DATABASE");

  engine_config cfg;
  cfg.db = "mysql://x";
  auto validated = validate_config(cfg);
  REQUIRE_FALSE(validated.ok());
  CHECK(validated.error().message ==
        "unknown database scheme 'mysql:'; use sqlite:PATH or postgresql://USER@HOST/DATABASE");
}

TEST_CASE("call limits are read from [engine] and must not be negative", "[config]") {
  test::temp_dir dir;
  auto path = dir.file("limits.toml");
  std::ofstream{path} << "[engine]\nmax_calls_in_progress = 50\ncall_expiry_ms = 3600000\n";
  auto cfg = load_config_file(path, engine_config{});
  REQUIRE(cfg.ok());
  CHECK(cfg->max_calls_in_progress == 50);
  CHECK(cfg->call_expiry_ms == 3600000);

  engine_config defaults;
  CHECK(defaults.max_calls_in_progress == 10000);
  CHECK(defaults.call_expiry_ms == 86400000);
  defaults.call_expiry_ms = -1;
  auto bad = validate_config(defaults);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "call_expiry_ms must not be negative");
}

TEST_CASE("timer periods must be positive and waits not negative", "[config]") {
  require_rejected("[engine]\nflush_interval_ms = -5\n",
                   "flush_interval_ms must be positive, not -5");
  require_rejected("[engine]\nflush_interval_ms = 0\n",
                   "flush_interval_ms must be positive, not 0");
  require_rejected("[engine]\ndb_probe_interval_ms = 0\n",
                   "db_probe_interval_ms must be positive, not 0");
  require_rejected("[engine]\ncti_request_timeout_ms = 0\n",
                   "cti_request_timeout_ms must be positive, not 0");
  require_rejected("[engine]\ntranscode_interval_ms = -1\n",
                   "transcode_interval_ms must be positive, not -1");
  require_rejected("[engine]\nlate_grace_ms = -1\n", "late_grace_ms must not be negative, not -1");
  require_rejected("[engine]\ntranscode_delay_ms = -2\n",
                   "transcode_delay_ms must not be negative, not -2");
}

TEST_CASE("a schedule whose minimum is above its maximum is refused", "[config]") {
  require_rejected("[[schedule]]\nname = \"s\"\nmin_seconds = 100\nmax_seconds = 10\n",
                   "schedule 's': min_seconds 100 is above max_seconds 10, so every recording "
                   "would be discarded");
}

TEST_CASE("a media_host that is not an IPv4 address is refused", "[config]") {
  require_rejected("[engine]\nmedia_host = \"localhost\"\n",
                   "media_host 'localhost' is not an IPv4 address (the media sockets are IPv4)");
  require_rejected("[engine]\nmedia_host = \"::1\"\n",
                   "media_host '::1' is not an IPv4 address (the media sockets are IPv4)");
}
