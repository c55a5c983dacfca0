// trunkwatch report: stored call records reviewed as an admin would.
#include <iostream>

#include "monitor/cli/commands.hpp"
#include "monitor/report.hpp"
#include "monitor/store/sqlite_store.hpp"

namespace tw::cli {

namespace {

struct ReportArgs {
  std::string db = "/var/lib/trunkwatch/calls.sqlite";
  std::string since;
  std::size_t top = 10;
};

int run_report(const ReportArgs& a) {
  std::optional<calls::Timestamp> since;
  if (!a.since.empty()) {
    since = calls::parse_time(a.since);
    if (!since) since = calls::parse_time(a.since + "T00:00:00Z");
    if (!since) {
      std::cerr << "trunkwatch report: --since: '" << a.since
                << "' is neither a date (2027-01-05) nor an RFC 3339 UTC time\n";
      return kExitUsage;
    }
  }
  store::SqliteStore db;
  if (auto err = db.open_readonly(a.db); !err.empty()) {
    std::cerr << "trunkwatch report: " << err << "\n";
    return kExitBadInput;
  }
  std::vector<calls::CallRecord> records;
  if (auto err = db.load(since, records); !err.empty()) {
    std::cerr << "trunkwatch report: " << a.db << ": " << err << "\n";
    return kExitBadInput;
  }
  ReportOptions o;
  o.top = a.top;
  std::cout << render_report(records, o);
  return kExitOk;
}

}  // namespace

void add_report_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "report",
      "Summarize stored call records: calls and minutes per direction, top destinations,\n"
      "international and after-hours counts, the longest calls and the clearing causes.");
  cmd->add_option("--db", args->db, "Call record database")->capture_default_str();
  cmd->add_option("--since", args->since, "Only calls that started at or after this time")
      ->option_text("DATE|TIME");
  cmd->add_option("--top", args->top, "Rows in the top-N lists")->capture_default_str();
  cmd->callback([args, &exit_code] { exit_code = run_report(*args); });
}

}  // namespace tw::cli
