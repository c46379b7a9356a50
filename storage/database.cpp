#include "storage/database.hpp"

#include <libpq-fe.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <variant>

#include "common/hex.hpp"
#include "storage/connection.hpp"
#include "storage/file_identity.hpp"
#include "storage/schema.hpp"

namespace ccrec::storage {
namespace {

using detail::backend_kind;

// How long an SQLite writer waits for another connection's lock (two engines
// migrating at once, a CLI reading) before failing with "database is locked".
constexpr int kSqliteBusyTimeoutMs = 5000;

// Serialises migrations across engines sharing one PostgreSQL database; any
// constant works as long as nothing else in the database uses it ("ccrec").
constexpr long long kMigrationLockKey = 0x6363726563;

const std::string kUnreachable = "db_unreachable";

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Both backends hand wrapped keys back as hex text (SQLite's hex() is upper
// case, PostgreSQL's encode() lower case).
std::vector<std::uint8_t> from_hex(const std::string& hex) {
  if (hex.size() % 2 != 0)
    throw std::runtime_error("wrapped key column holds an odd number of hex digits");
  std::vector<std::uint8_t> out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_digit_value(hex[i]);
    int lo = hex_digit_value(hex[i + 1]);
    if (hi < 0 || lo < 0)
      throw std::runtime_error("wrapped key column holds a non-hex character");
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  return out;
}

// "INSERT INTO t (a, b) VALUES (:a, :b) ON CONFLICT (a) DO UPDATE SET b = excluded.b":
// the same text works on SQLite 3.24+ and PostgreSQL 9.5+.
std::string upsert_sql(const std::string& table, const std::vector<std::string>& columns) {
  std::string names, values, updates;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const std::string sep = i == 0 ? "" : ", ";
    names += sep + columns[i];
    values += sep + ":" + columns[i];
    if (i > 0)
      updates += (i == 1 ? "" : ", ") + columns[i] + " = excluded." + columns[i];
  }
  return "INSERT INTO " + table + " (" + names + ") VALUES (" + values + ") ON CONFLICT (" +
         columns[0] + ") DO UPDATE SET " + updates;
}

std::string select_sql(const std::string& table, const std::vector<std::string>& columns) {
  std::string names;
  for (std::size_t i = 0; i < columns.size(); ++i)
    names += (i == 0 ? "" : ", ") + columns[i];
  return "SELECT " + names + " FROM " + table;
}

// Column order is binding order: the statements below bind by position.
const std::vector<std::string> kCallColumns = {
    "call_id",    "direction",   "from_number", "to_number", "agent",    "queue",
    "offered_ms", "answered_ms", "ended_ms",    "state",     "decision", "schedule"};

const std::vector<std::string> kRecordingColumns = {
    "id",         "call_id",    "kind",     "path",           "key_id",
    "encryption", "schedule",   "agent",    "started_ms",     "ended_ms",
    "status",     "bytes",      "packets",  "retention_days", "form",
    "method",     "xml_policy", "xml_path", "replaced_path",  "settled_ms"};

// The columns an engine upsert may change on an existing row: the first
// fourteen. Form and policy columns belong to the transcoder and the tools
// that replace files, and a settled row is not changed at all.
constexpr std::size_t kRecordingEngineColumns = 14;

std::string recording_upsert_sql() {
  std::vector<std::string> engine_columns(kRecordingColumns.begin(),
                                          kRecordingColumns.begin() + kRecordingEngineColumns);
  std::string sql = upsert_sql("recordings", engine_columns);
  std::string names, values;
  for (std::size_t i = kRecordingEngineColumns; i < kRecordingColumns.size(); ++i) {
    names += ", " + kRecordingColumns[i];
    values += ", :" + kRecordingColumns[i];
  }
  // Splice the extra columns into the INSERT part only.
  sql.replace(sql.find(") VALUES ("), 10, names + ") VALUES (");
  sql.replace(sql.find(") ON CONFLICT"), 1, values + ")");
  return sql + " WHERE recordings.settled_ms = 0";
}

// A new row's form and method when the writer did not say: the plain-WAV
// method writes into the plaintext spool, everything else is a raw stream.
void derive_form(recording_row& r) {
  const std::string spool = std::string{plaintext_spool_dir} + "/";
  const bool spooled = r.path.compare(0, spool.size(), spool) == 0;
  if (r.form.empty())
    r.form = spooled ? "plain_wav" : "raw";
  if (r.method.empty())
    r.method = spooled ? "plain_wav" : (r.encryption == "ccenx" ? "ccenx" : "none");
}

// Calls `bind` on each field in column order; `bind` exchanges an into() or
// a use() with a statement, so one list serves reads and writes.
template <class Row, class Bind>
void each_call_field(Row& r, Bind bind) {
  bind(r.call_id);
  bind(r.direction);
  bind(r.from_number);
  bind(r.to_number);
  bind(r.agent);
  bind(r.queue);
  bind(r.offered_ms);
  bind(r.answered_ms);
  bind(r.ended_ms);
  bind(r.state);
  bind(r.decision);
  bind(r.schedule);
}

template <class Row, class Bind>
void each_recording_field(Row& r, Bind bind) {
  bind(r.id);
  bind(r.call_id);
  bind(r.kind);
  bind(r.path);
  bind(r.key_id);
  bind(r.encryption);
  bind(r.schedule);
  bind(r.agent);
  bind(r.started_ms);
  bind(r.ended_ms);
  bind(r.status);
  bind(r.bytes);
  bind(r.packets);
  bind(r.retention_days);
  bind(r.form);
  bind(r.method);
  bind(r.xml_policy);
  bind(r.xml_path);
  bind(r.replaced_path);
  bind(r.settled_ms);
}

// A statement whose into()/use() elements were exchanged one by one: it
// still needs preparing. Elements bind by position, in exchange order.
void prepare_exchanged(soci::statement& st, const std::string& query) {
  st.alloc();
  st.prepare(query);
  st.define_and_bind();
}

// run() lets a body return either a plain value or a result.
template <class T>
struct as_result {
  using type = result<T>;
};
template <class T>
struct as_result<result<T>> {
  using type = result<T>;
};

// libpq prints server notices ("relation already exists, skipping",
// "terminating connection due to immediate shutdown") on stderr; the engine
// logs through its own logger, so the storage layer keeps quiet.
void ignore_notice(void*, const char*) {}

}  // namespace

struct database::impl {
  explicit impl(detail::target t) : target(std::move(t)) {}

