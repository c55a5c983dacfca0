// trunkwatch demo: the main job on a built-in simulated site, with a live call table.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"
#include "monitor/cli/cli_common.hpp"
#include "monitor/cli/commands.hpp"
#include "monitor/report.hpp"

namespace tw::cli {

namespace {

struct DemoArgs {
  std::string db = "trunkwatch-demo.sqlite";
  double speed = 60;
  bool live = true;
  std::string log_level = "warning";
};

// Shows the calls that are up, redrawn a few times a second of wall time.
class LiveTable final : public hal::SpanSink {
 public:
  LiveTable(Pipeline& pipeline, bool enabled) : pipeline_(pipeline), enabled_(enabled) {
    tty_ = isatty(STDOUT_FILENO) != 0;
  }
  void on_frame(const hal::DFrame& f) override { pipeline_.on_frame(f); }
  void on_line_event(const hal::LineEvent& e) override { pipeline_.on_line_event(e); }
  void on_tick(hal::Timestamp now) override {
    pipeline_.on_tick(now);
    if (!enabled_) return;
    const auto wall = std::chrono::steady_clock::now();
    // On a terminal redraw 4 times a second; in a pipe print one line per simulated minute.
    if (tty_ ? wall - last_draw_ < std::chrono::milliseconds(250)
             : now - last_line_ < std::chrono::minutes(1))
      return;
    last_draw_ = wall;
    last_line_ = now;
    draw(now);
  }

 private:
  void draw(hal::Timestamp now) {
    std::size_t up = 0;
    for (const auto& s : pipeline_.spans()) up += s.tracker.active_calls();
    const auto done = pipeline_.call_totals().calls;
    if (!tty_) {
      std::printf("%s  calls up %zu, calls ended %llu\n", calls::format_time(now).c_str(), up,
                  static_cast<unsigned long long>(done));
      std::fflush(stdout);
      return;
    }
    std::string screen = "\033[H\033[J";
    char line[160];
    std::snprintf(line, sizeof line, "trunkwatch demo  %s  calls up %zu  ended %llu\n\n",
                  calls::format_time(now).c_str(), up, static_cast<unsigned long long>(done));
    screen += line;
    screen += "span ch  direction  calling          called               state      time\n";
    std::size_t rows = 0;
    for (const auto& s : pipeline_.spans()) {
      s.tracker.for_each_active([&](const calls::CallRecord& r) {
        if (++rows > 30) return;
        const char* state = r.end ? "clearing" : r.answer ? "talking" : "ringing";
        const auto since = r.answer ? *r.answer : r.start.value_or(now);
        const long secs = static_cast<long>(
            std::chrono::duration_cast<std::chrono::seconds>(now - since).count());
        std::snprintf(line, sizeof line, "%4d %2s  %-9s  %-15.15s  %-19.19s  %-9s %3ld:%02ld\n",
                      r.span, r.channel ? std::to_string(*r.channel).c_str() : "-",
                      std::string(calls::to_string(r.direction)).c_str(), r.calling.c_str(),
                      r.called.c_str(), state, secs / 60, secs % 60);
        screen += line;
      });
    }
    std::fwrite(screen.data(), 1, screen.size(), stdout);
    std::fflush(stdout);
  }

  Pipeline& pipeline_;
  bool enabled_;
  bool tty_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
  hal::Timestamp last_line_{};
};

int run_demo(const DemoArgs& a) {
  init_cli_logging(a.log_level);
  // The demo owns its database: start from an empty one each run.
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(a.db + suffix);
  store::SqliteStore db;
  if (auto err = db.open(a.db); !err.empty()) {
    std::cerr << "trunkwatch demo: " << err << "\n";
    return kExitFailure;
  }
  sim::Simulator simulator(sim::demo_scenario(),
                           sim::SimOptions{.speed = a.speed, .pcap_path = {}, .audio = false});
  PipelineOptions po;
  po.spans = simulator.spans();
  if (!po.spans.empty()) po.span_defaults = po.spans.front();
  CallEventFanout fanout;
  fanout.add(db);
  Pipeline pipeline(po, fanout);
  LiveTable table(pipeline, a.live);
  if (const hal::SourceError err = simulator.run(table)) {
    std::cerr << "trunkwatch demo: " << err.message << "\n";
    return kExitFailure;
  }
  std::vector<calls::CallRecord> records;
  if (auto err = db.load(std::nullopt, records); !err.empty()) {
    std::cerr << "trunkwatch demo: " << a.db << ": " << err << "\n";
    return kExitFailure;
  }
  std::cout << "\n"
            << render_report(records, ReportOptions{}) << "\n"
            << "Decoded: " << summary_line(pipeline) << "\n"
            << "Call records: " << a.db << " (try: trunkwatch report --db " << a.db << ")\n";
  return kExitOk;
}

}  // namespace

void add_demo_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "Watch a simulated site: two T1 PRI spans and a busy morning of calls, compressed.\n\n"
      "Real libpri stacks play the PBX and the carrier; trunkwatch taps and decodes them as it\n"
      "would a live card, shows the calls that are up, stores every record in an SQLite file\n"
      "and prints a summary at the end. No telephony card needed.");
  cmd->add_option("--db", args->db, "Where to store the call records (replaced if it exists)")
      ->capture_default_str();
  cmd->add_option("--speed", args->speed, "Simulated seconds per wall-clock second")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("!--no-live", args->live, "Do not show the live call table");
  add_log_option(*cmd, args->log_level);
  cmd->callback([args, &exit_code] { exit_code = run_demo(*args); });
}

}  // namespace tw::cli
