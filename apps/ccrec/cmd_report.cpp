// `ccrec report plaintext|policies`: where the encryption exceptions stand.
// `plaintext` lists every recording file still in the clear with its age
// (actors/plaintext_report.hpp); `policies` shows the exceptions the
// configuration puts in force and how many recordings each one applied to.
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "actors/encryption_policy.hpp"
#include "actors/plaintext_report.hpp"
#include "apps/ccrec/commands.hpp"
#include "apps/ccrec/options.hpp"
#include "apps/ccrec/output.hpp"

namespace ccrec::app {

namespace {

constexpr int exit_setup = 2;

struct report_options {
  common_options common;
  bool json = false;
};

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int run_plaintext(const report_options& opts) {
  auto ctx = open_offline(opts.common, false);
  if (!ctx)
    return print_failure("report plaintext", ctx.error(), exit_setup);
  auto listing = list_plaintext(*ctx->db, ctx->cfg.recordings_dir(), now_ms());
  if (!listing)
    return print_failure("report plaintext", listing.error(), exit_setup);

  if (opts.json) {
    auto items = json_array(listing->items, [](const auto& i) -> nlohmann::json {
      return {{"path", i.path},         {"recording_id", i.recording_id},
              {"state", i.state},       {"method", i.method},
              {"since_ms", i.since_ms}, {"age_seconds", i.age_seconds},
              {"bytes", i.bytes}};
    });
    print_json({{"plaintext", items},
                {"oldest_age_seconds", listing->oldest_age_seconds},
                {"total_bytes", listing->total_bytes}});
    return 0;
  }
  std::cout << std::left << std::setw(12) << "STATE" << std::setw(10) << "AGE" << std::setw(12)
            << "BYTES" << std::setw(48) << "RECORDING"
            << "FILE\n";
  for (const auto& i : listing->items)
    std::cout << std::setw(12) << i.state << std::setw(10) << format_age(i.age_seconds)
              << std::setw(12) << (i.bytes < 0 ? std::string{"missing"} : std::to_string(i.bytes))
              << std::setw(48) << (i.recording_id.empty() ? "-" : i.recording_id)
              << ctx->cfg.recordings_dir() + "/" + i.path << "\n";
  std::cout << listing->items.size() << " plaintext files";
  if (!listing->items.empty())
    std::cout << ", " << listing->total_bytes << " bytes, oldest "
              << format_age(listing->oldest_age_seconds);
  std::cout << "\n";
  return 0;
}

int run_policies(const report_options& opts) {
  auto ctx = open_offline(opts.common, false);
  if (!ctx)
    return print_failure("report policies", ctx.error(), exit_setup);
  auto rows = ctx->db->recordings();
  if (!rows)
    return print_failure("report policies", rows.error(), exit_setup);
  std::map<std::string, std::int64_t> by_method, by_xml, by_form;
  for (const auto& r : *rows) {
    ++by_method[r.method.empty() ? "-" : r.method];
    ++by_xml[r.xml_policy.empty() ? "not noted" : r.xml_policy];
    ++by_form[r.form];
  }
  auto exceptions = encryption_policy{ctx->cfg}.exceptions();

  if (opts.json) {
    print_json({{"exceptions_in_force", exceptions},
                {"recordings_by_method", by_method},
                {"recordings_by_metadata_xml", by_xml},
                {"recordings_by_form", by_form}});
    return 0;
  }
  std::cout << "Encryption exceptions in force (configuration):\n";
  if (exceptions.empty())
    std::cout << "  none: every recording and metadata file is encrypted as it is written\n";
  for (const auto& line : exceptions)
    std::cout << "  " << line << "\n";
  auto table = [](const std::string& title, const std::map<std::string, std::int64_t>& m) {
    std::cout << title << "\n";
    for (const auto& [k, n] : m)
      std::cout << "  " << std::left << std::setw(14) << k << n << "\n";
  };
  table("Recordings by recording method:", by_method);
  table("Recordings by metadata XML policy:", by_xml);
  table("Recordings by stored form:", by_form);
  return 0;
}

}  // namespace

command_fn add_report(CLI::App& app) {
  auto opts = std::make_shared<report_options>();
  auto* report = app.add_subcommand("report", "Reports on the encryption exceptions");
  report->require_subcommand(1);
  auto* plaintext = report->add_subcommand(
      "plaintext",
      "Recording files still on disk in the clear (plain-WAV method, encryption "
      "disabled, not yet removed), with their age");
  auto* policies = report->add_subcommand(
      "policies", "The encryption exceptions in force and the recordings they applied to");
  for (auto* sub : {plaintext, policies}) {
    add_common_options(*sub, opts->common);
    sub->add_flag("--json", opts->json, "Print JSON instead of a table");
  }
  return [opts, plaintext, policies] {
    set_log_level(opts->common.log_level);
    if (plaintext->parsed())
      return run_plaintext(*opts);
    if (policies->parsed())
      return run_policies(*opts);
    return exit_setup;
  };
}

}  // namespace ccrec::app