  detail::target target;
  soci::session sql;
  bool broken = false;      // the last statement lost the connection
  bool must_exist = false;  // an SQLite file is never created (open_existing)
  // SQLite: device and inode of the file this session opened. A session
  // keeps writing to a file deleted under it, where every row is lost, so
  // each statement first checks that the path still leads to this file.
  std::optional<file_identity> file;

  // ---- connection -------------------------------------------------------

  // SQLite creates a missing file on open; a session that must find its
  // database refuses first. (A file deleted in between is the rare race
  // left: SOCI 4.0's SQLite backend takes no "do not create" flag.)
  result<void> require_file() const {
    if (!must_exist || target.kind != backend_kind::sqlite3)
      return {};
    struct stat st {};
    if (::stat(target.shown.c_str(), &st) == 0)
      return {};
    return make_error("db_missing", "no SQLite database at " + target.shown + " (" +
                                        std::strerror(errno) +
                                        "); not creating an empty one in its place");
  }

  void note_file() {
    file = target.kind == backend_kind::sqlite3 ? file_identity::of(target.shown) : std::nullopt;
  }

  // Fails with "db_unreachable" (the rows must wait in the journal) when the
  // file this session opened is no longer at its path.
  result<void> check_file() const {
    if (!file)
      return {};
    switch (file->at(target.shown)) {
      case file_change::same:
        return {};
      case file_change::deleted:
        return make_error(kUnreachable, "the SQLite database file " + target.shown +
                                            " was deleted while open (" + std::strerror(errno) +
                                            "); restore it from a backup");
      case file_change::replaced:
        break;
    }
    return make_error(kUnreachable, "the SQLite database file " + target.shown +
                                        " was replaced by another file while open");
  }

  result<void> connect() {
    if (auto there = require_file(); !there)
      return there;
    try {
      if (target.kind == backend_kind::sqlite3)
        sql.open(soci::sqlite3, target.connect);
      else
        sql.open(soci::postgresql, target.connect);
      configure_session();
      note_file();
      return {};
    } catch (const soci::soci_error& e) {
      return open_error("cannot open", detail::bare_message(e));
    } catch (const std::exception& e) {
      return open_error("cannot open", e.what());
    }
  }

