#include "actors/keyring.hpp"

#include <chrono>

#include <sodium.h>

namespace ccrec {

namespace {

constexpr const char* salt_setting = "kek_salt";
constexpr const char* profile_setting = "kek_kdf_profile";
constexpr const char* check_setting = "kek_fingerprint";

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string to_hex(const std::vector<std::uint8_t>& bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

std::vector<std::uint8_t> from_hex(const std::string& hex) {
  std::vector<std::uint8_t> out(hex.size() / 2);
  std::size_t len = 0;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, nullptr) != 0)
    return {};
  out.resize(len);
  return out;
}

// Reads the KEK parameters, creating them on a new database.
result<std::pair<std::vector<std::uint8_t>, std::string>> kek_parameters(
    storage::database& db, const keyring_options& opts) {
  auto salt_hex = db.setting(salt_setting);
  if (!salt_hex)
    return salt_hex.error();
  auto profile = db.setting(profile_setting);
  if (!profile)
    return profile.error();
  if (salt_hex->has_value() && profile->has_value())
    return std::make_pair(from_hex(**salt_hex), **profile);

  std::vector<std::uint8_t> salt(crypto::passphrase_salt_bytes());
  randombytes_buf(salt.data(), salt.size());
  if (auto ok = db.put_setting(salt_setting, to_hex(salt)); !ok)
    return ok.error();
  if (auto ok = db.put_setting(profile_setting, opts.kdf_profile); !ok)
    return ok.error();
  return std::make_pair(salt, opts.kdf_profile);
}

// Derives the KEK and checks it against the fingerprint stored at set-up.
result<crypto::secret_bytes> derive_kek(storage::database& db, const crypto::secret_bytes& secret,
                                        const keyring_options& opts) {
  auto params = kek_parameters(db, opts);
  if (!params)
    return params.error();

  auto provider = crypto::make_passphrase_kek_provider(
      crypto::secret_bytes::copy_of(secret.data(), secret.size()), params->second == "test");
  auto kek = provider->kek(params->first);
  if (!kek)
    return kek.error();

  auto fingerprint = crypto::key_fingerprint(*kek);
  auto stored = db.setting(check_setting);
  if (!stored)
    return stored.error();
  if (!stored->has_value()) {
    if (auto ok = db.put_setting(check_setting, fingerprint); !ok)
      return ok.error();
  } else if (**stored != fingerprint) {
    return make_error("kek_mismatch",
                      "the key-encrypting secret is not the one this database was set up with");
  }
  return std::move(*kek);
}

}  // namespace

const crypto::secret_bytes* keyring::find(std::int64_t id) const {
  auto it = keys.find(id);
  return it == keys.end() ? nullptr : it->second.get();
}

crypto::key_resolver keyring::resolver() const {
  return [this](std::uint64_t id) { return find(static_cast<std::int64_t>(id)); };
}

error encryption_disabled_error(const std::string& path) {
  return make_error("encryption_disabled",
                    path +
                        " was recorded while encryption was enabled; encryption is now "
                        "disabled, so it cannot be played. Enable encryption again "
                        "(with the same database and secret) to play it.");
}

error key_not_loaded_error(const std::string& path, std::uint64_t key_id) {
  return make_error("unknown_key", path + " is sealed under master key " + std::to_string(key_id) +
                                       ", which is not loaded");
}

std::string master_key_context(const std::string& fingerprint) {
  return "ccrec master key " + fingerprint;
}

result<std::int64_t> create_master_key(storage::database& db, const crypto::secret_bytes& kek,
                                       const std::string& status, const keyring_options& opts,
                                       std::shared_ptr<const crypto::secret_bytes>* out) {
  auto key = crypto::secret_bytes::random(crypto::key_bytes);
  storage::key_row row;
  row.created_ms = now_ms();
  row.status = status;
  row.kek_provider = passphrase_kek_provider_name;
  row.fingerprint = crypto::key_fingerprint(key);
  auto wrapped = crypto::wrap_key(kek, key, master_key_context(row.fingerprint));
  if (!wrapped)
    return wrapped.error();
  row.wrapped = std::move(*wrapped);

  auto id = db.insert_key(row);
  if (!id)
    return id.error();
  if (out != nullptr)
    *out = std::make_shared<const crypto::secret_bytes>(std::move(key));

  storage::audit_row audit;
  audit.at_ms = row.created_ms;
  audit.actor = opts.actor;
  audit.event = "key_created";
  audit.detail = "master key " + std::to_string(*id) + " fingerprint " + row.fingerprint;
  if (auto ok = db.add_audit(audit); !ok)
    return ok.error();
  return *id;
}

result<crypto::secret_bytes> open_kek(storage::database& db, const crypto::secret_bytes* secret,
                                      const keyring_options& opts) {
  if (secret == nullptr || secret->empty())
    return make_error("kek_secret_missing",
                      "no key-encrypting secret: set CCREC_KEK_SECRET or pass --kek-secret-fd N");
  return derive_kek(db, *secret, opts);
}

result<keyring> load_keyring(storage::database& db, const crypto::secret_bytes& kek,
                             const keyring_options& opts, const keyring* known) {
  auto rows = db.keys();
  if (!rows)
    return rows.error();

  keyring ring;
  for (const auto& row : *rows) {
    if (row.status == "inactive")
      continue;  // deactivated: no kept recording needs it
    if (known != nullptr) {
      auto it = known->keys.find(row.id);
      if (it != known->keys.end() && crypto::key_fingerprint(*it->second) == row.fingerprint) {
        ring.keys[row.id] = it->second;
        if (row.status == "active")
          ring.active_id = row.id;
        continue;
      }
    }
    auto key = crypto::unwrap_key(kek, row.wrapped, master_key_context(row.fingerprint));
    if (!key)
      return make_error("key_unwrap_failed", "master key " + std::to_string(row.id) +
                                                 " does not unwrap: " + key.error().message);
    ring.keys[row.id] = std::make_shared<const crypto::secret_bytes>(std::move(*key));
    if (row.status == "active")
      ring.active_id = row.id;  // the newest active key wins
  }

  if (ring.active_id == 0 && opts.create_first_key) {
    std::shared_ptr<const crypto::secret_bytes> key;
    auto id = create_master_key(db, kek, "active", opts, &key);
    if (!id)
      return id.error().with_context("while creating the first master key");
    ring.keys[*id] = std::move(key);
    ring.active_id = *id;
  }
  return ring;
}

result<keyring> open_keyring(storage::database& db, const crypto::secret_bytes* secret,
                             const keyring_options& opts) {
  auto kek = open_kek(db, secret, opts);
  if (!kek)
    return kek.error();
  return load_keyring(db, *kek, opts);
}

}  // namespace ccrec
