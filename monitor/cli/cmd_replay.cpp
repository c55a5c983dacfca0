// trunkwatch replay: the whole pipeline over a D-channel capture.
#include <iostream>

#include "hal/replay/replay_source.hpp"
#include "monitor/cli/cli_common.hpp"
#include "monitor/cli/commands.hpp"

namespace tw::cli {

namespace {

struct ReplayArgs {
  std::string file;
  std::string pbx_side;
  std::string switch_type;  // empty: the capture's, else ni2 on T1, euroisdn on E1
  std::string span_type;    // empty: the capture's, else t1
  bool realtime = false;
  std::string audio;  // audio manifest; default: FILE's own (FILE.audio.json) if present
  std::string log_level = "warning";
  RecordOutputs outputs;
  AlertOptions alerts;
};

int run_replay(ReplayArgs& a) {
  init_cli_logging(a.log_level);
  // Paced like the capture, records go out as each call ends; else in batches.
  a.outputs.batch_json = !a.realtime;
  BatchMonitor monitor;
  if (const int rc = monitor.load_policy("replay", a.alerts); rc != kExitOk) return rc;
  hal::ReplayOptions ro{.path = a.file, .realtime = a.realtime, .pbx_role = std::nullopt};
  if (!a.pbx_side.empty())
    ro.pbx_role = a.pbx_side == "network" ? hal::Role::Network : hal::Role::User;
  ro.audio_manifest = a.audio;
  hal::ReplaySource source(ro);
  if (auto err = source.open(); !err.empty()) {
    std::cerr << "trunkwatch replay: " << a.file << ": " << err << "\n";
    return kExitBadInput;
  }
  // Before the chain starts its threads (detector workers, mail), which inherit the mask.
  const StopOnSignal stop_on_signal([&source] { source.stop(); });
  PipelineOptions po;
  // Each span's facts: the command line's when given, else the capture's (its manifest), else
  // T1 with ni2 (euroisdn on E1). Each option overrides only its own fact.
  auto apply_args = [&](hal::SpanInfo& s) {
    if (!a.span_type.empty()) s.type = a.span_type == "e1" ? hal::SpanType::E1 : hal::SpanType::T1;
    if (!a.switch_type.empty()) hal::parse_switch_type(a.switch_type, s.switch_type);
    if (ro.pbx_role) s.pbx_role = *ro.pbx_role;
  };
  po.span_defaults.type = a.span_type == "e1" ? hal::SpanType::E1 : hal::SpanType::T1;
  po.span_defaults.switch_type =
      po.span_defaults.type == hal::SpanType::E1 ? hal::SwitchType::EuroIsdn : hal::SwitchType::Ni2;
  po.span_defaults.name = a.file;
  apply_args(po.span_defaults);
  po.spans = source.spans();
  for (hal::SpanInfo& s : po.spans) apply_args(s);
  if (const int rc = monitor.open("replay", po, a.outputs, a.alerts); rc != kExitOk) return rc;
  const hal::SourceError err = source.run(monitor.chain());
  std::cerr << "trunkwatch replay: " << summary_line(monitor.chain().pipeline()) << "\n"
            << "trunkwatch replay: " << monitor.finish() << "\n";
  const int outputs = monitor.check_outputs("replay", a.outputs);
  if (const int signo = stop_on_signal.signal(); signo != 0) {
    std::cerr << "trunkwatch replay: stopped by " << (signo == SIGINT ? "SIGINT" : "SIGTERM")
              << " before the end of " << a.file
              << ": the records and notices of what was read are written, calls still up end "
                 "with end_reason \"capture_end\"\n";
    return kExitFailure;
  }
  if (err) {
    std::cerr << "trunkwatch replay: " << a.file << ": " << err.message
              << " (records up to that point were written)\n";
    return kExitBadInput;
  }
  return outputs;
}

}  // namespace

void add_replay_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ReplayArgs>();
  CLI::App* cmd = app.add_subcommand(
      "replay",
      "Decode a D-channel capture and write a record of every call.\n\n"
      "FILE is a pcapng or pcap file of LAPD frames as Wireshark writes them (link type\n"
      "LINUX_LAPD, 177, whose pseudo-header gives each frame's direction; LAPD, 203, is read with\n"
      "the direction taken from the C/R bit); in pcapng each span is an interface named spanN\n"
      "(docs/capture-format.md). The side that captured (packet type 4 = sent) is the PBX. Calls "
      "whose\n"
      "SETUP precedes the capture are reported as partial; calls still up at its end are closed\n"
      "with end_reason \"capture_end\". The fraud policy (docs/rules.md) judges every call;\n"
      "notices go to the log and --alerts-json. A summary goes to standard error.");
  cmd->add_option("FILE", args->file, "Capture file (pcapng or pcap)")
      ->required()
      ->option_text("FILE.pcapng");
  args->outputs.add_options(*cmd);
  args->alerts.add_options(*cmd);
  cmd->add_option(
         "--pbx-side", args->pbx_side,
         "Q.921 role of the PBX's end (default: from the capture's pseudo-header, else user)")
      ->check(CLI::IsMember({"user", "network"}));
  cmd->add_option("--switchtype", args->switch_type,
                  "Q.931 variant spoken on every span, overriding the capture's (default: each "
                  "span's from the capture's manifest, else ni2 on T1, euroisdn on E1)")
      ->check(switch_type_validator());
  cmd->add_option("--span-type", args->span_type,
                  "t1 or e1 for every span, overriding the capture's (default: each span's from "
                  "the capture's manifest, else t1); sets the call-progress tone plan")
      ->check(CLI::IsMember({"t1", "e1"}));
  cmd->add_flag("--realtime", args->realtime, "Pace the frames as they were captured");
  cmd->add_option("--audio", args->audio,
                  "B-channel audio manifest (docs/capture-format.md) to replay with the frames "
                  "(default: FILE's own, FILE.audio.json, when it exists)")
      ->option_text("MANIFEST");
  add_log_option(*cmd, args->log_level);
  cmd->callback([args, &exit_code] { exit_code = run_replay(*args); });
}

}  // namespace tw::cli
