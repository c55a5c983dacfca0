// trunkwatch bench scale: a big box at full load. The simulator plays N spans with every
// B-channel busy (calls starting and ending all the time, audio on every answered call)
// through the whole monitor (decoders, detector pool, trackers, rules engine, SQLite store).
// Reports the monitor's CPU per simulated second (= cores it needs at real time) and, per
// simulated minute, the process's resident memory and heap in use with the calls up, started
// and ended, then how both grew between minute 10 and the end of the traffic while calls kept
// starting and ending (growth at a steady load = a leak).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "bench/bench_commands.hpp"
#include "bench/process_stats.hpp"
#include "dsp/detector_bank.hpp"
#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"
#include "monitor/app/monitor_chain.hpp"
#include "monitor/store/sqlite_store.hpp"

namespace tw::cli {

namespace {

using bench::heap_mb;
using bench::rss_mb;

namespace fs = std::filesystem;

struct ScaleArgs {
  int spans = 32;
  std::string type = "e1";
  double minutes = 10;
  int dsp_threads = 0;  // 0: one per core
  bool audio = true;
  double occupancy = 0.9;
  bool simulator_alone = true;  // first run the simulator alone (CPU and memory baseline)
  bool simulator_only = false;  // only that, with its memory per simulated minute
};

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
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
  // `simulator_heap`: the simulator-alone run's heap per minute (empty if it did not run).
  Sampler(hal::SpanSink& next, const Pipeline& pipeline, std::vector<double> simulator_heap)
      : next_(next), pipeline_(pipeline), simulator_heap_(std::move(simulator_heap)) {}
  void on_frame(const hal::DFrame& f) override { next_.on_frame(f); }
  void on_audio(const hal::AudioChunk& a) override { next_.on_audio(a); }
  void on_line_event(const hal::LineEvent& e) override { next_.on_line_event(e); }
  void on_tick(hal::Timestamp now) override {
    next_.on_tick(now);
    if (first_ == hal::Timestamp{}) first_ = now;
    latest_ = now;
    if (now - last_ < std::chrono::minutes(1)) return;
    last_ = now;
    // After on_tick the detector threads are idle (the pipeline synced them): the counts
    // below are not moving.
    Sample x;
    for (const auto& s : pipeline_.spans()) x.up += s.tracker.active_calls();
    x.minute = std::chrono::duration<double>(now - first_).count() / 60.0;
    x.rss = rss_mb();
    x.heap = heap_mb();
    x.ended = pipeline_.call_totals().calls;
    x.started = x.ended + x.up;
    x.banks = dsp::ChannelDetectorBank::live_banks();
    x.parked = dsp::ChannelDetectorBank::parked_states();
    char monitor[48] = "";
    if (samples.size() < simulator_heap_.size()) {
      x.monitor_heap = x.heap - simulator_heap_[samples.size()];
      std::snprintf(monitor, sizeof monitor, "  monitor heap %6.1f MB", x.monitor_heap);
    }
    samples.push_back(x);
    std::printf(
        "minute %5.1f  rss %7.1f MB  heap %7.1f MB%s  calls up %5zu  started %7llu  ended %7llu  "
        "banks %5zu  parked states %4zu\n",
        x.minute, x.rss, x.heap, monitor, x.up, x.started, x.ended, x.banks, x.parked);
    std::fflush(stdout);
  }
  struct Sample {
    double minute = 0, rss = 0, heap = 0;
    double monitor_heap = -1;  // heap less the simulator alone's at the same minute; -1: n/a
    std::size_t up = 0;
    unsigned long long started = 0, ended = 0;
    std::size_t banks = 0, parked = 0;
  };
  std::vector<Sample> samples;
  double simulated_s() const { return std::chrono::duration<double>(latest_ - first_).count(); }

