// trunkwatch simulate: a synthetic site driven by real libpri stacks, through the pipeline.
#include <fstream>
#include <iostream>

#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"
#include "monitor/cli/cli_common.hpp"
#include "monitor/cli/commands.hpp"

namespace tw::cli {

namespace {

struct SimulateArgs {
  std::string scenario;
  std::string pcap;
  std::string pcap_format = "pcapng";
  std::string truth;
  double speed = 0;
  bool audio = false;
  std::string log_level = "warning";
  RecordOutputs outputs;
  AlertOptions alerts;
};

int run_simulate(SimulateArgs& a) {
  init_cli_logging(a.log_level);
  BatchMonitor monitor;
  if (const int rc = monitor.load_policy("simulate", a.alerts); rc != kExitOk) return rc;
  std::optional<sim::Scenario> scenario;
  if (a.scenario == "demo") {
    scenario = sim::demo_scenario();
  } else {
    std::string error;
    scenario = sim::load_scenario(a.scenario, error);
    if (!scenario) {
      std::cerr << error << "\n";
      return kExitBadInput;
    }
  }
  std::ofstream truth_file;
  if (!a.truth.empty()) {
    truth_file.open(a.truth, std::ios::out | std::ios::trunc);
    if (!truth_file) {
      std::cerr << "trunkwatch simulate: " << a.truth << ": cannot open for writing\n";
      return kExitFailure;
    }
  }
  hal::CaptureFormat format = hal::CaptureFormat::Pcapng;
  hal::parse_capture_format(a.pcap_format, format);
  sim::Simulator simulator(
      std::move(*scenario),
      sim::SimOptions{
          .speed = a.speed, .pcap_path = a.pcap, .audio = a.audio, .pcap_format = format});
  PipelineOptions po;
  po.spans = simulator.spans();
  if (!po.spans.empty()) po.span_defaults = po.spans.front();
  if (const int rc = monitor.open("simulate", po, a.outputs, a.alerts); rc != kExitOk) return rc;
  if (const hal::SourceError err = simulator.run(monitor.chain())) {
    std::cerr << "trunkwatch simulate: " << err.message << "\n";
    return kExitFailure;
  }
  if (truth_file.is_open()) sim::write_truth_jsonl(truth_file, simulator.truth());
  std::cerr << "trunkwatch simulate: " << simulator.truth().size() << " calls simulated; decoded "
            << summary_line(monitor.chain().pipeline()) << "\n"
            << "trunkwatch simulate: " << monitor.finish() << "\n";
  return monitor.check_outputs("simulate", a.outputs);
}

}  // namespace

void add_simulate_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<SimulateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "simulate",
      "Run a simulated site and decode it as a tap would.\n\n"
      "Real libpri stacks play the PBX (user side) and the carrier (network side) of each span;\n"
      "every frame they exchange is handed to the same pipeline that decodes a live card.\n"
      "SCENARIO is a TOML file (see docs/scenarios.md) or 'demo' for the built-in site.\n"
      "--pcap writes what the tap saw (Wireshark reads it), --truth what really happened.");
  cmd->add_option("SCENARIO", args->scenario, "Scenario file, or 'demo'")->required();
  cmd->add_option("--pcap", args->pcap,
                  "Write every tapped frame to this capture file (pcapng unless --pcap-format "
                  "says pcap, whatever its name)")
      ->option_text("OUT.pcapng");
  cmd->add_option("--pcap-format", args->pcap_format,
                  "pcapng: one interface per span, which survives re-saving in Wireshark, "
                  "64-bit times; pcap: classic, the span only in the pseudo-header (lost when "
                  "Wireshark re-saves it), times up to 2106")
      ->check(CLI::IsMember({"pcapng", "pcap"}))
      ->capture_default_str();
  cmd->add_option("--truth", args->truth, "Write the ground truth, one JSON call per line")
      ->option_text("OUT.jsonl");
  cmd->add_option("--speed", args->speed,
                  "Simulated seconds per wall-clock second (0 = as fast as possible)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--audio", args->audio,
                "Put audio on the B-channels (speech, keyed digits, fax, modem as the scenario "
                "says) and run the detectors on it; with --pcap also write WAV files and a "
                "manifest next to the capture (docs/capture-format.md)");
  args->outputs.add_options(*cmd);
  args->alerts.add_options(*cmd);
  add_log_option(*cmd, args->log_level);
  cmd->callback([args, &exit_code] { exit_code = run_simulate(*args); });
}

}  // namespace tw::cli
