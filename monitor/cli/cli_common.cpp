#include "monitor/cli/cli_common.hpp"

#include <iostream>
#include <sstream>

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
    if (json_path == "-") {
      json_ = std::make_unique<store::JsonLinesStore>(std::cout);
    } else {
      json_file_.open(json_path, std::ios::out | std::ios::trunc);
      if (!json_file_) return json_path + ": cannot open for writing";
      json_ = std::make_unique<store::JsonLinesStore>(json_file_);
    }
    fanout.add(*json_);
  }
  if (!db_path.empty()) {
    db_ = std::make_unique<store::SqliteStore>();
    if (auto err = db_->open(db_path); !err.empty()) return err;
    fanout.add(*db_);
  }
  return {};
}

void add_log_option(CLI::App& cmd, std::string& level) {
  cmd.add_option("--log-level", level, "Least severe log messages shown on standard error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}))
      ->capture_default_str();
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
    << ", messages " << t.messages << ", malformed " << t.malformed << ", retransmissions "
    << t.retransmissions << ", spans " << pipeline.spans().size();
  return s.str();
}

}  // namespace tw::cli
