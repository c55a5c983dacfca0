// trunkwatch run: the daemon (monitor/daemon/); trunkwatch status|calls|reload|hangup: its
// control socket's clients.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "hal/dahdi/dahdi_source.hpp"
#include "hal/replay/replay_source.hpp"
#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"
#include "monitor/cli/cli_common.hpp"
#include "monitor/cli/commands.hpp"
#include "monitor/daemon/control.hpp"
#include "monitor/daemon/daemon.hpp"

namespace tw::cli {

namespace {

constexpr const char* kDefaultSocket = "/run/trunkwatch/control";

struct RunArgs {
  PolicyOptions policy;
  std::string simulate;
  std::string replay;
  double speed = 1;
  bool audio = false;
  std::string dahdi_root;
};

std::unique_ptr<hal::SpanSource> make_source(const RunArgs& a, const rules::Config& config,
                                             std::string& error) {
  if (!a.simulate.empty()) {
    std::optional<sim::Scenario> scenario;
    if (a.simulate == "demo")
      scenario = sim::demo_scenario();
    else
      scenario = sim::load_scenario(a.simulate, error);
    if (!scenario) return nullptr;
    return std::make_unique<sim::Simulator>(
        std::move(*scenario),
        sim::SimOptions{
            .speed = a.speed, .pcap_path = {}, .audio = a.audio && config.daemon.audio});
  }
  if (!a.replay.empty()) {
    hal::ReplayOptions ro{.path = a.replay, .realtime = true, .pbx_role = std::nullopt};
    auto source = std::make_unique<hal::ReplaySource>(ro);
    if (auto err = source->open(); !err.empty()) {
      error = a.replay + ": " + err;
      return nullptr;
    }
    return source;
  }
  hal::dahdi::DahdiOptions o;
  o.block_ms = config.daemon.block_ms;
  o.audio = config.daemon.audio;
  if (!a.dahdi_root.empty()) {  // a DAHDI tree elsewhere (tests)
    o.dev_root = a.dahdi_root + "/dev/dahdi";
    o.sysfs_spans = a.dahdi_root + "/sys/bus/dahdi_spans/devices";
  }
  for (const rules::SpanSettings& s : config.spans)
    o.taps.push_back(hal::dahdi::TapPair{s.span, s.carrier_span.value_or(0), s.type, s.name});
  auto source = std::make_unique<hal::dahdi::DahdiSource>(o);
  if (auto err = source->open(); !err.empty()) {
    error = "DAHDI: " + err;
    return nullptr;
  }
  return source;
}

int run_run(const RunArgs& a) {
  daemon::DaemonOptions o;
  o.config_path = a.policy.config;
  o.overrides = a.policy.overrides;
  return daemon::run_daemon(o, [&a](const rules::Config& config, std::string& error) {
    return make_source(a, config, error);
  });
}

struct ControlArgs {
  std::string socket = kDefaultSocket;
  bool json = false;
  std::string target;  // hangup SPAN:CHANNEL
};

// Sends `request`; prints the reply (as JSON or by `human`); exit 0 when the daemon said ok.
int control(const ControlArgs& a, const std::string& request,
            const std::function<void(const nlohmann::json&)>& human) {
  std::string error;
  const std::string reply = daemon::control_request(a.socket, request, error);
  if (!error.empty() && reply.empty()) {
    std::cerr << "trunkwatch " << request << ": " << error << "\n";
    return kExitFailure;
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(reply);
  } catch (const nlohmann::json::exception&) {
    std::cerr << "trunkwatch " << request << ": the daemon's answer is not JSON\n";
    return kExitFailure;
  }
  const bool ok = j.value("ok", false);
  if (a.json) {
    std::cout << reply;
  } else if (!ok) {
    std::cerr << "trunkwatch: " << j.value("error", std::string("refused")) << "\n";
    if (j.contains("errors"))
      for (const auto& e : j["errors"]) std::cerr << e.get<std::string>() << "\n";
  } else {
    human(j);
  }
  return ok ? kExitOk : kExitFailure;
}

void print_status(const nlohmann::json& j) {
  std::printf("trunkwatch daemon pid %d, up %lld s, config %s, reloads %llu\n", j.value("pid", 0),
              j.value("uptime_s", 0LL), j.value("config", std::string()).c_str(),
              j.value("reloads", 0ULL));
  std::printf("calls up %llu, calls recorded %llu, notices %llu\n", j.value("calls_up", 0ULL),
              j.value("calls_recorded", 0ULL), j["notices"].value("total", 0ULL));
  if (const auto waiting = j.value("records_waiting", 0ULL))
    std::printf("call records waiting for the store: %llu (it refused them; retried every 5 s)\n",
                waiting);
  std::printf(
      "\nspan  type line           switchtype  alarms     D-channel  calls  frames  malformed  "
      "bad_fcs\n");
  for (const auto& s : j["spans"]) {
    const std::string line = s.value("line", std::string());
    std::printf("%4d  %-4s %-14s %-10s  %-10s %-9s  %5llu  %6llu  %9llu  %7llu\n",
                s.value("span", 0), s.value("type", std::string()).c_str(),
                line.empty() ? "-" : line.c_str(), s.value("switchtype", std::string()).c_str(),
                s.value("alarms", std::string()).c_str(),
                s.value("d_channel", std::string()).c_str(), s.value("calls_up", 0ULL),
                s.value("frames", 0ULL), s.value("malformed", 0ULL), s.value("bad_fcs", 0ULL));
    const nlohmann::json errors = s.value("line_errors", nlohmann::json::object());
    std::printf("      line errors: bpv %llu, crc %llu, ebit %llu, fas %llu\n",
                errors.value("bpv", 0ULL), errors.value("crc", 0ULL), errors.value("ebit", 0ULL),
                errors.value("fas", 0ULL));
  }
  if (j.contains("mail"))
    std::printf("\nalert mail: %llu pending, %llu delivered, %llu failed attempts\n",
                j["mail"].value("pending", 0ULL), j["mail"].value("delivered", 0ULL),
                j["mail"].value("failures", 0ULL));
}

void print_calls(const nlohmann::json& j) {
  std::printf("span ch  direction  calling          called               answered  digits\n");
  for (const auto& c : j["calls"]) {
    const std::string ch = c["channel"].is_number() ? std::to_string(c["channel"].get<int>()) : "-";
    std::printf("%4d %2s  %-9s  %-15.15s  %-19.19s  %-8s  %.40s\n", c.value("span", 0), ch.c_str(),
                c.value("direction", std::string()).c_str(),
                c.value("calling", std::string()).c_str(), c.value("called", std::string()).c_str(),
                c["answer"].is_string() ? "yes" : "no", c.value("digits", std::string()).c_str());
  }
  std::printf("%zu call(s) up\n", j["calls"].size());
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Run the monitor as a daemon (what the systemd unit starts).\n\n"
      "Monitors the spans of [[span]] in the configuration on the DAHDI card, writes call records\n"
      "to daemon.records_dir, raises notices per the policy (log, alerts.jsonl, mail, hooks) and\n"
      "answers on the control socket. SIGHUP reloads the configuration (a bad file is refused\n"
      "and the running one stays); SIGTERM closes the calls still up as partial records and\n"
      "stops. --simulate or --replay feed it from a simulated site or a capture instead of a\n"
      "card (trials, tests): it then stops when the source ends.");
  args->policy.add_options(*cmd);
  cmd->add_option("--simulate", args->simulate,
                  "Monitor a simulated site (scenario file or 'demo')")
      ->option_text("SCENARIO");
  cmd->add_option("--replay", args->replay, "Monitor a capture, paced as it was recorded")
      ->option_text("FILE.pcap");
  cmd->add_option("--speed", args->speed, "--simulate: simulated seconds per wall-clock second")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--audio", args->audio, "--simulate: put audio on the B-channels");
  cmd->add_option("--dahdi-root", args->dahdi_root,
                  "Look for DAHDI's dev/dahdi and sys/bus/dahdi_spans under DIR instead of /")
      ->option_text("DIR")
      ->group("");
  cmd->callback([args, &exit_code] { exit_code = run_run(*args); });
}

void add_control_commands(CLI::App& app, int& exit_code) {
  struct Spec {
    const char* name;
    const char* help;
  };
  for (const Spec& s :
       {Spec{"status", "Ask the running daemon for its spans, alarms, counters and calls up"},
        Spec{"calls", "Show the calls the running daemon sees up now"},
        Spec{"reload", "Make the running daemon reload its configuration (as SIGHUP does)"},
        Spec{"hangup", "Ask the daemon to clear the call on SPAN:CHANNEL (inline mode only)"}}) {
    auto args = std::make_shared<ControlArgs>();
    CLI::App* cmd = app.add_subcommand(s.name, s.help);
    cmd->add_option("--socket", args->socket, "The daemon's control socket")->capture_default_str();
    cmd->add_flag("--json", args->json, "Print the daemon's JSON answer as it is");
    const std::string name = s.name;
    if (name == "hangup")
      cmd->add_option("TARGET", args->target, "SPAN:CHANNEL")
          ->required()
          ->check(CLI::Validator(
              [](std::string& v) -> std::string {
                const auto colon = v.find(':');
                if (colon == std::string::npos || colon == 0 || colon + 1 == v.size() ||
                    v.find_first_not_of("0123456789:") != std::string::npos ||
                    v.find(':', colon + 1) != std::string::npos)
                  return "expected SPAN:CHANNEL, e.g. 1:5";
                return {};
              },
              "SPAN:CHANNEL"));
    cmd->callback([args, name, &exit_code] {
      if (name == "status") {
        exit_code = control(*args, "status", print_status);
      } else if (name == "calls") {
        exit_code = control(*args, "calls", print_calls);
      } else if (name == "reload") {
        exit_code = control(*args, "reload", [](const nlohmann::json& j) {
          std::printf("configuration reloaded from %s\n", j.value("config", std::string()).c_str());
        });
      } else {
        exit_code = control(*args, "hangup " + args->target, [](const nlohmann::json&) {});
      }
    });
  }
}

}  // namespace tw::cli
