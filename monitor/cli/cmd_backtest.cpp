// trunkwatch backtest: runs a policy over stored call records and shows what would have
// fired; how an admin tunes thresholds before deploying them.
#include <algorithm>
#include <iostream>
#include <map>
#include <optional>

#include "monitor/cli/cli_common.hpp"
#include "monitor/cli/commands.hpp"
#include "monitor/store/sqlite_store.hpp"
#include "rules/engine.hpp"

namespace tw::cli {

namespace {

using namespace std::chrono_literals;

struct BacktestArgs {
  PolicyOptions policy;
  std::string db = "/var/lib/trunkwatch/calls.sqlite";
  std::string alerts_json;
  std::string since;
  std::string log_level = "warning";
};

// One human line per notice and per digest.
class PrintingSink final : public rules::NoticeSink {
 public:
  explicit PrintingSink(std::ostream& human) : human_(human) {}
  void on_notice(const rules::Notice& n) override {
    human_ << rules::format_notice_line(n) << "\n";
  }
  void on_digest(const rules::Digest& d) override {
    std::uint64_t total = 0;
    for (const auto& [c, k] : d.counts) total += k;
    human_ << hal::format_time(d.to) << " digest of " << total << " notice(s) since "
           << hal::format_time(d.from) << "\n";
  }

 private:
  std::ostream& human_;
};

// The stored record as it looked at each event: a call must not look answered (or keyed)
// before it was. Digits and the second dial tone are known from the answer on (the store
// keeps no in-band timing).
calls::CallRecord stage(const calls::CallRecord& r, calls::CallEventType type) {
  calls::CallRecord s = r;
  s.alerts.clear();
  if (type == calls::CallEventType::Ended) return s;
  s.end.reset();
  s.cause.reset();
  s.cleared_by.reset();
  s.cause_location.reset();
  s.duration_s = 0;
  if (type == calls::CallEventType::Answered) return s;
  s.answer.reset();
  s.connected.clear();
  s.keypad.clear();
  s.digits.clear();
  s.digits_in.clear();
  s.digits_out.clear();
  s.second_dial_tone.reset();
  s.inband.clear();
  return s;
}

int run_backtest(const BacktestArgs& a) {
  init_cli_logging(a.log_level);
  const std::shared_ptr<const rules::Config> config = a.policy.load("backtest");
  if (!config) return kExitBadInput;
  std::optional<calls::Timestamp> since;
  if (!a.since.empty()) {
    since = calls::parse_time(a.since);
    if (!since) since = calls::parse_time(a.since + "T00:00:00Z");
    if (!since) {
      std::cerr << "trunkwatch backtest: --since: '" << a.since
                << "' is neither a date (2027-01-05) nor an RFC 3339 UTC time\n";
      return kExitUsage;
    }
  }
  store::SqliteStore db;
  if (auto err = db.open_readonly(a.db); !err.empty()) {
    std::cerr << "trunkwatch backtest: " << err << "\n";
    return kExitBadInput;
  }
  std::vector<calls::CallRecord> records;
  if (auto err = db.load(since, records); !err.empty()) {
    std::cerr << "trunkwatch backtest: " << a.db << ": " << err << "\n";
    return kExitBadInput;
  }

  app::OutputStream json_out;
  if (!a.alerts_json.empty()) {
    if (auto err = json_out.open(a.alerts_json); !err.empty()) {
      std::cerr << "trunkwatch backtest: " << err << "\n";
      return kExitFailure;
    }
  }
  // With the JSON on standard output, the human lines go to standard error.
  std::ostream& out = json_out.is_stdout() ? std::cerr : std::cout;
  PrintingSink human(out);
  rules::NoticeFanout sink;
  sink.add(human);
  std::optional<app::JsonNoticeWriter> json;
  if (json_out.is_open()) sink.add(json.emplace(json_out.stream()));
  rules::EngineOptions eo;
  eo.run_hooks = false;  // a backtest never runs hooks nor clears calls
  rules::Engine engine(config, sink, nullptr, eo);

  // Started, Answered and Ended events rebuilt from the record times, in time order.
  struct Event {
    calls::Timestamp time;
    std::size_t record;
    calls::CallEventType type;
  };
  std::vector<Event> events;
  events.reserve(records.size() * 3);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const calls::CallRecord& r = records[i];
    const auto start = r.start ? *r.start : r.end.value_or(calls::Timestamp{});
    events.push_back({start, i, calls::CallEventType::Started});
    if (r.answer) events.push_back({std::max(*r.answer, start), i, calls::CallEventType::Answered});
    events.push_back({std::max(r.end.value_or(start), start), i, calls::CallEventType::Ended});
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& x, const Event& y) {
    if (x.time != y.time) return x.time < y.time;
    return x.type < y.type;
  });
  std::optional<calls::Timestamp> next_tick;
  for (const Event& ev : events) {
    // Ticks every 10 s while calls are up (running minutes), none across idle gaps.
    if (!next_tick) next_tick = ev.time;
    while (*next_tick < ev.time && engine.active_calls() > 0) {
      engine.on_tick(*next_tick);
      *next_tick += 10s;
    }
    if (*next_tick < ev.time) next_tick = ev.time;
    engine.on_tick(ev.time);
    const calls::CallRecord staged = stage(records[ev.record], ev.type);
    calls::CallEvent ce;
    ce.type = ev.type;
    ce.time = ev.time;
    ce.call = &staged;
    engine.on_call_event(ce);
  }
  engine.finish(events.empty() ? calls::Timestamp{} : events.back().time + 60s);

  const rules::EngineStats& s = engine.stats();
  out << "backtest: " << records.size() << " calls, " << s.notices << " notice(s)";
  if (s.suppressed) out << ", " << s.suppressed << " suppressed";
  if (s.allowed) out << ", " << s.allowed << " allowed by policy";
  out << ", " << s.digests << " digest(s); config " << config->source << "\n";
  for (rules::Category c : rules::all_categories()) {
    const auto k = s.by_category[static_cast<std::size_t>(c)];
    if (k) out << "  " << rules::to_string(c) << ": " << k << "\n";
  }
  if (!json_out.flush_file()) {
    std::cerr << "trunkwatch backtest: error writing " << a.alerts_json << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void add_backtest_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<BacktestArgs>();
  CLI::App* cmd = app.add_subcommand(
      "backtest",
      "Run a fraud policy over stored call records and print what would have fired: one line\n"
      "per notice, then a summary by category. Nothing is sent, run or hung up. Use it to tune\n"
      "thresholds before deploying them (docs/rules.md).");
  args->policy.add_options(*cmd);
  cmd->add_option("--db", args->db, "Call record database")->capture_default_str();
  cmd->add_option("--alerts-json", args->alerts_json,
                  "Also write each notice as a JSON line to PATH, or '-' for standard output "
                  "(the human lines then go to standard error)")
      ->option_text("PATH|-");
  cmd->add_option("--since", args->since, "Only calls that started at or after this time")
      ->option_text("DATE|TIME");
  add_log_option(*cmd, args->log_level);
  cmd->callback([args, &exit_code] { exit_code = run_backtest(*args); });
}

}  // namespace tw::cli