  result<void> reconnect() {
    if (auto there = require_file(); !there) {
      broken = true;
      return there;
    }
    try {
      sql.reconnect();
      configure_session();
      note_file();
      broken = false;
      return {};
    } catch (const soci::soci_error& e) {
      broken = true;
      return open_error("cannot reconnect to", detail::bare_message(e));
    } catch (const std::exception& e) {
      broken = true;
      return open_error("cannot reconnect to", e.what());
    }
  }

  // Per-connection settings: lost on reconnect, so applied after each one.
  void configure_session() {
    if (target.kind == backend_kind::postgresql) {
      auto* backend = static_cast<soci::postgresql_session_backend*>(sql.get_backend());
      PQsetNoticeProcessor(backend->conn_, ignore_notice, nullptr);
      return;
    }

    // busy_timeout first: switching to WAL needs a lock another engine may
    // hold. synchronous=FULL: a key row must survive a power cut before any
    // file sealed under that key reaches the disk; NORMAL in WAL mode may
    // lose the last commits. Metadata writes are few, the fsync is cheap.
    // recursive_triggers: without it INSERT OR REPLACE deletes a key row
    // without firing the never-delete trigger.
    sql << "PRAGMA busy_timeout = " + std::to_string(kSqliteBusyTimeoutMs);
    std::string mode;
    sql << "PRAGMA journal_mode = WAL", soci::into(mode);
    if (mode != "wal" && mode != "memory")
      throw std::runtime_error("cannot switch to WAL journal mode (still '" + mode + "')");
    sql << "PRAGMA synchronous = FULL";
    sql << "PRAGMA foreign_keys = ON";
    sql << "PRAGMA recursive_triggers = ON";
  }

  std::string backend_name() const {
    return target.kind == backend_kind::sqlite3 ? "sqlite3" : "postgresql";
  }

  error open_error(const std::string& verb, const std::string& message) const {
    bool unreachable =
        target.kind == backend_kind::postgresql && detail::open_failure_is_unreachable(message);
    return make_error(unreachable ? kUnreachable : "db_open_failed",
                      verb + " " + backend_name() + " database " + target.shown + ": " +
                          detail::scrub(message, target.password));
  }

  // ---- statements -------------------------------------------------------

  // Runs `body`, turning its exceptions, and the errors it returns, into
  // errors whose message starts with `what`. A session that lost its
  // connection reconnects first: SOCI sessions stay broken after the server
  // returns otherwise.
  template <class F>
  typename as_result<std::invoke_result_t<F>>::type run(const std::string& what, F&& body) {
    using T = std::invoke_result_t<F>;
    using R = typename as_result<T>::type;
    if (broken) {
      auto healed = reconnect();
      if (!healed)
        return healed.error().with_context(what);
    }
    if (auto same = check_file(); !same) {
      broken = true;
      return same.error().with_context(what);
    }
    try {
      if constexpr (std::is_void_v<T>) {
        body();
        return R{};
      } else if constexpr (std::is_same_v<T, R>) {
        R returned = body();
        if (!returned)
          return returned.error().with_context(what);
        return returned;
      } else {
        return R(body());
      }
    } catch (const soci::soci_error& e) {
      std::string code = detail::query_error_code(e);
      broken = broken || code == kUnreachable;
      return make_error(code,
                        what + ": " + detail::scrub(detail::bare_message(e), target.password));
    } catch (const std::exception& e) {
      return make_error("db_error", what + ": " + e.what());
    }
  }

  // ---- schema -----------------------------------------------------------

  // Runs inside run(). One transaction per migrate(): a failure leaves the
  // schema as it was. SQLite takes the write lock up front (IMMEDIATE) so two
  // engines cannot both read version 0 and then collide; PostgreSQL uses a
  // transaction-scoped advisory lock, released by COMMIT or ROLLBACK.
  result<void> apply_migrations() {
    sql << (target.kind == backend_kind::sqlite3 ? "BEGIN IMMEDIATE" : "BEGIN");
    try {
      auto applied = apply_migrations_in_transaction();
      sql << (applied ? "COMMIT" : "ROLLBACK");
      return applied;
    } catch (...) {
      rollback_quietly();
      throw;
    }
  }

