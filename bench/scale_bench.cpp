// trunkwatch bench scale: a big box at full load. The simulator plays N spans with every
// B-channel busy (calls starting and ending all the time, audio on every answered call)
// through the whole monitor (decoders, detector pool, trackers, rules engine, SQLite store).
// Reports the monitor's CPU per simulated second (= cores it needs at real time) and the
// process's resident memory per simulated minute (growth = a leak).
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "bench/bench_commands.hpp"
#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"
#include "monitor/app/monitor_chain.hpp"
#include "monitor/store/sqlite_store.hpp"

namespace tw::cli {

namespace {

namespace fs = std::filesystem;

struct ScaleArgs {
  int spans = 32;
  std::string type = "e1";
  double minutes = 10;
  int dsp_threads = 0;  // 0: one per core
  bool audio = true;
  double occupancy = 0.9;
};

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double rss_mb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

sim::Scenario build(const ScaleArgs& a) {
  sim::Scenario sc;
  sc.name = "bench scale";
  sc.start = *hal::make_time(2027, 1, 5, 9, 0, 0, 0, 0);
  sc.seed = 42;
  const bool e1 = a.type == "e1";
  for (int id = 1; id <= a.spans; ++id) {
    hal::SpanInfo s;
    s.id = id;
    s.type = e1 ? hal::SpanType::E1 : hal::SpanType::T1;
    s.switch_type = e1 ? hal::SwitchType::EuroIsdn : hal::SwitchType::Ni2;
    s.name = "bench span " + std::to_string(id);
    sc.spans.push_back(std::move(s));
  }
  sim::TrafficSpec g;
  const double channels = a.spans * (e1 ? 30.0 : 23.0);
  const double hold_s = 92;  // mean talk 90 s plus set-up and clearing
  const double duration = a.minutes * 60;
  g.calls = static_cast<int>(a.occupancy * channels / hold_s * duration);
  g.duration_s = duration;
  g.answer_rate = 0.95;
  g.mean_talk_s = 90;
  g.max_talk_s = 240;
  g.overlap_share = 0.05;
  g.dtmf_share = 0.2;
  g.disa_share = 0.02;
  g.fax_share = 0.03;
  g.modem_share = 0.02;
  generate_traffic(sc, g, sc.seed);
  sc.audio = a.audio;
  return sc;
}

// Samples memory and calls once per simulated minute, then hands on.
class Sampler final : public hal::SpanSink {
 public:
  Sampler(hal::SpanSink& next, const Pipeline& pipeline) : next_(next), pipeline_(pipeline) {}
  void on_frame(const hal::DFrame& f) override { next_.on_frame(f); }
  void on_audio(const hal::AudioChunk& a) override { next_.on_audio(a); }
  void on_line_event(const hal::LineEvent& e) override { next_.on_line_event(e); }
  void on_tick(hal::Timestamp now) override {
    next_.on_tick(now);
    if (first_ == hal::Timestamp{}) first_ = now;
    latest_ = now;
    if (now - last_ < std::chrono::minutes(1)) return;
    last_ = now;
    std::size_t up = 0;
    for (const auto& s : pipeline_.spans()) up += s.tracker.active_calls();
    const double minute = std::chrono::duration<double>(now - first_).count() / 60.0;
    samples.push_back({minute, rss_mb(), up, pipeline_.call_totals().calls});
    std::printf("minute %5.1f  rss %7.1f MB  calls up %5zu  records %7llu\n", minute,
                samples.back().rss, up, static_cast<unsigned long long>(samples.back().records));
    std::fflush(stdout);
  }
  struct Sample {
    double minute, rss;
    std::size_t up;
    unsigned long long records;
  };
  std::vector<Sample> samples;
  double simulated_s() const { return std::chrono::duration<double>(latest_ - first_).count(); }

