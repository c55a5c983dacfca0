// The trunkwatch subcommands. Each add_*_command() registers one subcommand on `app`;
// when the user picks it, its callback runs the command and stores the exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace tw::cli {

// Exit codes, documented in `trunkwatch --help` and README.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,   // the command ran and failed (I/O error, simulator failure)
  kExitUsage = 2,     // bad command line
  kExitBadInput = 3,  // an input file is unreadable, of the wrong kind, or damaged
};

void add_replay_command(CLI::App& app, int& exit_code);
void add_simulate_command(CLI::App& app, int& exit_code);
void add_demo_command(CLI::App& app, int& exit_code);
void add_report_command(CLI::App& app, int& exit_code);
void add_dsp_command(CLI::App& app, int& exit_code);    // monitor/cli/cmd_dsp.cpp
void add_bench_command(CLI::App& app, int& exit_code);  // bench/

// The fraud policy (rules/): cmd_check_config.cpp, cmd_backtest.cpp.
void add_check_config_command(CLI::App& app, int& exit_code);
void add_backtest_command(CLI::App& app, int& exit_code);
// The daemon and its control-socket clients (monitor/cli/cmd_run.cpp).
void add_run_command(CLI::App& app, int& exit_code);
void add_control_commands(CLI::App& app, int& exit_code);

}  // namespace tw::cli
