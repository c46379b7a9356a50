#include "storage/schema.hpp"

namespace ccrec::storage::detail {
namespace {

// Every integer column is BIGINT: SOCI reads a column declared INTEGER on
// SQLite as int. The one exception is an SQLite id that must be the rowid
// (INTEGER PRIMARY KEY is the only spelling SQLite accepts for that); the
// code reads it only through typed into() bindings, which are safe.

// Tables whose SQL is the same on both backends.
const char* const kSettingsTable =
    "CREATE TABLE settings ("
    " name TEXT PRIMARY KEY,"
    " value TEXT NOT NULL)";

const char* const kCallsTable =
    "CREATE TABLE calls ("
    " call_id TEXT PRIMARY KEY,"
    " direction TEXT NOT NULL,"
    " from_number TEXT NOT NULL,"
    " to_number TEXT NOT NULL,"
    " agent TEXT NOT NULL,"
    " queue TEXT NOT NULL,"
    " offered_ms BIGINT NOT NULL,"
    " answered_ms BIGINT NOT NULL,"
    " ended_ms BIGINT NOT NULL,"
    " state TEXT NOT NULL,"
    " decision TEXT NOT NULL,"
    " schedule TEXT NOT NULL)";

const char* const kRecordingsTable =
    "CREATE TABLE recordings ("
    " id TEXT PRIMARY KEY,"
    " call_id TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " key_id BIGINT NOT NULL,"
    " encryption TEXT NOT NULL,"
    " schedule TEXT NOT NULL,"
    " agent TEXT NOT NULL,"
    " started_ms BIGINT NOT NULL,"
    " ended_ms BIGINT NOT NULL,"
    " status TEXT NOT NULL,"
    " bytes BIGINT NOT NULL,"
    " packets BIGINT NOT NULL,"
    " retention_days BIGINT NOT NULL)";

const char* const kRecordingsByCall = "CREATE INDEX recordings_call_id ON recordings (call_id)";
const char* const kRecordingsByStatus = "CREATE INDEX recordings_status ON recordings (status)";

// Key columns after the id, the same on both backends but for the type of
// the wrapped bytes.
std::string key_columns(const std::string& bytes_type) {
  return " created_ms BIGINT NOT NULL,"
         " status TEXT NOT NULL CHECK (status IN ('active', 'retired', 'inactive')),"
         " wrapped " +
         bytes_type +
         " NOT NULL,"
         " kek_provider TEXT NOT NULL,"
         " fingerprint TEXT NOT NULL)";
}

const char* const kAuditColumns =
    " at_ms BIGINT NOT NULL,"
    " actor TEXT NOT NULL,"
    " event TEXT NOT NULL,"
    " detail TEXT NOT NULL)";

// The guards' messages are part of the interface: tests and operators look
// for them.
const std::string kKeysNeverDeleted = "'ccrec: keys are never deleted'";
const std::string kKeysImmutable = "'ccrec: key material is immutable, only status may change'";
const std::string kAuditAppendOnly = "'ccrec: audit rows are never changed or deleted'";

// Migration 3: what form each recording's file is in now, and which
// encryption exceptions (policies) applied to it. See docs/transcoding.md.
// ADD COLUMN with NOT NULL needs a default on SQLite; existing rows are raw
// recordings written by the engine itself.
const std::vector<std::string> kRecordingFormStatements = {
    "ALTER TABLE recordings ADD COLUMN form TEXT NOT NULL DEFAULT 'raw'",
    "ALTER TABLE recordings ADD COLUMN method TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE recordings ADD COLUMN xml_policy TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE recordings ADD COLUMN xml_path TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE recordings ADD COLUMN replaced_path TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE recordings ADD COLUMN settled_ms BIGINT NOT NULL DEFAULT 0",
    "CREATE INDEX recordings_form ON recordings (form)",
};

migration recording_forms() {
  return migration{3, "recording forms and encryption policies", kRecordingFormStatements};
}

// SQLite. AUTOINCREMENT keeps ids from ever being reused, even if a guard
// were dropped and the newest row removed.
std::vector<migration> sqlite_migrations() {
  migration tables{
      1,
      "tables and indexes",
      {
          kSettingsTable,
          "CREATE TABLE keys (id INTEGER PRIMARY KEY AUTOINCREMENT," + key_columns("BLOB"),
          kCallsTable,
          kRecordingsTable,
          kRecordingsByCall,
          kRecordingsByStatus,
          std::string("CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT,") + kAuditColumns,
      }};

  migration guards{
      2,
      "never-delete guards on keys, append-only audit",
      {
          "CREATE TRIGGER keys_refuse_delete BEFORE DELETE ON keys"
          " BEGIN SELECT RAISE(ABORT, " +
              kKeysNeverDeleted + "); END",
          "CREATE TRIGGER keys_refuse_rewrite BEFORE UPDATE ON keys"
          " WHEN NEW.id IS NOT OLD.id OR NEW.created_ms IS NOT OLD.created_ms"
          " OR NEW.wrapped IS NOT OLD.wrapped OR NEW.kek_provider IS NOT OLD.kek_provider"
          " OR NEW.fingerprint IS NOT OLD.fingerprint"
          " BEGIN SELECT RAISE(ABORT, " +
              kKeysImmutable + "); END",
          "CREATE TRIGGER audit_refuse_delete BEFORE DELETE ON audit"
          " BEGIN SELECT RAISE(ABORT, " +
              kAuditAppendOnly + "); END",
          "CREATE TRIGGER audit_refuse_update BEFORE UPDATE ON audit"
          " BEGIN SELECT RAISE(ABORT, " +
              kAuditAppendOnly + "); END",
      }};
  return {tables, guards, recording_forms()};
}

// PostgreSQL. Identity columns BY DEFAULT so that an import can restore a
// key under its original id. Function bodies avoid ':' outside quotes:
// SOCI would take it for a bind placeholder.
std::vector<migration> postgresql_migrations() {
  migration tables{
      1,
      "tables and indexes",
      {
          kSettingsTable,
          "CREATE TABLE keys (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY," +
              key_columns("BYTEA"),
          kCallsTable,
          kRecordingsTable,
          kRecordingsByCall,
          kRecordingsByStatus,
          std::string(
              "CREATE TABLE audit (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,") +
              kAuditColumns,
      }};

  migration guards{
      2,
      "never-delete guards on keys, append-only audit",
      {
          "CREATE FUNCTION ccrec_refuse_key_delete() RETURNS trigger LANGUAGE plpgsql AS $$"
          " BEGIN RAISE EXCEPTION " +
              kKeysNeverDeleted + " USING ERRCODE = 'integrity_constraint_violation'; END $$",
          "CREATE TRIGGER keys_refuse_delete BEFORE DELETE ON keys"
          " FOR EACH ROW EXECUTE FUNCTION ccrec_refuse_key_delete()",
          "CREATE TRIGGER keys_refuse_truncate BEFORE TRUNCATE ON keys"
          " FOR EACH STATEMENT EXECUTE FUNCTION ccrec_refuse_key_delete()",
          "CREATE FUNCTION ccrec_refuse_key_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$"
          " BEGIN"
          " IF NEW.id IS DISTINCT FROM OLD.id OR NEW.created_ms IS DISTINCT FROM OLD.created_ms"
          " OR NEW.wrapped IS DISTINCT FROM OLD.wrapped"
          " OR NEW.kek_provider IS DISTINCT FROM OLD.kek_provider"
          " OR NEW.fingerprint IS DISTINCT FROM OLD.fingerprint THEN"
          " RAISE EXCEPTION " +
              kKeysImmutable +
              " USING ERRCODE = 'integrity_constraint_violation';"
              " END IF;"
              " RETURN NEW;"
              " END $$",
          "CREATE TRIGGER keys_refuse_rewrite BEFORE UPDATE ON keys"
          " FOR EACH ROW EXECUTE FUNCTION ccrec_refuse_key_rewrite()",
          "CREATE FUNCTION ccrec_refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$"
          " BEGIN RAISE EXCEPTION " +
              kAuditAppendOnly + " USING ERRCODE = 'integrity_constraint_violation'; END $$",
          "CREATE TRIGGER audit_refuse_change BEFORE UPDATE OR DELETE ON audit"
          " FOR EACH ROW EXECUTE FUNCTION ccrec_refuse_audit_change()",
          "CREATE TRIGGER audit_refuse_truncate BEFORE TRUNCATE ON audit"
          " FOR EACH STATEMENT EXECUTE FUNCTION ccrec_refuse_audit_change()",
      }};
  return {tables, guards, recording_forms()};
}

}  // namespace

const std::vector<migration>& migrations(backend_kind kind) {
  static const std::vector<migration> sqlite = sqlite_migrations();
  static const std::vector<migration> postgresql = postgresql_migrations();
  return kind == backend_kind::sqlite3 ? sqlite : postgresql;
}

int latest_schema_version() {
  return static_cast<int>(migrations(backend_kind::sqlite3).size());
}

std::string schema_version_table_sql() {
  return "CREATE TABLE IF NOT EXISTS schema_version ("
         " version BIGINT PRIMARY KEY,"
         " applied_ms BIGINT NOT NULL,"
         " description TEXT NOT NULL)";
}

}  // namespace ccrec::storage::detail
