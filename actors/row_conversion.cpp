#include "actors/row_conversion.hpp"

namespace ccrec {

namespace {

// recording_info and storage::recording_row share these fields under the
// same names, so one list serves both directions.
template <class To, class From>
To copy_recording(const From& x) {
  To r;
  r.id = x.id;
  r.call_id = x.call_id;
  r.kind = x.kind;
  r.path = x.path;
  r.key_id = x.key_id;
  r.encryption = x.encryption;
  r.schedule = x.schedule;
  r.agent = x.agent;
  r.started_ms = x.started_ms;
  r.ended_ms = x.ended_ms;
  r.status = x.status;
  r.bytes = x.bytes;
  r.packets = x.packets;
  r.retention_days = x.retention_days;
  return r;
}

}  // namespace

storage::call_row to_row(const call_info& c) {
  storage::call_row r;
  r.call_id = c.call_id;
  r.direction = c.direction;
  r.from_number = c.from_number;
  r.to_number = c.to_number;
  r.agent = c.agent;
  r.queue = c.queue;
  r.offered_ms = c.offered_ms;
  r.answered_ms = c.answered_ms;
  r.ended_ms = c.ended_ms;
  r.state = c.state;
  r.decision = c.decision;
  r.schedule = c.schedule;
  return r;
}

storage::recording_row to_row(const recording_info& x) {
  return copy_recording<storage::recording_row>(x);
}

recording_info to_info(const storage::recording_row& r) {
  return copy_recording<recording_info>(r);
}

}  // namespace ccrec
