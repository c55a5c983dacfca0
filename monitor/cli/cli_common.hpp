// Pieces several subcommands share: record outputs, span options, the run summary.
#pragma once

#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "monitor/app/monitor_chain.hpp"
#include "monitor/app/notice_outputs.hpp"
#include "monitor/app/output_stream.hpp"
#include "monitor/pipeline.hpp"
#include "monitor/store/json_store.hpp"
#include "monitor/store/sqlite_store.hpp"

namespace tw::cli {

// --cdr-json PATH|- and --cdr-db PATH, opened on demand.
struct RecordOutputs {
  std::string json_path;
  std::string db_path;
  // JSON records to a file go out in batches (store::LineWriter::Mode::Batch) rather than
  // one write per record; BatchMonitor::check_outputs writes what is held.
  bool batch_json = false;

  void add_options(CLI::App& cmd);
  // Opens the outputs and adds them to `fanout`; returns an error message or "".
  std::string open(CallEventFanout& fanout);
  // Writes the records held (batch_json); failures() then counts them.
  void flush();
  // After the run, one line per output that lost records: "263 of 300 call records not
  // written to F: File too large". Empty when every record got everywhere.
  std::vector<std::string> failures() const;

 private:
  app::OutputStream json_out_;
  std::unique_ptr<store::JsonLinesStore> json_;
  std::unique_ptr<store::SqliteStore> db_;
};

// --config FILE and --set KEY=VALUE (repeatable).
struct PolicyOptions {
  std::string config;
  std::vector<std::string> overrides;

  // `config_help`: the --config help text, when a command's default is not the usual one.
  void add_options(CLI::App& cmd, const std::string& config_help = default_config_help());
  static std::string default_config_help();
  // --config, else /etc/trunkwatch/trunkwatch.toml when it exists, else the built-in
  // defaults (`builtin`: TOML text of a command's own defaults, the demo's site); --set on
  // top. Warnings and errors (file:line:column) go to standard error; null on errors.
  std::shared_ptr<const rules::Config> load(std::string_view command,
                                            std::string_view builtin = {}) const;
};

// The rules stage of replay and simulate: the policy, --alerts-json, --act.
struct AlertOptions {
  PolicyOptions policy;
  std::string alerts_json;
  bool act = false;  // deliver alert mail and run exec hooks, as the daemon would

  void add_options(CLI::App& cmd);
};

// Everything behind a batch command's source: the monitor chain (pipeline, rules engine),
// the record outputs and the notice outputs.
class BatchMonitor {
 public:
  // Loads the policy, first thing: a bad config is refused before any file is touched.
  // On failure prints why and returns the exit code, else kExitOk.
  int load_policy(std::string_view command, const AlertOptions& alerts);
  // Opens the record and notice outputs and builds the chain; same return convention.
  int open(std::string_view command, const PipelineOptions& po, RecordOutputs& records,
           const AlertOptions& alerts);
  app::MonitorChain& chain() { return *chain_; }
  // After the run: waits up to the mail timeout for spooled alert mail to go out and
  // returns "notices 3 (through_dial 2, high_risk_destination 1)" plus a note on mail left
  // in the spool.
  std::string finish();
  // After finish(): writes the records still held, then says on standard error how many
  // records and notices each output lost; kExitFailure when any did, else kExitOk.
  int check_outputs(std::string_view command, RecordOutputs& records) const;

 private:
  std::shared_ptr<const rules::Config> config_;
  CallEventFanout records_;
  app::NoticeOutputs notices_;
  std::unique_ptr<app::MonitorChain> chain_;
};

// SIGINT or SIGTERM stops a batch command's source as if it had ended, so that what was read
// so far is still written out (JSON records held in a batch, the summary) and the command can
// say it was interrupted. A signal the caller set to be ignored stays ignored. Construct it
// before the command starts threads: it blocks the two signals in the calling thread, threads
// inherit the mask, and a waiter thread takes them.
class StopOnSignal {
 public:
  explicit StopOnSignal(std::function<void()> stop);
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;
  // The signal that stopped the command (SIGINT, SIGTERM), 0 when none came.
  int signal() const { return signal_.load(); }

 private:
  sigset_t signals_{};
  sigset_t old_mask_{};
  std::atomic<int> signal_ = 0;
  std::jthread waiter_;
};

// --log-level, applied before the command runs.
void add_log_option(CLI::App& cmd, std::string& level);
void init_cli_logging(const std::string& level);

// Validators for switch type and PBX side names.
CLI::Validator switch_type_validator();

// "calls 312 (partial 4), frames 2841, messages 2790, malformed 3, retransmissions 2, spans 2",
// with the anomalies by kind after `malformed` when there were any:
// "malformed 3 (bad_address 1, truncated_ie 2)"
std::string summary_line(const Pipeline& pipeline);

}  // namespace tw::cli
