// The encryption policy as configuration: [[pbx]] tables and schedule keys
// parse, wrong values are refused by name, and decide() applies schedule,
// then PBX integration, then engine default; disabled encryption degrades
// what cannot be encrypted and says so.
#include <fstream>

#include <catch2/catch.hpp>

#include "actors/config.hpp"
#include "actors/encryption_policy.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using namespace ccrec;

result<engine_config> load(const test::temp_dir& dir, const std::string& toml) {
  auto path = dir.file("ccrec.toml");
  std::ofstream{path} << toml;
  return load_config_file(path, engine_config{});
}

TEST_CASE("policies parse from [engine], [[pbx]] and [[schedule]]", "[policy]") {
  test::temp_dir dir;
  auto cfg = load(dir, R"(
[engine]
metadata_xml = "encrypted"
transcode = false
transcode_interval_ms = 500
transcode_delay_ms = 0

[[pbx]]
name = "shoretel"
recording_method = "plain_wav"

[[pbx]]
name = "avaya"
metadata_xml = "plain"

[[schedule]]
name = "vip"
recording_method = "ccenx"
metadata_xml = "off"
)");
  REQUIRE(cfg.ok());
  CHECK(cfg->metadata_xml == "encrypted");
  CHECK_FALSE(cfg->transcode);
  CHECK(cfg->transcode_interval_ms == 500);
  CHECK(cfg->transcode_delay_ms == 0);
  REQUIRE(cfg->pbx.size() == 2);
  CHECK(cfg->pbx[0].name == "shoretel");
  CHECK(cfg->pbx[0].recording_method == "plain_wav");
  CHECK(cfg->pbx[0].metadata_xml.empty());
  CHECK(cfg->pbx[1].name == "avaya");
  CHECK(cfg->pbx[1].recording_method == "ccenx");
  CHECK(cfg->pbx[1].metadata_xml == "plain");
  REQUIRE(cfg->schedules.size() == 1);
  CHECK(cfg->schedules[0].recording_method == "ccenx");
  CHECK(cfg->schedules[0].metadata_xml == "off");
}

TEST_CASE("wrong policy settings are refused by name", "[policy]") {
  test::temp_dir dir;
  struct bad_case {
    const char* toml;
    const char* message;
  };
  const bad_case cases[] = {
      {"[[pbx]]\nname = \"x\"\nrecording_method = \"mp3\"\n",
       "pbx 'x': recording_method 'mp3' is not ccenx or plain_wav"},
      {"[[pbx]]\nname = \"x\"\nmetadata_xml = \"yes\"\n",
       "pbx 'x': metadata_xml 'yes' is not off, plain or encrypted"},
      {"[[pbx]]\nrecording_method = \"plain_wav\"\n", "a [[pbx]] entry has no name"},
      {"[[pbx]]\nname = \"x\"\n[[pbx]]\nname = \"x\"\n", "pbx name 'x' is used twice"},
      {"[[pbx]]\nname = \"x\"\nwav = true\n", "unknown key 'wav' in [[pbx]]"},
      {"[engine]\nmetadata_xml = \"json\"\n",
       "[engine]: metadata_xml 'json' is not off, plain or encrypted"},
      {"[engine]\ntranscode_interval_ms = 0\n", "transcode_interval_ms must be positive"},
      {"[[schedule]]\nname = \"s\"\nrecording_method = \"plain\"\n",
       "schedule 's': recording_method 'plain' is not ccenx or plain_wav"},
  };
  for (const auto& c : cases) {
    INFO(c.toml);
    auto cfg = load(dir, c.toml);
    REQUIRE_FALSE(cfg.ok());
    CHECK(cfg.error().code == "bad_config");
    CHECK_THAT(cfg.error().message, Catch::Contains(c.message));
  }
}

engine_config base_config() {
  engine_config cfg;
  cfg.metadata_xml = xml_plain;
  cfg.pbx = {pbx_integration{"shoretel", method_plain_wav, ""},
             pbx_integration{"avaya", method_ccenx, xml_encrypted}};
  schedule vip;
  vip.name = "vip";
  vip.recording_method = method_ccenx;
  vip.metadata_xml = xml_off;
  schedule audit;
  audit.name = "audit";
  audit.metadata_xml = xml_encrypted;
  cfg.schedules = {vip, audit};
  return cfg;
}

TEST_CASE("decide: schedule, then PBX integration, then engine default", "[policy]") {
  encryption_policy policy{base_config()};

  auto plain = policy.decide("shoretel", "record-all");
  CHECK(plain.audio == audio_writer_kind::plain_wav);
  CHECK(plain.method == "plain_wav");
  CHECK(plain.xml == xml_writer_kind::plain);
  CHECK(plain.xml_policy == "plain");
  CHECK(plain.screen_encrypted);
  CHECK(plain.reason ==
        "recording_method plain_wav (pbx 'shoretel'), metadata_xml plain (engine default)");

  auto vip = policy.decide("shoretel", "vip");
  CHECK(vip.audio == audio_writer_kind::ccenx);
  CHECK(vip.method == "ccenx");
  CHECK(vip.xml == xml_writer_kind::none);
  CHECK(vip.reason == "recording_method ccenx (schedule 'vip'), metadata_xml off (schedule 'vip')");

  auto mixed = policy.decide("shoretel", "audit");
  CHECK(mixed.method == "plain_wav");
  CHECK(mixed.xml == xml_writer_kind::ccenx);
  CHECK(mixed.reason ==
        "recording_method plain_wav (pbx 'shoretel'), metadata_xml encrypted "
        "(schedule 'audit')");

  auto avaya = policy.decide("avaya", "record-all");
  CHECK(avaya.audio == audio_writer_kind::ccenx);
  CHECK(avaya.xml_policy == "encrypted");

  auto unknown = policy.decide("other", "other");
  CHECK(unknown.method == "ccenx");
  CHECK(unknown.xml_policy == "plain");
}

TEST_CASE("decide with encryption disabled: nothing is encrypted, and the plan says so",
          "[policy]") {
  auto cfg = base_config();
  cfg.encryption = false;
  encryption_policy policy{cfg};

  auto avaya = policy.decide("avaya", "record-all");
  CHECK(avaya.audio == audio_writer_kind::plain_raw);
  CHECK(avaya.method == "none");
  CHECK(avaya.xml == xml_writer_kind::plain);
  CHECK(avaya.xml_policy == "plain");
  CHECK_FALSE(avaya.screen_encrypted);
  CHECK_THAT(avaya.reason, Catch::EndsWith("; encryption is disabled, so nothing is encrypted"));

  auto shoretel = policy.decide("shoretel", "record-all");
  CHECK(shoretel.audio == audio_writer_kind::plain_wav);
  CHECK(shoretel.method == "plain_wav");
}

TEST_CASE("the exceptions in force, one line each, for logs and reports", "[policy]") {
  CHECK(encryption_policy{engine_config{}}.exceptions().empty());
  CHECK(encryption_policy{base_config()}.exceptions() ==
        std::vector<std::string>{
            "engine: metadata_xml plain (per-call XML metadata files)",
            "pbx 'avaya': metadata_xml encrypted",
            "pbx 'shoretel': recording_method plain_wav (audio written as plain WAV, encrypted "
            "later by the transcoder)",
            "schedule 'audit': metadata_xml encrypted",
        });
  auto off = engine_config{};
  off.encryption = false;
  CHECK(
      encryption_policy{off}.exceptions() ==
      std::vector<std::string>{"encryption is disabled: every recording is written in the clear"});
}

}  // namespace
