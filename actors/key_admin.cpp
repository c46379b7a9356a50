#include "actors/key_admin.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include "actors/keyring.hpp"
#include "crypto/key_wrap.hpp"

namespace ccrec {

namespace {

std::string id_list(const std::vector<std::int64_t>& ids) {
  std::string out;
  for (auto id : ids)
    out += (out.empty() ? "" : ", ") + std::to_string(id);
  return out.empty() ? "none" : out;
}

result<void> audit(storage::database& db, const std::string& actor, const std::string& event,
                   const std::string& detail) {
  storage::audit_row row;
  row.at_ms = key_admin_now_ms();
  row.actor = actor;
  row.event = event;
  row.detail = detail;
  return db.add_audit(row);
}

std::optional<storage::key_row> find_row(const std::vector<storage::key_row>& rows,
                                         std::int64_t id) {
  for (const auto& r : rows) {
    if (r.id == id)
      return r;
  }
  return std::nullopt;
}

// Recordings per key: all of them, and those still kept.
result<std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>>> usage(storage::database& db,
                                                                            std::int64_t now_ms) {
  auto rows = db.recordings();
  if (!rows)
    return rows.error();
  std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> out;
  for (const auto& r : *rows) {
    if (r.key_id == 0)
      continue;  // written plain
    auto& counts = out[r.key_id];
    ++counts.first;
    if (is_kept(r, now_ms))
      ++counts.second;
  }
  return out;
}

result<std::vector<crypto::exported_key>> unwrap_all(const std::vector<storage::key_row>& rows,
                                                     const crypto::secret_bytes& kek) {
  std::vector<crypto::exported_key> out;
  for (const auto& row : rows) {
    auto key = crypto::unwrap_key(kek, row.wrapped, master_key_context(row.fingerprint));
    if (!key)
      return make_error("key_unwrap_failed", "master key " + std::to_string(row.id) +
                                                 " does not unwrap: " + key.error().message);
    crypto::exported_key k;
    k.id = row.id;
    k.created_ms = row.created_ms;
    k.status = row.status;
    k.fingerprint = row.fingerprint;
    k.key = std::move(*key);
    out.push_back(std::move(k));
  }
  return out;
}

// What an import would do, decided before anything is written.
struct import_plan {
  std::vector<const crypto::exported_key*> to_import;
  import_summary summary;
};

result<import_plan> plan_import(const std::vector<crypto::exported_key>& keys,
                                const std::vector<storage::key_row>& existing) {
  import_plan plan;
  std::vector<std::string> conflicts;
  for (const auto& k : keys) {
    auto have = find_row(existing, k.id);
    if (!have) {
      plan.to_import.push_back(&k);
      plan.summary.imported.push_back(k.id);
    } else if (have->fingerprint == k.fingerprint) {
      plan.summary.skipped.push_back(k.id);
    } else {
      conflicts.push_back("key " + std::to_string(k.id) + " (fingerprint " + k.fingerprint +
                          " in the file, " + have->fingerprint + " here)");
    }
  }
  if (conflicts.empty())
    return plan;

  std::string list;
  for (const auto& c : conflicts)
    list += (list.empty() ? "" : "; ") + c;
  return make_error(
      "key_conflict",
      "this database already holds different keys under the ids of the export: " + list +
          ". Nothing was imported. Import into a new database before the "
          "engine first starts on it (the engine makes a key of its own)");
}

result<void> write_imports(storage::database& db, const import_plan& plan,
                           const crypto::secret_bytes& kek, bool have_active,
                           import_summary& summary) {
  for (const auto* k : plan.to_import) {
    storage::key_row row;
    row.id = k->id;
    row.created_ms = k->created_ms;
    row.status = k->status;
    if (have_active && row.status == "active") {
      row.status = "retired";
      summary.demoted.push_back(k->id);
    }
    row.kek_provider = passphrase_kek_provider_name;
    row.fingerprint = k->fingerprint;
    auto wrapped = crypto::wrap_key(kek, k->key, master_key_context(k->fingerprint));
    if (!wrapped)
      return wrapped.error();
    row.wrapped = std::move(*wrapped);
    if (auto ok = db.import_key(row); !ok)
      return ok.error();
  }
  return {};
}

}  // namespace

std::int64_t key_admin_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

bool is_kept(const storage::recording_row& row, std::int64_t now_ms) {
  if (row.status == "discarded")
    return false;
  if (row.retention_days == 0)
    return true;
  const std::int64_t from = row.ended_ms != 0 ? row.ended_ms : row.started_ms;
  if (from == 0)
    return true;  // no time to count from: keep rather than guess
  return now_ms < from + row.retention_days * ms_per_day;
}

result<std::vector<key_info>> list_keys(storage::database& db, std::int64_t now_ms) {
  auto rows = db.keys();
  if (!rows)
    return rows.error();
  auto counts = usage(db, now_ms);
  if (!counts)
    return counts.error();

  std::vector<key_info> out;
  for (const auto& r : *rows) {
    key_info k;
    k.id = r.id;
    k.created_ms = r.created_ms;
    k.status = r.status;
    k.fingerprint = r.fingerprint;
    k.kek_provider = r.kek_provider;
    auto it = counts->find(r.id);
    if (it != counts->end()) {
      k.files = it->second.first;
      k.kept = it->second.second;
    }
    out.push_back(std::move(k));
  }
  return out;
}

result<rotation> rotate_key(storage::database& db, const crypto::secret_bytes& kek,
                            const std::string& actor) {
  auto rows = db.keys();
  if (!rows)
    return rows.error();

  // The new key is stored before the old ones retire, so there is never a
  // moment without an active key (the newest active one is the one used).
  keyring_options opts;
  opts.actor = actor;
  auto id = create_master_key(db, kek, "active", opts);
  if (!id)
    return id.error().with_context("while rotating");

  rotation out;
  out.new_id = *id;
  for (const auto& r : *rows) {
    if (r.status != "active")
      continue;
    if (auto ok = db.set_key_status(r.id, "retired"); !ok)
      return ok.error().with_context("while retiring master key " + std::to_string(r.id) +
                                     " after creating key " + std::to_string(*id));
    out.retired.push_back(r.id);
  }
  auto after = db.keys();
  if (!after)
    return after.error();
  if (auto row = find_row(*after, *id))
    out.fingerprint = row->fingerprint;

  auto ok = audit(db, actor, "key_rotated",
                  "master key " + std::to_string(*id) + " (fingerprint " + out.fingerprint +
                      ") is now the active key; retired: " + id_list(out.retired));
  if (!ok)
    return ok.error();
  return out;
}

result<void> deactivate_key(storage::database& db, std::int64_t id, const std::string& actor,
                            std::int64_t now_ms) {
  auto rows = db.keys();
  if (!rows)
    return rows.error();
  auto row = find_row(*rows, id);
  if (!row)
    return make_error("not_found", "there is no master key " + std::to_string(id));
  if (row->status == "inactive")
    return {};
  if (row->status == "active")
    return make_error("key_active", "master key " + std::to_string(id) +
                                        " is the active key that new recordings use; run "
                                        "`ccrec keys rotate` first, then deactivate it");

  auto counts = usage(db, now_ms);
  if (!counts)
    return counts.error();
  auto it = counts->find(id);
  const std::int64_t kept = it == counts->end() ? 0 : it->second.second;
  if (kept > 0) {
    const std::string why = "master key " + std::to_string(id) + " is still used by " +
                            std::to_string(kept) + " kept recording" + (kept == 1 ? "" : "s") +
                            "; it can be deactivated once none is kept";
    if (auto ok = audit(db, actor, "key_deactivate_refused", why); !ok)
      return ok.error();
    return make_error("key_in_use", why);
  }

  if (auto ok = db.set_key_status(id, "inactive"); !ok)
    return ok.error();
  return audit(db, actor, "key_deactivated",
               "master key " + std::to_string(id) + " (fingerprint " + row->fingerprint +
                   ") deactivated; " + std::to_string(it == counts->end() ? 0 : it->second.first) +
                   " recording(s) named it, none kept");
}

result<void> refuse_key_delete(storage::database& db, std::int64_t id, const std::string& actor) {
  const std::string why = "master key " + std::to_string(id) +
                          " was not deleted: keys are never deleted (recordings would become "
                          "unreadable); `ccrec keys deactivate` retires a key no kept "
                          "recording uses";
  if (auto ok = audit(db, actor, "key_delete_refused", why); !ok)
    return ok.error();
  return make_error("key_delete_refused", why);
}

result<export_summary> export_keys(storage::database& db, const crypto::secret_bytes& kek,
                                   const crypto::secret_bytes& passphrase, const std::string& path,
                                   const crypto::export_kdf_limits& limits,
                                   const std::string& actor) {
  if (passphrase.size() < min_export_passphrase_bytes)
    return make_error("passphrase_too_short", "an export passphrase needs at least " +
                                                  std::to_string(min_export_passphrase_bytes) +
                                                  " characters");
  auto rows = db.keys();
  if (!rows)
    return rows.error();
  auto keys = unwrap_all(*rows, kek);
  if (!keys)
    return keys.error();

  auto sealed = crypto::seal_key_export(*keys, passphrase, limits);
  if (!sealed)
    return sealed.error();
  if (auto ok = crypto::write_key_export_file(path, *sealed); !ok)
    return ok.error();

  export_summary out;
  for (const auto& k : *keys)
    out.ids.push_back(k.id);
  auto ok = audit(db, actor, "keys_exported",
                  std::to_string(out.ids.size()) + " master key(s) (" + id_list(out.ids) +
                      ") exported to " + path);
  if (!ok) {
    ::unlink(path.c_str());
    return ok.error().with_context("the export was removed because it could not be audited");
  }
  return out;
}

result<std::vector<crypto::exported_key>> open_export_file(const std::string& path,
                                                           const crypto::secret_bytes& passphrase) {
  auto file = crypto::read_key_export_file(path);
  if (!file)
    return file.error();
  auto keys = crypto::open_key_export(*file, passphrase);
  if (!keys)
    return keys.error().with_context(path);
  return keys;
}

result<import_summary> import_keys(storage::database& db, const std::string& path,
                                   const crypto::secret_bytes& passphrase, const kek_source& kek,
                                   const std::string& actor) {
  auto keys = open_export_file(path, passphrase);
  if (!keys)
    return keys.error();
  auto existing = db.keys();
  if (!existing)
    return existing.error();
  auto plan = plan_import(*keys, *existing);
  if (!plan)
    return plan.error();

  import_summary summary = plan->summary;
  if (!plan->to_import.empty()) {
    auto k = kek();
    if (!k)
      return k.error();
    const bool have_active =
        std::any_of(existing->begin(), existing->end(),
                    [](const storage::key_row& r) { return r.status == "active"; });
    if (auto ok = write_imports(db, *plan, *k, have_active, summary); !ok)
      return ok.error().with_context("while importing from " + path +
                                     " (keys before the failing one are in; importing again "
                                     "completes it)");
  }

  std::string detail = "imported " + id_list(summary.imported) + " from " + path +
                       "; already present: " + id_list(summary.skipped);
  if (!summary.demoted.empty())
    detail += "; imported as retired, as this database has its own active key: " +
              id_list(summary.demoted);
  if (auto ok = audit(db, actor, "keys_imported", detail); !ok)
    return ok.error();
  return summary;
}

}  // namespace ccrec
