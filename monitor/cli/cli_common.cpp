#include "monitor/cli/cli_common.hpp"

#include <filesystem>
#include <iostream>
#include <sstream>

#include "monitor/cli/commands.hpp"
#include "monitor/log.hpp"

namespace tw::cli {

void RecordOutputs::add_options(CLI::App& cmd) {
  cmd.add_option("--cdr-json", json_path,
                 "Write one JSON object per call to PATH as each call ends ('-' = standard output)")
      ->option_text("PATH|-");
  cmd.add_option("--cdr-db", db_path,
                 "Store call records in the SQLite database PATH (created if missing; WAL mode)")
      ->option_text("PATH");
}

std::string RecordOutputs::open(CallEventFanout& fanout) {
  if (!json_path.empty()) {
    if (auto err = json_out_.open(json_path); !err.empty()) return err;
    // Standard output stays a line at a time: notices may share it, in order.
    json_ = std::make_unique<store::JsonLinesStore>(
        json_out_.stream(), json_out_.is_stdout() ? "standard output" : json_path,
        batch_json && !json_out_.is_stdout() ? store::LineWriter::Mode::Batch
                                             : store::LineWriter::Mode::EachLine);
    fanout.add(*json_);
  }
  if (!db_path.empty()) {
    db_ = std::make_unique<store::SqliteStore>();
    if (auto err = db_->open(db_path); !err.empty()) return err;
    fanout.add(*db_);
  }
  return {};
}

void RecordOutputs::flush() {
  if (json_) json_->flush();
}

namespace {
std::string lost_line(std::uint64_t failed, std::uint64_t written, const std::string& what,
                      const std::string& where, const std::string& why) {
  return std::to_string(failed) + " of " + std::to_string(failed + written) + " " + what + " " +
         where + ": " + why;
}
}  // namespace

std::vector<std::string> RecordOutputs::failures() const {
  std::vector<std::string> out;
  if (json_ && json_->lines().failed())
    out.push_back(
        lost_line(json_->lines().failed(), json_->lines().written(), "call records",
                  "not written to " + (json_out_.is_stdout() ? "standard output" : json_path),
                  json_->lines().last_error()));
  if (db_ && db_->write_errors())
    out.push_back(lost_line(db_->write_errors(), db_->written(), "call records",
                            "not stored in " + db_path, db_->last_error()));
  return out;
}

std::string PolicyOptions::default_config_help() {
  return "Configuration file (default: " + std::string(rules::kDefaultConfigPath) +
         " if it exists, else the built-in defaults)";
}

void PolicyOptions::add_options(CLI::App& cmd, const std::string& config_help) {
  cmd.add_option("--config", config, config_help)->option_text("FILE");
  cmd.add_option("--set", overrides, "Override a configuration key (repeatable)")
      ->option_text("KEY=VALUE")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

std::shared_ptr<const rules::Config> PolicyOptions::load(std::string_view command,
                                                         std::string_view builtin) const {
  rules::ConfigOptions o;
  o.overrides = overrides;
  rules::ConfigResult cfg;
  if (config.empty() && !builtin.empty()) {
    cfg = rules::parse_config(builtin, "(built-in " + std::string(command) + " site)", o);
  } else {
    std::string path = config;
    if (path.empty() && std::filesystem::exists(rules::kDefaultConfigPath))
      path = rules::kDefaultConfigPath;
    cfg = rules::load_config(path, o);
  }
  for (const std::string& w : cfg.warnings)
    std::cerr << "trunkwatch " << command << ": warning: " << w << "\n";
  for (const std::string& e : cfg.errors) std::cerr << e << "\n";
  return cfg.config;
}

void AlertOptions::add_options(CLI::App& cmd) {
  policy.add_options(cmd);
  cmd.add_option("--alerts-json", alerts_json,
                 "Write each notice as a JSON line to PATH, or '-' for standard output")
      ->option_text("PATH|-");
  cmd.add_flag("--act", act,
               "Act on notices as the daemon would: send alert mail per [email] and run exec "
               "hooks (default: neither; hooks are recorded as would_exec)");
}

int BatchMonitor::load_policy(std::string_view command, const AlertOptions& alerts) {
  config_ = alerts.policy.load(command);
  return config_ ? kExitOk : kExitBadInput;
}

int BatchMonitor::open(std::string_view command, const PipelineOptions& po, RecordOutputs& records,
                       const AlertOptions& alerts) {
  if (auto err = records.open(records_); !err.empty()) {
    std::cerr << "trunkwatch " << command << ": " << err << "\n";
    return kExitFailure;
  }
  app::NoticeOutputs::Options no;
  no.alerts_json = alerts.alerts_json;
  no.mail = alerts.act;
  if (auto err = notices_.open(no, config_->email); !err.empty()) {
    std::cerr << "trunkwatch " << command << ": " << err << "\n";
    return kExitFailure;
  }
  rules::EngineOptions eo;
  eo.run_hooks = alerts.act;
  chain_ = std::make_unique<app::MonitorChain>(po, config_, notices_.sink(), records_, eo);
  return kExitOk;
}

std::string BatchMonitor::finish() {
  rules::Engine& engine = chain_->engine();
  engine.wait_for_hooks(std::chrono::seconds(static_cast<long>(config_->notices.exec_timeout_s)));
  const rules::EngineStats& s = engine.stats();
  std::ostringstream out;
  out << "notices " << s.notices;
  std::string by;
  for (rules::Category c : rules::all_categories())
    if (const auto k = s.by_category[static_cast<std::size_t>(c)])
      by += (by.empty() ? "" : ", ") + std::string(rules::to_string(c)) + " " + std::to_string(k);
  if (!by.empty()) out << " (" << by << ")";
  if (s.suppressed) out << ", suppressed " << s.suppressed;
  if (rules::MailQueue* mail = notices_.mail()) {
    const auto limit =
        std::chrono::milliseconds(static_cast<long>(config_->email.timeout_s * 1000));
    mail->wait_until_empty(limit);
    const auto st = mail->stats();
    out << "; alert mail delivered " << st.delivered;
    if (const std::size_t left = mail->pending())
      out << ", " << left << " still in the spool " << config_->email.spool_dir
          << " (the daemon delivers them)";
  }
  return out.str();
}

int BatchMonitor::check_outputs(std::string_view command, RecordOutputs& records) const {
  records.flush();
  std::vector<std::string> lost = records.failures();
  if (const store::LineWriter* lines = notices_.json_lines(); lines && lines->failed())
    lost.push_back(lost_line(
        lines->failed(), lines->written(), "notices",
        "not written to " +
            (notices_.json_path() == "-" ? std::string("standard output") : notices_.json_path()),
        lines->last_error()));
  for (const std::string& l : lost) std::cerr << "trunkwatch " << command << ": " << l << "\n";
  return lost.empty() ? kExitOk : kExitFailure;
}

void add_log_option(CLI::App& cmd, std::string& level) {
  cmd.add_option("--log-level", level, "Least severe log messages shown on standard error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}))
      ->capture_default_str();
}

StopOnSignal::StopOnSignal(std::function<void()> stop) {
  ::sigemptyset(&signals_);
  for (const int signo : {SIGINT, SIGTERM}) {
    // A signal the caller ignores stays ignored (a shell's background job ignores SIGINT).
    struct sigaction current {};
    if (::sigaction(signo, nullptr, &current) == 0 && current.sa_handler == SIG_IGN) continue;
    ::sigaddset(&signals_, signo);
  }
  ::pthread_sigmask(SIG_BLOCK, &signals_, &old_mask_);
  waiter_ = std::jthread([this, stop = std::move(stop)](std::stop_token token) {
    // A short wait, so that the destructor's stop request is seen promptly.
    const timespec wait{.tv_sec = 0, .tv_nsec = 100'000'000};
    while (!token.stop_requested()) {
      const int signo = ::sigtimedwait(&signals_, nullptr, &wait);
      if (signo == SIGINT || signo == SIGTERM) {
        signal_ = signo;
        stop();
        return;
      }
    }
  });
}

StopOnSignal::~StopOnSignal() {
  waiter_.request_stop();
  waiter_.join();
  ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

void init_cli_logging(const std::string& level) {
  log::init(log::Target::Stderr, level.c_str());
}

CLI::Validator switch_type_validator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        hal::SwitchType t;
        if (hal::parse_switch_type(value, t)) return {};
        return "unknown switch type '" + value +
               "' (use ni2, 4ess, 5ess, dms100, euroisdn or qsig)";
      },
      "ni2|4ess|5ess|dms100|euroisdn|qsig");
}

std::string summary_line(const Pipeline& pipeline) {
  const SpanStats t = pipeline.totals();
  const calls::TrackerStats c = pipeline.call_totals();
  std::ostringstream s;
  s << "calls " << c.calls << " (partial " << c.partial_calls << "), frames " << t.frames
    << ", messages " << t.messages << ", malformed " << t.malformed;
  // The anomalies by kind, when there were any: "(truncated_ie 2, sequence_gap 1)".
  const char* sep = " (";
  for (AnomalyKind k : kAllAnomalyKinds) {
    if (t.anomalies[k] == 0) continue;
    s << sep << to_string(k) << ' ' << t.anomalies[k];
    sep = ", ";
  }
  if (t.anomalies.total() > 0) s << ')';
  s << ", retransmissions " << t.retransmissions << ", spans " << pipeline.spans().size();
  return s.str();
}

}  // namespace tw::cli
