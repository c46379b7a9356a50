// encryption_policy: decides, per call, how each artefact of a recording is
// written. The two exceptions to "everything is encrypted as it is written"
// live here as explicit rules, named in the configuration, in every
// recording row (method, xml_policy) and in `ccrec report`, rather than as
// special cases in the writers (docs/transcoding.md):
//
// - Exception 1, the plain-WAV recording method: some PBX integrations
//   (ShoreTel TAPI/WAV style) have a third-party library write the call's
//   audio as a plain WAV while it runs, which the engine cannot encrypt as
//   it is written. Such audio goes to the plaintext spool (a directory of its
//   own, mode 0700) and the transcoder later encrypts it and removes it.
// - Exception 2, per-call XML metadata files: "off" (none), "plain" (in the
//   clear, next to the recording) or "encrypted" (CCENX, content metadata).
//
// Which rule applies: the call's schedule if it says, else the call's PBX
// integration (`pbx` in CTI events, `[[pbx]]` in the configuration), else
// the engine's default. With encryption disabled nothing can be encrypted:
// audio is written plain (the existing, loud, switch) and "encrypted" XML
// falls back to "plain"; the plan says why.
//
// Plain data and pure functions: build once from the configuration, then
// call decide() from any thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "actors/config.hpp"
#include "common/result.hpp"

namespace ccrec {

// Names used in configuration and in the database.
inline constexpr const char* method_ccenx = "ccenx";          // encrypted as written
inline constexpr const char* method_none = "none";            // encryption disabled
inline constexpr const char* method_plain_wav = "plain_wav";  // exception 1
inline constexpr const char* xml_off = "off";
inline constexpr const char* xml_plain = "plain";  // exception 2
inline constexpr const char* xml_encrypted = "encrypted";

enum class audio_writer_kind { ccenx, plain_raw, plain_wav };
enum class xml_writer_kind { none, plain, ccenx };

// How one call's artefacts are written, and why.
struct artefact_plan {
  audio_writer_kind audio = audio_writer_kind::ccenx;
  bool screen_encrypted = true;
  xml_writer_kind xml = xml_writer_kind::none;
  std::string method = method_ccenx;  // for the row: ccenx, none, plain_wav
  std::string xml_policy = xml_off;   // for the row: off, plain, encrypted
  std::string reason;                 // which rules decided, for logs and reports
};

class encryption_policy {
 public:
  encryption_policy() = default;  // encryption on, no exceptions
  explicit encryption_policy(const engine_config& cfg);

  artefact_plan decide(const std::string& pbx, const std::string& schedule) const;

  // One line per exception in force, for the start-up log and reports; empty
  // when every artefact is encrypted as it is written.
  std::vector<std::string> exceptions() const;

 private:
  struct choice {
    std::string method;  // "" = not set here
    std::string xml;
  };
  bool encryption_ = true;
  std::string default_xml_ = xml_off;
  std::map<std::string, choice> pbx_;
  std::map<std::string, choice> schedules_;
};

// Checks the policy settings of a configuration: recording_method is ccenx
// or plain_wav, metadata_xml is off, plain or encrypted, [[pbx]] names are
// present and unique. Fails with "bad_config" naming the setting.
result<void> validate_policies(const engine_config& cfg);

}  // namespace ccrec