 private:
  hal::SpanSink& next_;
  const Pipeline& pipeline_;
  hal::Timestamp first_{};
  hal::Timestamp last_{};
  hal::Timestamp latest_{};
};

// The simulator alone: its frames and audio go nowhere; its memory is sampled.
struct NullSink final : hal::SpanSink {
  double peak_rss = 0;
  hal::Timestamp last{};
  void on_frame(const hal::DFrame&) override {}
  void on_line_event(const hal::LineEvent&) override {}
  void on_tick(hal::Timestamp now) override {
    if (now - last < std::chrono::seconds(10)) return;
    last = now;
    peak_rss = std::max(peak_rss, rss_mb());
  }
};

int run_scale(const ScaleArgs& a) {
  const sim::Scenario sc = build(a);
  double simulated_s = 0;  // traffic window plus the calls still up after it
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = a.dsp_threads > 0 ? a.dsp_threads : std::min(cores, a.spans);
  std::printf(
      "scale: %d %s spans, %zu calls over %.0f simulated minutes, audio %s, %d detector "
      "thread(s)\n",
      a.spans, a.type.c_str(), sc.calls.size(), a.minutes, a.audio ? "on" : "off", threads);

  // First the simulator alone (its libpri stacks and audio generation are not the monitor's),
  // in a fresh process, so that its own memory shows too.
  double sim_cpu = 0, sim_rss = 0;
  const double base_rss = rss_mb();
  {
    sim::Simulator simulator(sc, sim::SimOptions{.speed = 0, .pcap_path = {}, .audio = a.audio});
    NullSink null;
    const double cpu0 = cpu_seconds();
    if (const auto err = simulator.run(null)) {
      std::cerr << "bench scale: " << err.message << "\n";
      return 1;
    }
    sim_cpu = cpu_seconds() - cpu0;
    sim_rss = null.peak_rss - base_rss;
  }
  // Then the whole monitor.
  const fs::path dir = fs::temp_directory_path() / ("tw-bench-scale-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  double monitor_cpu = 0, monitor_wall = 0, peak = 0, first_rss = 0, half_rss = 0, last_rss = 0;
  std::uint64_t calls = 0, chunks = 0, frames = 0;
  {
    store::SqliteStore db;
    if (auto err = db.open((dir / "calls.sqlite").string()); !err.empty()) {
      std::cerr << "bench scale: " << err << "\n";
      return 1;
    }
    struct Quiet final : rules::NoticeSink {
      std::uint64_t n = 0;
      void on_notice(const rules::Notice&) override { ++n; }
    } notices;
    rules::ConfigOptions co;
    auto config = rules::load_config("", co);
    sim::Simulator simulator(sc, sim::SimOptions{.speed = 0, .pcap_path = {}, .audio = a.audio});
    PipelineOptions po;
    po.spans = simulator.spans();
    po.span_defaults = po.spans.front();
    po.dsp_threads = threads;
    app::MonitorChain chain(po, config.config, notices, db);
    Sampler sampler(chain, chain.pipeline());
    const double cpu0 = cpu_seconds();
    const auto wall0 = std::chrono::steady_clock::now();
    if (const auto err = simulator.run(sampler)) {
      std::cerr << "bench scale: " << err.message << "\n";
      return 1;
    }
    monitor_cpu = cpu_seconds() - cpu0;
    monitor_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    calls = chain.pipeline().call_totals().calls;
    chunks = chain.pipeline().totals().audio_chunks;
    frames = chain.pipeline().totals().frames;
    simulated_s = sampler.simulated_s();
    for (const auto& s : sampler.samples) peak = std::max(peak, s.rss);
    if (!sampler.samples.empty()) {
      first_rss = sampler.samples.front().rss;
      half_rss = sampler.samples[sampler.samples.size() / 2].rss;
      last_rss = sampler.samples.back().rss;
    }
  }
  fs::remove_all(dir);

  const double daemon_cpu = monitor_cpu - sim_cpu;
  std::printf("calls %llu, D-frames %llu, audio chunks %llu\n",
              static_cast<unsigned long long>(calls), static_cast<unsigned long long>(frames),
              static_cast<unsigned long long>(chunks));
  std::printf("cpu: simulator+monitor %.1f s (wall %.1f s), simulator alone %.1f s\n", monitor_cpu,
              monitor_wall, sim_cpu);
  std::printf("monitor_cpu_s=%.1f simulated_s=%.0f cores_at_realtime=%.3f\n", daemon_cpu,
              simulated_s, daemon_cpu / simulated_s);
  std::printf(
      "rss_peak_mb=%.1f rss_first_minute_mb=%.1f rss_half_mb=%.1f rss_last_mb=%.1f "
      "(simulator included; the simulator alone grew by %.1f MB)\n",
      peak, first_rss, half_rss, last_rss, sim_rss);
  std::printf("monitor_rss_estimate_mb=%.1f\n", peak - sim_rss);
  return 0;
}

}  // namespace

void add_bench_scale_command(CLI::App& bench, int& exit_code) {
  auto a = std::make_shared<ScaleArgs>();
  CLI::App* cmd = bench.add_subcommand(
      "scale",
      "A big box at full load: N spans with every channel busy (signaling and audio) through "
      "the whole monitor; CPU per simulated second and resident memory per minute");
  cmd->add_option("--spans", a->spans, "spans (default 32)")->check(CLI::Range(1, 64));
  cmd->add_option("--type", a->type, "e1 or t1 (default e1)")->check(CLI::IsMember({"e1", "t1"}));
  cmd->add_option("--minutes", a->minutes, "simulated minutes (default 10)")
      ->check(CLI::Range(1.0, 240.0));
  cmd->add_option("--dsp-threads", a->dsp_threads, "detector threads (default: one per core)")
      ->check(CLI::Range(0, 64));
  cmd->add_option("--occupancy", a->occupancy, "share of channels busy (default 0.9)")
      ->check(CLI::Range(0.1, 1.0));
  cmd->add_flag("!--no-audio", a->audio, "signaling only");
  cmd->callback([a, &exit_code] { exit_code = run_scale(*a); });
}

}  // namespace tw::cli
