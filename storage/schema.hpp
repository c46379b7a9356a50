// schema: internal to storage/. The numbered migrations that build ccrec's
// tables, per backend. docs/database.md describes the result.
//
// A migration is applied once, inside the transaction that records its
// version in `schema_version`; never edit a released one, add the next.
// Constant data, callable from any thread.
#pragma once

#include <string>
#include <vector>

#include "storage/connection.hpp"

namespace ccrec::storage::detail {

struct migration {
  int version = 0;
  std::string description;
  std::vector<std::string> statements;  // run in order, one statement each
};

// Every migration for `kind`, in version order, versions 1..N without gaps.
const std::vector<migration>& migrations(backend_kind kind);

// Number of the newest migration this build knows.
int latest_schema_version();

// The version table itself, created before any migration runs.
std::string schema_version_table_sql();

}  // namespace ccrec::storage::detail
