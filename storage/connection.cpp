#include "storage/connection.hpp"

#include <soci/postgresql/soci-postgresql.h>

#include <array>
#include <cctype>

#include "common/hex.hpp"

namespace ccrec::storage::detail {
namespace {

const std::string kSqlitePrefix = "sqlite:";
const std::array<std::string, 2> kPgSchemes = {"postgresql://", "postgres://"};
const std::string kHidden = "***";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool contains(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool escape = s[i] == '%' && i + 2 < s.size();
    int hi = escape ? hex_digit_value(s[i + 1]) : -1;
    int lo = escape ? hex_digit_value(s[i + 2]) : -1;
    if (hi < 0)
      lo = -1;
    if (lo < 0) {
      out += s[i];
      continue;
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

void replace_all(std::string& text, const std::string& what, const std::string& with) {
  for (auto pos = text.find(what); pos != std::string::npos;
       pos = text.find(what, pos + with.size()))
    text.replace(pos, what.size(), with);
}

// Query parameters of a URI, `password=...` values hidden; reports the last
// hidden value through *password when no user-info password was found.
std::string redact_query(const std::string& query, std::string* password) {
  std::string out;
  std::size_t start = 0;
  while (start <= query.size()) {
    auto end = query.find('&', start);
    if (end == std::string::npos)
      end = query.size();
    std::string param = query.substr(start, end - start);
    if (starts_with(param, "password=")) {
      if (password != nullptr && password->empty())
        *password = param.substr(9);
      param = "password=" + kHidden;
    }
    out += (start == 0 ? "" : "&") + param;
    start = end + 1;
  }
  return out;
}

result<target> sqlite_target(const std::string& path) {
  if (path.empty())
    return make_error("db_open_failed", "cannot open sqlite3 database: the path is empty");
  // SOCI's SQLite backend reads `db="..."` and cannot escape a quote.
  if (path.find('"') != std::string::npos)
    return make_error("db_open_failed",
                      "cannot open sqlite3 database " + path + ": the path contains a '\"'");
  target t;
  t.kind = backend_kind::sqlite3;
  t.connect = "db=\"" + path + "\"";
  t.shown = path;
  return t;
}

// SOCI 4.0.3 re-tokenises the PostgreSQL connect string as key=value pairs
// before libpq sees it: a URI without any '=' reaches libpq with a stray '='
// glued to the database name. The connect_timeout parameter, always present
// after this, keeps the URI intact.
result<target> postgresql_target(const std::string& uri) {
  auto query_at = uri.find('?');
  std::string query = query_at == std::string::npos ? "" : uri.substr(query_at + 1);
  bool has_timeout = starts_with(query, "connect_timeout=") ||
                     query.find("&connect_timeout=") != std::string::npos;

  target t;
  t.kind = backend_kind::postgresql;
  t.connect = uri;
  if (!has_timeout) {
    t.connect += query_at == std::string::npos ? "?" : "&";
    t.connect += "connect_timeout=" + std::to_string(kPgConnectTimeoutSeconds);
  }
  t.shown = redact_uri(uri, &t.password);
  return t;
}

}  // namespace

result<target> parse_target(const std::string& connection) {
  for (const auto& scheme : kPgSchemes) {
    if (starts_with(connection, scheme))
      return postgresql_target(connection);
  }
  if (starts_with(connection, kSqlitePrefix))
    return sqlite_target(connection.substr(kSqlitePrefix.size()));
  return sqlite_target(connection);
}

std::string redact_uri(const std::string& uri, std::string* password) {
  auto scheme_end = uri.find("://");
  if (scheme_end == std::string::npos)
    return uri;

  auto authority_start = scheme_end + 3;
  auto authority_end = uri.find_first_of("/?", authority_start);
  if (authority_end == std::string::npos)
    authority_end = uri.size();
  std::string authority = uri.substr(authority_start, authority_end - authority_start);

  auto at = authority.rfind('@');
  auto colon = at == std::string::npos ? std::string::npos : authority.find(':');
  if (colon != std::string::npos && colon < at) {
    if (password != nullptr)
      *password = authority.substr(colon + 1, at - colon - 1);
    authority = authority.substr(0, colon + 1) + kHidden + authority.substr(at);
  }

  std::string rest = uri.substr(authority_end);
  auto query_at = rest.find('?');
  if (query_at != std::string::npos)
    rest = rest.substr(0, query_at + 1) + redact_query(rest.substr(query_at + 1), password);
  return uri.substr(0, authority_start) + authority + rest;
}

std::string scrub(std::string text, const std::string& secret) {
  if (secret.empty())
    return text;
  replace_all(text, secret, kHidden);
  std::string decoded = percent_decode(secret);
  if (!decoded.empty() && decoded != secret)
    replace_all(text, decoded, kHidden);
  return text;
}

std::string bare_message(const soci::soci_error& e) {
  std::string message = e.get_error_message();
  auto detail = message.find("\nDETAIL:");
  if (detail != std::string::npos)
    message.erase(detail);

  // libpq writes several lines with tab indents; a log line wants one.
  std::string flat;
  for (char c : message) {
    bool space = c == '\n' || c == '\t' || c == '\r';
    if (space && (flat.empty() || flat.back() == ' '))
      continue;
    flat += space ? ' ' : c;
  }
  while (!flat.empty() && flat.back() == ' ')
    flat.pop_back();
  return flat;
}

bool open_failure_is_unreachable(const std::string& message) {
  // libpq's wording for "nobody answered" and "the server is not ready".
  static const char* const kMarkers[] = {
      "Connection refused",
      "timeout expired",
      "No route to host",
      "Network is unreachable",
      "Connection reset",
      "could not connect to server",
      "could not translate host name",
      "server closed the connection",
      "the database system is starting up",
      "the database system is shutting down",
      "the database system is in recovery mode",
      "the database system is not yet accepting connections",
      "sorry, too many clients already",
  };
  for (const char* marker : kMarkers) {
    if (contains(message, marker))
      return true;
  }
  return false;
}

std::string query_error_code(const soci::soci_error& e) {
  const std::string unreachable = "db_unreachable";
  if (e.get_error_category() == soci::soci_error::connection_error)
    return unreachable;

  // Class 08 is "connection exception"; 57P01-57P03 are the server shutting
  // down or crashing under the session.
  if (auto pg = dynamic_cast<const soci::postgresql_soci_error*>(&e)) {
    std::string state = pg->sqlstate();
    if (starts_with(state, "08") || state == "57P01" || state == "57P02" || state == "57P03")
      return unreachable;
  }

  // Over a unix socket the first failure carries neither category nor
  // SQLSTATE: only the text tells.
  std::string message = e.get_error_message();
  static const char* const kMarkers[] = {
      "server closed the connection", "no connection to the server", "Connection failed",
      "terminating connection",       "could not receive data",      "could not send data",
  };
  for (const char* marker : kMarkers) {
    if (contains(message, marker))
      return unreachable;
  }
  return "db_error";
}

}  // namespace ccrec::storage::detail
