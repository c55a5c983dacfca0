// Pieces several subcommands share: record outputs, span options, the run summary.
#pragma once

#include <CLI/CLI.hpp>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "monitor/pipeline.hpp"
#include "monitor/store/json_store.hpp"
#include "monitor/store/sqlite_store.hpp"

namespace tw::cli {

// --cdr-json PATH|- and --cdr-db PATH, opened on demand.
struct RecordOutputs {
  std::string json_path;
  std::string db_path;

  void add_options(CLI::App& cmd);
  // Opens the outputs and adds them to `fanout`; returns an error message or "".
  std::string open(CallEventFanout& fanout);

 private:
  std::ofstream json_file_;
  std::unique_ptr<store::JsonLinesStore> json_;
  std::unique_ptr<store::SqliteStore> db_;
};

// --log-level, applied before the command runs.
void add_log_option(CLI::App& cmd, std::string& level);
void init_cli_logging(const std::string& level);

// Validators for switch type and PBX side names.
CLI::Validator switch_type_validator();

// "calls 312 (partial 4), frames 2841, messages 2790, malformed 3, retransmissions 2, spans 2"
std::string summary_line(const Pipeline& pipeline);

}  // namespace tw::cli
