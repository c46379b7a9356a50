// connection: internal to storage/. Turns the engine's connection strings
// into what SOCI's backends take, hides passwords from everything shown to
// people, and sorts SOCI's exceptions into the layer's error codes.
//
// Pure functions, callable from any thread.
#pragma once

#include <soci/soci.h>

#include <string>

#include "common/result.hpp"

namespace ccrec::storage::detail {

enum class backend_kind { sqlite3, postgresql };

// Seconds libpq may spend establishing a connection when the URI does not
// say: an unreachable server must fail within seconds, never hang.
constexpr int kPgConnectTimeoutSeconds = 5;

struct target {
  backend_kind kind = backend_kind::sqlite3;
  std::string connect;   // handed to SOCI; may hold the password
  std::string shown;     // for messages: never holds the password
  std::string password;  // as written in the URI (percent-encoded), or ""
};

// "sqlite:PATH" or a bare PATH -> SQLite; "postgresql://..." or
// "postgres://..." -> PostgreSQL, with connect_timeout added when absent.
// Fails with "db_open_failed" for an empty path or a malformed URI.
result<target> parse_target(const std::string& connection);

// `uri` with the password in the user info and any `password=` parameter
// replaced by "***". Sets *password to the user-info password when asked.
std::string redact_uri(const std::string& uri, std::string* password = nullptr);

// `text` with every occurrence of `secret` (and its percent-decoded form)
// replaced by "***"; unchanged when `secret` is empty.
std::string scrub(std::string text, const std::string& secret);

// SOCI's message without its context: SOCI's context lists the bound values
// (phone numbers, wrapped keys), and PostgreSQL's DETAIL lines quote row
// contents, so neither may reach an error message.
std::string bare_message(const soci::soci_error& e);

// True when an error raised while opening or reconnecting means the server
// could not be reached (refused, timed out, not accepting connections yet),
// as opposed to a configuration or authentication problem.
bool open_failure_is_unreachable(const std::string& message);

// "db_unreachable" when a failed statement lost its connection, else
// "db_error".
std::string query_error_code(const soci::soci_error& e);

}  // namespace ccrec::storage::detail
