// trunkwatch check-config: parses and validates a configuration the way the daemon will.
#include <filesystem>
#include <iostream>

#include "monitor/cli/commands.hpp"
#include "rules/config.hpp"

namespace tw::cli {

namespace {

struct CheckConfigArgs {
  std::string file;
  std::vector<std::string> overrides;
  bool keys = false;
  std::string format = "text";
};

void print_summary(const rules::Config& c) {
  std::cout << "  site: time zone " << c.site.timezone << ", business hours \""
            << c.site.business_hours << "\", " << c.site.holidays.size() << " holiday(s), "
            << c.site.remote_access.size() << " remote-access number(s)\n";
  std::cout << "  numbers: country code " << c.classifier.plan().country_code << ", ";
  if (c.high_risk_file.empty())
    std::cout << "no high-risk destination list\n";
  else
    std::cout << c.classifier.high_risk().entries.size() << " high-risk entries from "
              << c.high_risk_file << "\n";
  std::cout << "  profiles:";
  for (const rules::Profile& p : c.profiles) std::cout << " " << p.name;
  std::cout << "\n  policy: " << c.site_rules << " rule(s) of the site, "
            << c.rules.size() - c.site_rules << " default rule(s)\n";
  std::cout << "  exec hooks: at most " << c.notices.exec_max_running << " at once, "
            << c.notices.exec_max_queued << " waiting, killed after " << c.notices.exec_timeout_s
            << " s\n";
  const auto& d = c.detectors;
  std::string on, off;
  for (const auto& [name, enabled] : rules::detector_switches(c))
    (enabled ? on : off) += " " + name;
  std::cout << "  detectors on:" << on << "\n";
  if (!off.empty()) std::cout << "  detectors off:" << off << "\n";
  if (c.site.remote_access.empty() && d.trunk_to_trunk.enabled)
    std::cout << "  no remote-access numbers: trunk-to-trunk patterns are watched instead of "
                 "through-dialing\n";
  if (c.email.enabled()) {
    const auto& e = c.email;
    std::cout << "  email: " << e.to.size() << " recipient(s) by ";
    if (e.transport == rules::EmailTransport::Smtp)
      std::cout << "SMTP " << e.smtp_url << " (STARTTLS " << rules::to_string(e.starttls) << ")";
    else if (e.transport == rules::EmailTransport::Maildir)
      std::cout << "Maildir " << e.maildir;
    else
      std::cout << "sendmail " << e.sendmail;
    std::cout << ", spool " << e.spool_dir;
    if (e.max_per_window > 0)
      std::cout << ", at most " << e.max_per_window << " per " << e.window_s
                << " s (then one summary)";
    else
      std::cout << ", no mail limit";
    std::cout << "\n";
  } else {
    std::cout << "  email: no recipients (email.to): alerts are not mailed\n";
  }
  if (c.voice_only.empty())
    std::cout << "  no voice-only lines (lines.voice_only): fax/modem calls are not reported\n";
}

int run_check_config(const CheckConfigArgs& a) {
  if (a.keys && a.format == "markdown") {
    // The key tables of docs/config.md, one per section, each between its marker lines.
    bool first = true;
    for (const std::string& section : rules::config_sections()) {
      std::cout << (first ? "" : "\n") << rules::config_keys_markdown(section);
      first = false;
    }
    return kExitOk;
  }
  if (a.keys) {
    for (const std::string& k : rules::config_keys()) std::cout << k << "\n";
    return kExitOk;
  }
  std::string path = a.file;
  std::string label = a.file;
  if (path.empty()) {
    path = rules::kDefaultConfigPath;
    label = path;
    if (!std::filesystem::exists(path)) {
      path.clear();  // no file at all is a valid setup: every value has a default
      label = std::string(rules::kDefaultConfigPath) + " (not found, built-in defaults)";
    }
  }
  rules::ConfigOptions o;
  o.overrides = a.overrides;
  const rules::ConfigResult r = rules::load_config(path, o);
  for (const std::string& w : r.warnings) std::cerr << "warning: " << w << "\n";
  if (!r.ok()) {
    bool only_set = true;
    for (const std::string& e : r.errors) {
      std::cerr << e << "\n";
      if (!e.starts_with("--set ")) only_set = false;
    }
    std::cerr << label << ": " << r.errors.size() << " error(s)\n";
    return only_set ? kExitUsage : kExitBadInput;
  }
  std::cout << label << ": OK\n";
  print_summary(*r.config);
  return kExitOk;
}

}  // namespace

void add_check_config_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<CheckConfigArgs>();
  CLI::App* cmd = app.add_subcommand(
      "check-config",
      "Parse and validate a configuration file (docs/config.md) as the daemon would.\n\n"
      "Prints \"FILE: OK\" and a short summary, or every problem as file:line:column: message\n"
      "and exits with status 3. Without FILE, checks " +
          std::string(rules::kDefaultConfigPath) +
          " (or the built-in defaults when it does not exist).");
  cmd->add_option("FILE", args->file, "Configuration file (TOML)")->option_text("FILE.toml");
  cmd->add_option("--set", args->overrides,
                  "Override a key (dotted path, repeatable): --set site.timezone=Europe/Paris; "
                  "a single value for a list key is a one-element list")
      ->option_text("KEY=VALUE")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_flag("--keys", args->keys,
                "List every key --set understands: its type, default, range or allowed values "
                "and what it does");
  cmd->add_option("--format", args->format,
                  "With --keys: text (one key a line) or markdown (the key tables of "
                  "docs/config.md)")
      ->check(CLI::IsMember({"text", "markdown"}));
  cmd->callback([args, &exit_code] { exit_code = run_check_config(*args); });
}

}  // namespace tw::cli
