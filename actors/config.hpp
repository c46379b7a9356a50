// engine_config: everything a running engine is told, from defaults, a TOML
// file and the command line (in that order of precedence, lowest first).
//
// Plain data; no actor, no I/O except load_config_file(). The operator
// secret for the key-encrypting key is NOT part of the file format: it comes
// from the environment or a file descriptor (see apps/), never from argv.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace ccrec::crypto {
class secret_bytes;
}

namespace ccrec {

// One recording schedule. A call matches when every filter given matches;
// among matching schedules that want the call, the highest priority wins.
struct schedule {
  std::string name;
  // "all": every matching call; "percentage": each matching call with
  // probability percentage/100; "count": the first `count` matching calls;
  // "on_demand": never automatically, only by recording_control.
  std::string mode = "all";
  int priority = 0;
  double percentage = 100.0;
  std::int64_t count = 0;
  std::vector<std::string> agents;  // empty: any agent
  std::vector<std::string> queues;  // empty: any queue
  std::string direction = "any";    // "inbound", "outbound", "internal", "any"
  bool screen = false;              // record the agent's screen too
  std::int64_t min_seconds = 0;     // shorter recordings are discarded
  std::int64_t max_seconds = 0;     // 0: no limit; else stop at this length
  std::int64_t retention_days = 0;  // 0: keep forever
  // Encryption exceptions for the calls this schedule records; "" inherits
  // from the call's PBX integration, then the engine (encryption_policy.hpp).
  std::string recording_method;  // "ccenx" or "plain_wav"
  std::string metadata_xml;      // "off", "plain" or "encrypted"
};

// A PBX integration (the `pbx` of CTI events) and how its calls' audio is
// captured: "plain_wav" where a third-party library writes plain WAV while
// the call runs (ShoreTel TAPI/WAV style), which the transcoder encrypts later.
struct pbx_integration {
  std::string name;
  std::string recording_method = "ccenx";  // "ccenx" or "plain_wav"
  std::string metadata_xml;                // "": the engine's metadata_xml
};

struct engine_config {
  std::string data_dir = "ccrec-data";  // recordings/ and the SQLite file live here
  std::string db;                       // empty: sqlite:<data_dir>/ccrec.db
  std::string cti_endpoint = "tcp://127.0.0.1:5570";
  std::string media_host = "127.0.0.1";  // address the media sockets bind
  std::uint16_t media_port_low = 40000;
  std::uint16_t media_port_high = 44999;
  bool encryption = true;
  // Argon2id cost for the passphrase KEK: "moderate" (default) or "test"
  // (minimum cost, for test suites only). Fixed for a database at its first
  // start; later starts use the stored profile.
  std::string kdf_profile = "moderate";
  std::shared_ptr<crypto::secret_bytes> kek_secret;  // from env / fd
  std::vector<schedule> schedules;                   // empty: record all calls
  std::vector<pbx_integration> pbx;                  // [[pbx]]: per-integration policies
  // Per-call XML metadata files: "off", "plain" (in the clear) or "encrypted".
  std::string metadata_xml = "off";
  // The transcoder in the engine (it encrypts, so it runs only with
  // encryption on), and how often it looks for finished recordings.
  bool transcode = true;
  std::int64_t transcode_interval_ms = 2000;
  // A finished recording waits this long before it is transcoded (tools that
  // read fresh raw files get a window); `ccrec transcode` does not wait.
  std::int64_t transcode_delay_ms = 60000;
  std::uint64_t random_seed = 0;          // 0: seeded from the OS
  std::int64_t flush_interval_ms = 1000;  // seal a chunk at least this often
  std::int64_t late_grace_ms = 2000;      // keep a closed port counting late RTP
  std::int64_t db_probe_interval_ms = 2000;
  // A database call that does not answer within this is abandoned and the
  // database declared down (a frozen server never answers; docs/journal.md).
  std::int64_t db_timeout_ms = 3000;
  // At start, how long to wait for an unreachable database (with backoff)
  // before giving up; 0: do not wait (`ccrec serve --wait-for-db`).
  std::int64_t wait_for_db_ms = 0;
  std::int64_t cti_request_timeout_ms = 5000;
  // How often the key cache re-reads the key table, so that a rotation made
  // elsewhere (`ccrec keys rotate`) reaches new files; 0: only on request.
  std::int64_t key_reload_interval_ms = 5000;
  // Calls in progress (offered, not yet ended) the engine keeps; a
  // call_offered beyond this is refused ("too_many_calls"). 0: no limit.
  std::int64_t max_calls_in_progress = 10000;
  // A call with no CTI event for this long is ended as if by call_ended
  // (its recording finishes with the reason "expired"); 0: never.
  std::int64_t call_expiry_ms = 24 * 3600 * 1000;

  std::string database_uri() const;    // db, or the default SQLite file
  std::string recordings_dir() const;  // <data_dir>/recordings
};

// Reads a TOML file over `base`; unknown keys are an error naming the key,
// so that a typo never silently changes what is recorded.
result<engine_config> load_config_file(const std::string& path, engine_config base);

// Parses "LOW-HIGH" into the media port range.
result<void> parse_port_range(const std::string& text, engine_config& cfg);

// Fails ("bad_config") unless `uri` starts with sqlite:, postgresql:// or
// postgres://, naming only the scheme (the rest may hold a password).
result<void> check_database_uri(const std::string& uri);

// Checks values that do not depend on the environment (ranges, names).
result<void> validate_config(const engine_config& cfg);

}  // namespace ccrec
