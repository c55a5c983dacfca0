// trunkwatch: the command line. Every subcommand lives in its own cmd_*.cpp.
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "monitor/cli/commands.hpp"

int main(int argc, char** argv) {
  // A file size limit (ulimit -f) makes a write fail with EFBIG instead of killing the
  // process: the record outputs then count what was lost and the command exits 1.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{
      "trunkwatch - follows every call on the ISDN PRI trunks of a PBX and watches for toll "
      "fraud.\n\n"
      "It decodes the D-channel (Q.921/Q.931) of each span, keeps a record of every call, and\n"
      "runs the same pipeline on a live card, on a capture file and on a simulated site.\n",
      "trunkwatch"};
  app.require_subcommand(1);
  app.footer(
      "EXIT STATUS\n"
      "  0  success\n"
      "  1  the command failed while running (I/O error, simulator failure)\n"
      "  2  bad command line\n"
      "  3  an input file is unreadable, of the wrong kind, or damaged\n\n"
      "Run 'trunkwatch COMMAND --help' for the options of one command.\n"
      "trunkwatch is free software under the GNU GPL, version 2 or later.");
  int exit_code = tw::cli::kExitOk;
  tw::cli::add_replay_command(app, exit_code);
  tw::cli::add_simulate_command(app, exit_code);
  tw::cli::add_demo_command(app, exit_code);
  tw::cli::add_report_command(app, exit_code);
  tw::cli::add_dsp_command(app, exit_code);
  tw::cli::add_bench_command(app, exit_code);
  tw::cli::add_check_config_command(app, exit_code);
  tw::cli::add_backtest_command(app, exit_code);
  tw::cli::add_run_command(app, exit_code);
  tw::cli::add_control_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return tw::cli::kExitUsage;
  }
  return exit_code;
}
