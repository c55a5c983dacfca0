// trunkwatch report: stored call records reviewed as an admin would.
#include <charconv>
#include <chrono>
#include <iostream>

#include "monitor/cli/commands.hpp"
#include "monitor/report.hpp"
#include "monitor/store/sqlite_store.hpp"
#include "rules/calendar.hpp"
#include "rules/config.hpp"

namespace tw::cli {

namespace {

struct ReportArgs {
  std::string db = "/var/lib/trunkwatch/calls.sqlite";
  std::string config;
  std::string since, until;
  std::string format = "text";
  std::size_t top = 10;
};

// "2027-01-05": days since 1970-01-01 (the site calendar's day numbers).
std::optional<std::int32_t> parse_date(std::string_view s) {
  int y = 0;
  unsigned m = 0, d = 0;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  const auto num = [&](std::size_t from, std::size_t len, auto& out) {
    const char* end = s.data() + from + len;
    const auto r = std::from_chars(s.data() + from, end, out);
    return r.ec == std::errc() && r.ptr == end;
  };
  if (!num(0, 4, y) || !num(5, 2, m) || !num(8, 2, d)) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(m),
                                        std::chrono::day(d)};
  if (!ymd.ok()) return std::nullopt;
  return static_cast<std::int32_t>(std::chrono::sys_days(ymd).time_since_epoch().count());
}

// --since/--until: an RFC 3339 time as it is, or a date in the site's time zone. A date starts
// at its local midnight; as an --until bound it ends at the next one (the whole day is in).
std::optional<calls::Timestamp> parse_bound(const std::string& text,
                                            const rules::SiteCalendar& calendar, bool until) {
  if (auto t = calls::parse_time(text)) return t;
  const auto day = parse_date(text);
  if (!day) return std::nullopt;
  return calendar.day_start(*day + (until ? 1 : 0));
}

int run_report(const ReportArgs& a) {
  rules::SiteCalendar calendar;
  std::string hours_label;
  if (!a.config.empty()) {
    const rules::ConfigResult cfg = rules::load_config(a.config);
    for (const std::string& w : cfg.warnings)
      std::cerr << "trunkwatch report: warning: " << w << "\n";
    for (const std::string& e : cfg.errors) std::cerr << e << "\n";
    if (!cfg.ok()) return kExitBadInput;
    calendar = cfg.config->calendar;
    hours_label = cfg.config->site.business_hours + " " + calendar.zone_name();
    if (!calendar.holidays().empty()) hours_label += ", and holidays";
  }
  std::optional<calls::Timestamp> since, until;
  for (auto [text, bound, name, is_until] :
       {std::tuple{&a.since, &since, "--since", false}, {&a.until, &until, "--until", true}}) {
    if (text->empty()) continue;
    *bound = parse_bound(*text, calendar, is_until);
    if (!*bound) {
      std::cerr << "trunkwatch report: " << name << ": '" << *text
                << "' is neither a date (2027-01-05) nor an RFC 3339 UTC time\n";
      return kExitUsage;
    }
  }
  if (since && until && *since >= *until) {
    std::cerr << "trunkwatch report: --since " << a.since << " is not before --until " << a.until
              << "\n";
    return kExitUsage;
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
  if (until)
    std::erase_if(records,
                  [&](const calls::CallRecord& r) { return !r.start || *r.start >= *until; });
  ReportOptions o;
  o.top = a.top;
  o.format = a.format == "csv"    ? ReportFormat::Csv
             : a.format == "json" ? ReportFormat::Json
                                  : ReportFormat::Text;
  if (!a.config.empty()) {
    o.outside_hours = [calendar](calls::Timestamp t) {
      return calendar.window(t) != rules::TimeWindow::BusinessHours;
    };
    o.local_time = [calendar](calls::Timestamp t) { return calendar.format_local(t); };
    o.hours_label = hours_label;
  }
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
  cmd->add_option("--config", args->config,
                  "Site configuration: its business hours, holidays and time zone count the "
                  "after-hours calls and show local times (default: Mon-Fri 08:00-18:00 UTC)")
      ->option_text("FILE");
  cmd->add_option("--since", args->since,
                  "Only calls that started at or after this time (a date: its midnight in the "
                  "site's time zone)")
      ->option_text("DATE|TIME");
  cmd->add_option("--until", args->until,
                  "Only calls that started before this time (a date: up to the end of that day "
                  "in the site's time zone)")
      ->option_text("DATE|TIME");
  cmd->add_option("--format", args->format,
                  "text for a terminal, csv (a header row, then section,key,field,value rows) or "
                  "json (one document)")
      ->check(CLI::IsMember({"text", "csv", "json"}))
      ->capture_default_str();
  cmd->add_option("--top", args->top, "Rows in the top-N lists")->capture_default_str();
  cmd->callback([args, &exit_code] { exit_code = run_report(*args); });
}

}  // namespace tw::cli
