// The long-running monitor (`trunkwatch run`): one span source through the monitor chain,
// records to the store, notices to the log, alerts.jsonl and mail; systemd readiness and
// watchdog, SIGHUP reload, SIGTERM clean stop, the control socket.
//
// Everything runs on the thread that runs the source: the daemon's own work (signals, the
// control socket, the watchdog) is done from the source's on_tick, which every source calls
// at least every 100-200 ms of wall time, also while it waits (a paced replay or simulation
// in a quiet stretch); its stop() cuts such a wait short. A source that stalls therefore stops the
// watchdog pings, and systemd restarts the daemon: the intended outcome.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rules/config.hpp"
#include "trunkwatch/hal/source.hpp"

namespace tw::daemon {

struct DaemonOptions {
  std::string config_path;             // "" = /etc/trunkwatch/trunkwatch.toml when it exists
  std::vector<std::string> overrides;  // --set, re-applied on every reload
};

// Makes the span source from the loaded config (the DAHDI card, or a simulation or capture
// for tests and trials); an error message when it cannot.
using SourceFactory = std::function<std::unique_ptr<hal::SpanSource>(const rules::Config& config,
                                                                     std::string& error)>;

// Runs until SIGTERM/SIGINT or the end of the source; returns the process exit code
// (0 stopped cleanly, 1 failed while running, 3 bad configuration at start).
int run_daemon(const DaemonOptions& options, const SourceFactory& make_source);

}  // namespace tw::daemon