  result<void> apply_migrations_in_transaction() {
    if (target.kind == backend_kind::postgresql)
      sql << "SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")";
    sql << detail::schema_version_table_sql();

    long long current = 0;
    sql << "SELECT COALESCE(MAX(version), 0) FROM schema_version", soci::into(current);
    const int latest = detail::latest_schema_version();
    if (current > latest)
      return make_error("schema_too_new", "the database schema is version " +
                                              std::to_string(current) +
                                              ", this build knows up to " + std::to_string(latest));

    for (const auto& m : detail::migrations(target.kind)) {
      if (m.version <= current)
        continue;
      for (const auto& statement : m.statements)
        sql << statement;
      long long version = m.version;
      long long applied_ms = now_ms();
      sql << "INSERT INTO schema_version (version, applied_ms, description)"
             " VALUES (:version, :applied_ms, :description)",
          soci::use(version), soci::use(applied_ms), soci::use(m.description);
    }
    return {};
  }

  void rollback_quietly() {
    try {
      sql << "ROLLBACK";
    } catch (const std::exception&) {
      // The original failure is the one worth reporting.
    }
  }

  bool has_version_table() {
    int found = 0;
    if (target.kind == backend_kind::sqlite3)
      sql << "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
          soci::into(found);
    else
      sql << "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN 0 ELSE 1 END",
          soci::into(found);
    return found != 0;
  }

  // ---- keys ---------------------------------------------------------------

  // Wrapped bytes go in as a real BLOB on SQLite and as hex decoded by the
  // server on PostgreSQL (SOCI's blob type is a large object there, not
  // BYTEA); they come back as hex text from both.
  std::string wrapped_as_hex() const {
    return target.kind == backend_kind::sqlite3 ? "hex(wrapped)" : "encode(wrapped, 'hex')";
  }

  std::int64_t insert_key_row(const key_row& row, bool with_id) {
    const bool sqlite = target.kind == backend_kind::sqlite3;
    const std::string query = std::string("INSERT INTO keys (") + (with_id ? "id, " : "") +
                              "created_ms, status, wrapped, kek_provider, fingerprint) VALUES (" +
                              (with_id ? ":id, " : "") + ":created_ms, :status, " +
                              (sqlite ? ":wrapped" : "decode(:wrapped, 'hex')") +
                              ", :kek_provider, :fingerprint)" + (sqlite ? "" : " RETURNING id");
    long long id = row.id;
    soci::blob blob(sql);  // SQLite only; harmless otherwise
    const std::string hex = sqlite ? "" : to_hex(row.wrapped.data(), row.wrapped.size());

    soci::statement st(sql);
    if (!sqlite)
      st.exchange(soci::into(id));
    if (with_id)
      st.exchange(soci::use(id));
    st.exchange(soci::use(row.created_ms));
    st.exchange(soci::use(row.status));
    if (sqlite) {
      blob.write(0, reinterpret_cast<const char*>(row.wrapped.data()), row.wrapped.size());
      st.exchange(soci::use(blob));
    } else {
      st.exchange(soci::use(hex));
    }
    st.exchange(soci::use(row.kek_provider));
    st.exchange(soci::use(row.fingerprint));
    prepare_exchanged(st, query);
    st.execute(true);

    if (sqlite && !with_id)
      sql << "SELECT last_insert_rowid()", soci::into(id);
    return id;
  }

  // All keys, or only the one with `id` when `by_id`.
  std::vector<key_row> select_keys(bool by_id, std::int64_t id) {
    std::vector<key_row> rows;
    key_row row;
    std::string hex;
    long long wanted = id;
    soci::statement st(sql);
    st.exchange(soci::into(row.id));
    st.exchange(soci::into(row.created_ms));
    st.exchange(soci::into(row.status));
    st.exchange(soci::into(hex));
    st.exchange(soci::into(row.kek_provider));
    st.exchange(soci::into(row.fingerprint));
    if (by_id)
      st.exchange(soci::use(wanted));
    prepare_exchanged(st, "SELECT id, created_ms, status, " + wrapped_as_hex() +
                              ", kek_provider, fingerprint FROM keys" +
                              (by_id ? " WHERE id = :id" : "") + " ORDER BY id");
    st.execute();
    while (st.fetch()) {
      row.wrapped = from_hex(hex);
      rows.push_back(row);
    }
    return rows;
  }

