// row_conversion: between the engine's messages about calls and recordings
// (messages/messages.hpp) and the rows the database stores
// (storage/database.hpp).
//
// The two sides mirror each other field by field; this is the one place
// that knows it, so messages/ and storage/ stay unaware of each other.
// Pure functions: any thread may call them.
#pragma once

#include "messages/messages.hpp"
#include "storage/database.hpp"

namespace ccrec {

storage::call_row to_row(const call_info& c);

// Fields only the database keeps (form, method, ...) are left empty, which
// the database reads as "derive or keep what is there".
storage::recording_row to_row(const recording_info& x);

recording_info to_info(const storage::recording_row& r);

}  // namespace ccrec
