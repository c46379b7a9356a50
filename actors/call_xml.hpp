// call_xml: the optional per-call XML metadata file (exception 2 of
// actors/encryption_policy.hpp), written when a recording ends: call id,
// parties, agent, queue, times, schedule, the policies that applied and the
// recording's files. "plain" writes it in the clear (as integrations that
// read such files expect), "encrypted" as CCENX with content `metadata`.
//
// Pure text building plus one blocking file write; callable from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "actors/encryption_policy.hpp"
#include "common/result.hpp"
#include "messages/messages.hpp"

namespace ccrec {

struct call_xml_file {
  std::string kind;  // "audio" or "screen"
  std::string path;  // relative to the recordings directory
  std::string status;
};

struct call_xml_facts {
  call_info call;
  std::string pbx;
  std::string recording_id;
  std::string schedule;
  std::string method;      // recording method that applied
  std::string xml_policy;  // this file's own policy
  std::int64_t started_ms = 0;
  std::int64_t ended_ms = 0;
  std::vector<call_xml_file> files;
};

// The document, UTF-8, with every value escaped.
std::string render_call_xml(const call_xml_facts& facts);

// "<day>/<recording id>.xml" (".xml.ccenx" when encrypted), beside the audio.
std::string call_xml_relative_path(const std::string& recording_id, std::int64_t started_ms,
                                   bool encrypted);

// Writes `text` to `recordings_dir`/`relative` (created exclusively, mode
// 0600, synced): in the clear for xml_writer_kind::plain, sealed under
// `grant` for xml_writer_kind::ccenx. Fails with "no_key" (encrypted without
// a key), "io", or the CCENX writer's error.
result<void> write_call_xml(const std::string& recordings_dir, const std::string& relative,
                            const std::string& text, xml_writer_kind kind, const key_grant& grant);

}  // namespace ccrec