  // ---- calls and recordings ----------------------------------------------

  // Rows of `table` in `Row` form, `tail` appended to the SELECT; `id`
  // binds its one placeholder when given.
  template <class Row, class Fields>
  std::vector<Row> select_rows(const std::string& table, const std::vector<std::string>& columns,
                               Fields each_field, const std::string& tail, const std::string* id) {
    std::vector<Row> rows;
    Row row;
    soci::statement st(sql);
    each_field(row, [&](auto& field) { st.exchange(soci::into(field)); });
    if (id != nullptr)
      st.exchange(soci::use(*id));
    prepare_exchanged(st, select_sql(table, columns) + tail);
    st.execute();
    while (st.fetch())
      rows.push_back(row);
    return rows;
  }

  std::vector<call_row> select_calls(const std::string& tail, const std::string* id) {
    return select_rows<call_row>(
        "calls", kCallColumns, [](auto& r, auto bind) { each_call_field(r, bind); }, tail, id);
  }

  std::vector<recording_row> select_recordings(const std::string& tail, const std::string* id) {
    return select_rows<recording_row>(
        "recordings", kRecordingColumns, [](auto& r, auto bind) { each_recording_field(r, bind); },
        tail, id);
  }

  template <class Row, class Fields>
  void upsert_row(const std::string& table, const std::vector<std::string>& columns,
                  Fields each_field, const Row& row) {
    upsert_row_with(upsert_sql(table, columns), each_field, row);
  }

  template <class Row, class Fields>
  void upsert_row_with(const std::string& query, Fields each_field, const Row& row) {
    soci::statement st(sql);
    each_field(row, [&](const auto& field) { st.exchange(soci::use(field)); });
    prepare_exchanged(st, query);
    st.execute(true);
  }

  // Runs an UPDATE whose placeholders are bound in the order given; returns
  // the rows it changed.
  using bound_value = std::variant<const std::string*, const std::int64_t*>;
  long long update(const std::string& query, const std::vector<bound_value>& values) {
    soci::statement st(sql);
    for (const auto& v : values)
      std::visit([&](const auto* p) { st.exchange(soci::use(*p)); }, v);
    prepare_exchanged(st, query);
    st.execute(true);
    return st.get_affected_rows();
  }
};

// ---- construction -----------------------------------------------------------

