// The CTI wire format (docs/cti-protocol.md): JSON text to cti_event, and
// cti_reply to JSON text.
//
// Pure functions, no actor and no socket, so that every malformed input can
// be tested directly. Decoding never throws; each failure names what was
// wrong ("call_answered: missing required field 'agent'").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "messages/messages.hpp"

namespace ccrec {

inline constexpr std::size_t cti_max_message_bytes = 64 * 1024;
inline constexpr std::size_t cti_max_string_bytes = 256;
inline constexpr int cti_protocol_version = 1;

// Error codes are "bad_json" or "bad_event". `now_ms` fills a missing `ts`.
// On a bad_event the error message starts with the event type when known.
result<cti_event> decode_cti_event(std::string_view text, std::int64_t now_ms);

// The `seq` of a message that failed to decode, when one can be read, so
// the error reply can still be matched; 0 otherwise.
std::int64_t salvage_seq(std::string_view text);

std::string encode_cti_reply(const cti_reply& reply);

}  // namespace ccrec