 private:
  hal::SpanSink& next_;
  const Pipeline& pipeline_;
  std::vector<double> simulator_heap_;
  hal::Timestamp first_{};
  hal::Timestamp last_{};
  hal::Timestamp latest_{};
};

// Growth while calls keep starting and ending: from minute 10 (the load is steady by then;
// half the traffic window in shorter runs) to the last sample of the traffic window.
void print_growth(const std::vector<Sampler::Sample>& samples, double minutes) {
  const double ref_minute = std::min(10.0, std::floor(minutes / 2));
  const Sampler::Sample* ref = nullptr;
  const Sampler::Sample* last = nullptr;
  for (const auto& x : samples) {
    if (x.minute > minutes + 0.01) break;
    if (ref == nullptr && x.minute >= ref_minute - 0.01) ref = &x;
    last = &x;
  }
  if (ref == nullptr || last == nullptr || last == ref) {
    std::printf("growth: run too short to measure\n");
    return;
  }
  std::printf(
      "growth from minute %.0f to minute %.0f (%llu calls ended in between, %zu -> %zu up): "
      "rss %.1f -> %.1f MB (%+.1f MB), heap %.1f -> %.1f MB (%+.1f MB)\n",
      ref->minute, last->minute, last->ended - ref->ended, ref->up, last->up, ref->rss, last->rss,
      last->rss - ref->rss, ref->heap, last->heap, last->heap - ref->heap);
  std::printf("growth_rss_mb=%.1f growth_heap_mb=%.1f calls_between=%llu\n", last->rss - ref->rss,
              last->heap - ref->heap, last->ended - ref->ended);
  if (ref->monitor_heap >= 0 && last->monitor_heap >= 0)
    std::printf(
        "monitor heap (less the simulator alone's) %.1f -> %.1f MB: growth_monitor_heap_mb=%.1f\n",
        ref->monitor_heap, last->monitor_heap, last->monitor_heap - ref->monitor_heap);
}

// The simulator alone: its frames and audio go nowhere; its memory is sampled (and, with
// `print`, shown per simulated minute, on the same ticks as the Sampler's: the simulator
// keeps every call's audio script to the end for its ground truth, so its heap grows with
// the calls placed, and a run's monitor heap is its heap less this one's).
struct NullSink final : hal::SpanSink {
  bool print = false;
  std::vector<double> minute_heap;
  double peak_rss = 0;
  hal::Timestamp last{};
  hal::Timestamp first{};
  hal::Timestamp last_minute{};
  void on_frame(const hal::DFrame&) override {}
  void on_line_event(const hal::LineEvent&) override {}
  void on_tick(hal::Timestamp now) override {
    if (first == hal::Timestamp{}) first = now;
    if (now - last_minute >= std::chrono::minutes(1)) {
      last_minute = now;
      minute_heap.push_back(heap_mb());
      if (print) {
        std::printf("simulator alone: minute %5.1f  rss %7.1f MB  heap %7.1f MB\n",
                    std::chrono::duration<double>(now - first).count() / 60.0, rss_mb(),
                    minute_heap.back());
        std::fflush(stdout);
      }
    }
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
  std::vector<double> sim_heap;
  const double base_rss = rss_mb();
  if (a.simulator_alone) {
    sim::Simulator simulator(sc, sim::SimOptions{.speed = 0, .pcap_path = {}, .audio = a.audio});
    NullSink null;
    null.print = a.simulator_only;
    const double cpu0 = cpu_seconds();
    if (const auto err = simulator.run(null)) {
      std::cerr << "bench scale: " << err.message << "\n";
      return 1;
    }
    sim_cpu = cpu_seconds() - cpu0;
    sim_rss = null.peak_rss - base_rss;
    sim_heap = std::move(null.minute_heap);
  }
  if (a.simulator_only) {
    std::printf("simulator alone: cpu %.1f s, rss peak %.1f MB (grew by %.1f MB)\n", sim_cpu,
                base_rss + sim_rss, sim_rss);
    return 0;
  }
  // Then the whole monitor.
  const fs::path dir = fs::temp_directory_path() / ("tw-bench-scale-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  double monitor_cpu = 0, monitor_wall = 0, peak = 0, peak_heap = 0, first_rss = 0, half_rss = 0,
         last_rss = 0;
  std::vector<Sampler::Sample> samples;
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
    Sampler sampler(chain, chain.pipeline(), sim_heap);
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
    samples = sampler.samples;
    for (const auto& s : sampler.samples) {
      peak = std::max(peak, s.rss);
      peak_heap = std::max(peak_heap, s.heap);
    }
    if (!sampler.samples.empty()) {
      first_rss = sampler.samples.front().rss;
      half_rss = sampler.samples[sampler.samples.size() / 2].rss;
      last_rss = sampler.samples.back().rss;
    }
  }
  fs::remove_all(dir);

  if (!a.simulator_alone) {
    std::printf("calls %llu, D-frames %llu, audio chunks %llu\n",
                static_cast<unsigned long long>(calls), static_cast<unsigned long long>(frames),
                static_cast<unsigned long long>(chunks));
    std::printf("cpu: simulator+monitor %.1f s (wall %.1f s); simulator alone not run\n",
                monitor_cpu, monitor_wall);
    std::printf("rss_peak_mb=%.1f heap_peak_mb=%.1f (simulator included)\n", peak, peak_heap);
    print_growth(samples, a.minutes);
    return 0;
  }
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
  std::printf("heap_peak_mb=%.1f (malloc'd and in use, simulator included)\n", peak_heap);
  std::printf("monitor_rss_estimate_mb=%.1f\n", peak - sim_rss);
  print_growth(samples, a.minutes);
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
  cmd->add_flag("--simulator-only", a->simulator_only,
                "run only the simulator, printing its memory per simulated minute (to subtract "
                "from a --no-simulator-alone run's)");
  cmd->add_flag("!--no-simulator-alone", a->simulator_alone,
                "skip the first run of the simulator alone (no CPU split or simulator memory): "
                "for long runs that look at memory over time");
  cmd->callback([a, &exit_code] { exit_code = run_scale(*a); });
}

}  // namespace tw::cli