database::database(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
database::~database() = default;

result<std::unique_ptr<database>> database::open(const std::string& connection) {
  auto target = detail::parse_target(connection);
  if (!target)
    return target.error();

  auto p = std::make_unique<impl>(std::move(*target));
  auto connected = p->connect();
  if (!connected)
    return connected.error();
  return std::unique_ptr<database>(new database(std::move(p)));
}

result<std::unique_ptr<database>> database::open_existing(const std::string& connection) {
  auto target = detail::parse_target(connection);
  if (!target)
    return target.error();

  auto p = std::make_unique<impl>(std::move(*target));
  p->must_exist = true;
  auto connected = p->connect();
  if (!connected)
    return connected.error();
  return std::unique_ptr<database>(new database(std::move(p)));
}

std::string sqlite_file_path(const std::string& connection) {
  auto target = detail::parse_target(connection);
  if (!target || target->kind != backend_kind::sqlite3)
    return "";
  return target->shown;
}

std::string database::backend() const {
  return impl_->backend_name();
}

// ---- schema -------------------------------------------------------------------

result<void> database::migrate() {
  return impl_->run("while migrating the schema", [&] { return impl_->apply_migrations(); });
}

int database::schema_version() {
  auto version = impl_->run("while reading the schema version", [&]() -> long long {
    if (!impl_->has_version_table())
      return 0;
    long long v = 0;
    impl_->sql << "SELECT COALESCE(MAX(version), 0) FROM schema_version", soci::into(v);
    return v;
  });
  return version ? static_cast<int>(*version) : -1;
}

int database::latest_schema_version() {
  return detail::latest_schema_version();
}

// ---- connection health ----------------------------------------------------------

result<void> database::ping() {
  if (!impl_->sql.is_connected()) {
    auto healed = impl_->reconnect();
    if (!healed)
      return healed.error().with_context("while pinging");
  }
  return impl_->run("while pinging", [&] {
    int one = 0;
    impl_->sql << "SELECT 1", soci::into(one);
  });
}

result<void> database::reconnect() {
  return impl_->reconnect();
}

// ---- settings -------------------------------------------------------------------

result<std::optional<std::string>> database::setting(const std::string& name) {
  return impl_->run("while reading setting " + name, [&]() -> std::optional<std::string> {
    std::string value;
    impl_->sql << "SELECT value FROM settings WHERE name = :name", soci::into(value),
        soci::use(name);
    if (!impl_->sql.got_data())
      return std::nullopt;
    return value;
  });
}

result<void> database::put_setting(const std::string& name, const std::string& value) {
  return impl_->run("while writing setting " + name, [&] {
    impl_->sql << upsert_sql("settings", {"name", "value"}), soci::use(name), soci::use(value);
  });
}

// ---- keys -------------------------------------------------------------------------

result<std::int64_t> database::insert_key(const key_row& row) {
  const std::string what = "while inserting key " + row.fingerprint;
  if (row.wrapped.empty())
    return make_error("invalid_key", what + ": the wrapped key is empty");
  return impl_->run(what, [&] { return impl_->insert_key_row(row, false); });
}

result<std::vector<key_row>> database::keys() {
  return impl_->run("while reading keys", [&] { return impl_->select_keys(false, 0); });
}

result<void> database::set_key_status(std::int64_t id, const std::string& status) {
  const std::string what = "while setting key " + std::to_string(id) + " to " + status;
  return impl_->run(what, [&]() -> result<void> {
    long long wanted = id;
    soci::statement st = (impl_->sql.prepare << "UPDATE keys SET status = :status WHERE id = :id",
                          soci::use(status), soci::use(wanted));
    st.execute(true);
    if (st.get_affected_rows() == 0)
      return make_error("not_found", "no such key");
    return {};
  });
}

result<void> database::import_key(const key_row& row) {
  const std::string what = "while importing key " + std::to_string(row.id);
  if (row.id <= 0 || row.wrapped.empty())
    return make_error("invalid_key", what + ": a key needs a positive id and wrapped bytes");

  return impl_->run(what, [&]() -> result<void> {
    auto existing = impl_->select_keys(true, row.id);
    if (!existing.empty()) {
      const key_row& have = existing.front();
      if (have.wrapped == row.wrapped && have.fingerprint == row.fingerprint)
        return {};
      return make_error("key_conflict",
                        "another key (fingerprint " + have.fingerprint + ") already has this id");
    }
    impl_->insert_key_row(row, true);
    // SQLite's AUTOINCREMENT follows explicit ids by itself; PostgreSQL's
    // identity sequence does not.
    if (impl_->target.kind == backend_kind::postgresql)
      impl_->sql << "SELECT setval(pg_get_serial_sequence('keys', 'id'), "
                    "(SELECT MAX(id) FROM keys))";
    return {};
  });
}

// ---- calls --------------------------------------------------------------------------

result<void> database::upsert_call(const call_row& row) {
  return impl_->run("while upserting call " + row.call_id, [&] {
    impl_->upsert_row(
        "calls", kCallColumns, [](auto& r, auto bind) { each_call_field(r, bind); }, row);
  });
}

result<std::optional<call_row>> database::call(const std::string& call_id) {
  return impl_->run("while reading call " + call_id, [&]() -> std::optional<call_row> {
    auto rows = impl_->select_calls(" WHERE call_id = :call_id", &call_id);
    if (rows.empty())
      return std::nullopt;
    return rows.front();
  });
}

result<std::vector<call_row>> database::calls() {
  return impl_->run("while reading calls",
                    [&] { return impl_->select_calls(" ORDER BY offered_ms, call_id", nullptr); });
}

// ---- recordings -----------------------------------------------------------------------

result<void> database::upsert_recording(const recording_row& row) {
  static const std::string query = recording_upsert_sql();
  recording_row full = row;
  derive_form(full);
  return impl_->run("while upserting recording " + row.id, [&] {
    impl_->upsert_row_with(
        query, [](auto& r, auto bind) { each_recording_field(r, bind); }, full);
  });
}

result<std::optional<recording_row>> database::recording(const std::string& id) {
  return impl_->run("while reading recording " + id, [&]() -> std::optional<recording_row> {
    auto rows = impl_->select_recordings(" WHERE id = :id", &id);
    if (rows.empty())
      return std::nullopt;
    return rows.front();
  });
}

result<std::vector<recording_row>> database::recordings() {
  return impl_->run("while reading recordings",
                    [&] { return impl_->select_recordings(" ORDER BY started_ms, id", nullptr); });
}

result<std::vector<recording_row>> database::unfinished_recordings() {
  return impl_->run("while reading unfinished recordings", [&] {
    return impl_->select_recordings(" WHERE status = 'recording' ORDER BY started_ms, id", nullptr);
  });
}

result<std::vector<recording_row>> database::recordings_to_transcode() {
  return impl_->run("while reading recordings to transcode", [&] {
    return impl_->select_recordings(
        " WHERE kind = 'audio' AND form IN ('raw', 'plain_wav')"
        " AND status IN ('complete', 'interrupted') ORDER BY started_ms, id",
        nullptr);
  });
}

result<std::vector<recording_row>> database::recordings_in_form(const std::string& form) {
  return impl_->run("while reading recordings in form " + form, [&] {
    return impl_->select_recordings(" WHERE form = :form ORDER BY started_ms, id", &form);
  });
}

result<std::vector<recording_row>> database::recordings_with_replaced_file() {
  return impl_->run("while reading recordings with a replaced file", [&] {
    return impl_->select_recordings(" WHERE replaced_path <> '' ORDER BY started_ms, id", nullptr);
  });
}

result<std::vector<recording_row>> database::recordings_at_path(const std::string& path) {
  return impl_->run("while reading recordings at " + path, [&] {
    return impl_->select_recordings(" WHERE path = :path ORDER BY started_ms, id", &path);
  });
}

result<bool> database::set_recording_policy(const std::string& id, const std::string& method,
                                            const std::string& xml_policy,
                                            const std::string& xml_path) {
  return impl_->run("while noting the policies of recording " + id, [&] {
    return impl_->update(
               "UPDATE recordings SET method = :method, xml_policy = :xml_policy,"
               " xml_path = :xml_path WHERE id = :id",
               {&method, &xml_policy, &xml_path, &id}) > 0;
  });
}

result<bool> database::replace_recording_file(const recording_file_change& c) {
  const std::string replaced = c.new_path == c.expected_path ? "" : c.expected_path;
  const std::int64_t now = now_ms();
  return impl_->run("while pointing recording " + c.id + " at " + c.new_path, [&] {
    return impl_->update(
               "UPDATE recordings SET path = :new_path, form = :form, encryption = :encryption,"
               " replaced_path = :replaced, key_id = :key_id, bytes = :bytes,"
               " settled_ms = :settled_ms WHERE id = :id AND path = :expected",
               {&c.new_path, &c.form, &c.encryption, &replaced, &c.key_id, &c.bytes, &now, &c.id,
                &c.expected_path}) > 0;
  });
}

result<void> database::clear_replaced_path(const std::string& id) {
  return impl_->run("while clearing the replaced file of recording " + id, [&] {
    impl_->update("UPDATE recordings SET replaced_path = '' WHERE id = :id", {&id});
  });
}

// ---- audit ------------------------------------------------------------------------------

result<void> database::add_audit(const audit_row& row) {
  return impl_->run("while adding audit event " + row.event, [&] {
    impl_->sql << "INSERT INTO audit (at_ms, actor, event, detail)"
                  " VALUES (:at_ms, :actor, :event, :detail)",
        soci::use(row.at_ms), soci::use(row.actor), soci::use(row.event), soci::use(row.detail);
  });
}

result<std::vector<audit_row>> database::audit() {
  return impl_->run("while reading the audit trail", [&] {
    std::vector<audit_row> rows;
    audit_row row;
    soci::statement st =
        (impl_->sql.prepare << "SELECT id, at_ms, actor, event, detail FROM audit ORDER BY id",
         soci::into(row.id), soci::into(row.at_ms), soci::into(row.actor), soci::into(row.event),
         soci::into(row.detail));
    st.execute();
    while (st.fetch())
      rows.push_back(row);
    return rows;
  });
}

}  // namespace ccrec::storage
