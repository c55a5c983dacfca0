// trunkwatch bench decode: frames per second through the passive decoder and call tracker
// (a capture), or through the whole monitor chain with the rules engine (random Q.931, or
// a simulator-made capture with lost clearings) at several sizes, so that a rate that falls
// as the traffic grows shows. Frames are in memory first: the figures are the monitor's, not
// the disk's or the generator's.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <vector>

#include "bench/bench_commands.hpp"
#include "bench/process_stats.hpp"
#include "bench/random_q931.hpp"
#include "hal/replay/pcap_io.hpp"
#include "hal/sim/simulator.hpp"
#include "monitor/app/monitor_chain.hpp"
#include "monitor/pipeline.hpp"
#include "rules/config.hpp"

namespace tw::cli {

namespace {

using bench::heap_mb;
using bench::peak_rss_mb;
using bench::thread_cpu_seconds;

struct DecodeBenchArgs {
  std::string pcap;
  int repeat = 5;
  std::string switch_type = "ni2";
  std::size_t random = 0;    // frames of random Q.931
  std::size_t simulate = 0;  // frames of simulated traffic
  int spans = 0;             // 0: 255 random, 4 simulated
  double lost_clearing = 0.1;
  std::uint64_t seed = 1;
  double interval_us = 1000;  // random: source time between frames
};

struct CountingSink final : calls::CallEventSink {
  std::uint64_t ended = 0;
  void on_call_event(const calls::CallEvent& e) override {
    if (e.type == calls::CallEventType::Ended) ++ended;
  }
};

struct CountingNotices final : rules::NoticeSink {
  std::uint64_t notices = 0;
  void on_notice(const rules::Notice&) override { ++notices; }
};

struct StoredFrame {
  hal::DFrame frame;
  std::size_t offset;
};

int run_capture_bench(const DecodeBenchArgs& a) {
  hal::PcapReader reader;
  if (auto err = reader.open(a.pcap); !err.empty()) {
    std::cerr << "trunkwatch bench decode: " << a.pcap << ": " << err << "\n";
    return 3;
  }
  std::vector<std::uint8_t> bytes;
  std::vector<StoredFrame> frames;
  hal::CapturedFrame cf;
  for (;;) {
    const auto st = reader.next(cf);
    if (st == hal::ReadStatus::End) break;
    if (st == hal::ReadStatus::Error) {
      std::cerr << "trunkwatch bench decode: " << a.pcap << ": " << reader.error() << "\n";
      return 3;
    }
    if (st != hal::ReadStatus::Frame) continue;
    frames.push_back({hal::DFrame{.span = cf.span, .from = cf.from, .time = cf.time, .bytes = {}},
                      bytes.size()});
    bytes.insert(bytes.end(), cf.bytes.begin(), cf.bytes.end());
  }
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const std::size_t end = i + 1 < frames.size() ? frames[i + 1].offset : bytes.size();
    frames[i].frame.bytes = {bytes.data() + frames[i].offset, end - frames[i].offset};
  }
  if (frames.empty()) {
    std::cerr << "trunkwatch bench decode: " << a.pcap << ": no frames\n";
    return 3;
  }
  PipelineOptions po;
  hal::parse_switch_type(a.switch_type, po.span_defaults.switch_type);
  double best = 0;
  std::uint64_t calls = 0;
  for (int r = 0; r < a.repeat; ++r) {
    CountingSink sink;
    Pipeline pipeline(po, sink);
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& f : frames) pipeline.on_frame(f.frame);
    pipeline.close_all(frames.back().frame.time, calls::EndReason::CaptureEnd);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(frames.size()) / secs);
    calls = sink.ended;
  }
  std::printf("frames=%zu calls=%llu repeats=%d\n", frames.size(),
              static_cast<unsigned long long>(calls), a.repeat);
  std::printf("decode_frames_per_second=%.0f\n", best);
  return 0;
}

// Records a simulator's frames, leaving out the clearing messages (DISCONNECT, RELEASE,
// RELEASE COMPLETE) of a share of the calls, chosen by span and call reference: those calls
// end by timeout or when their channel is taken again, as on a tap that missed frames.
class LossyRecorder final : public hal::SpanSink {
 public:
  LossyRecorder(double lost_share, std::uint64_t seed)
      : lost_per_mille_(lost_share * 1000), seed_(seed) {}
  void on_frame(const hal::DFrame& f) override {
    const auto b = f.bytes;
    // I-frame (control bit 0 clear), SAPI 0, Q.931 with a 2-octet call reference.
    if (b.size() >= 9 && (b[2] & 1) == 0 && (b[0] >> 2) == 0 && b[4] == 0x08 && b[5] == 2) {
      const std::uint8_t type = b[8];
      const std::uint32_t ref = static_cast<std::uint32_t>(b[6] & 0x7f) << 8 | b[7];
      if ((type == 0x45 || type == 0x4d || type == 0x5a) && ref != 0 && lost(f.span, ref)) {
        ++dropped;
        return;
      }
    }
    offsets.push_back(bytes.size());
    frames.push_back(hal::DFrame{.span = f.span, .from = f.from, .time = f.time, .bytes = {}});
    bytes.insert(bytes.end(), b.begin(), b.end());
  }
  void on_line_event(const hal::LineEvent&) override {}
  void on_audio(const hal::AudioChunk&) override {}
  void on_tick(hal::Timestamp) override {}
  void seal() {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const std::size_t end = i + 1 < frames.size() ? offsets[i + 1] : bytes.size();
      frames[i].bytes = {bytes.data() + offsets[i], end - offsets[i]};
    }
  }
  std::vector<std::uint8_t> bytes;
  std::vector<std::size_t> offsets;
  std::vector<hal::DFrame> frames;
  std::uint64_t dropped = 0;

 private:
  bool lost(int span, std::uint32_t ref) const {
    std::uint64_t h =
        (seed_ ^ static_cast<std::uint64_t>(span) << 20 ^ ref) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    return static_cast<double>(h % 1000) < lost_per_mille_;
  }
  double lost_per_mille_;
  std::uint64_t seed_;
};

sim::Scenario simulated_scenario(std::size_t frames, int spans, std::uint64_t seed) {
  sim::Scenario sc;
  sc.name = "bench decode";
  sc.start = *hal::make_time(2027, 1, 5, 0, 0, 0, 0, 0);
  sc.seed = static_cast<unsigned>(seed);
  for (int id = 1; id <= spans; ++id) {
    hal::SpanInfo s;
    s.id = id;
    sc.spans.push_back(s);
  }
  sim::TrafficSpec t;
  // About 18 D-frames a call with this mix (bench/decode_vs_tshark.sh's).
  t.calls = static_cast<int>(std::max<std::size_t>(frames / 18 + 1, 10));
  t.duration_s = static_cast<double>(t.calls) * 4.0 * 4 / spans;
  t.overlap_share = 0.2;
  sim::generate_traffic(sc, t, sc.seed);
  return sc;
}

// Runs `n` frames through a fresh monitor chain (default policy) with ticks every second of
// source time, as replay does; prints one line.
void run_chain(std::span<const hal::DFrame> frames, const std::vector<hal::SpanInfo>& spans,
               const std::shared_ptr<const rules::Config>& config) {
  const double heap0 = heap_mb();
  CountingSink records;
  CountingNotices notices;
  PipelineOptions po;
  po.spans = spans;
  po.span_defaults = spans.front();
  app::MonitorChain chain(po, config, notices, records);
  hal::Timestamp last_tick = frames.front().time;
  const double t0 = thread_cpu_seconds();
  for (const hal::DFrame& f : frames) {
    if (f.time - last_tick >= std::chrono::seconds(1)) {
      chain.on_tick(f.time);
      last_tick = f.time;
    }
    chain.on_frame(f);
  }
  const double run_s = thread_cpu_seconds() - t0;
  std::size_t tracker_up = 0;
  for (const auto& s : chain.pipeline().spans()) tracker_up += s.tracker.active_calls();
  const std::size_t engine_up = chain.engine().active_calls();
  const double heap = heap_mb() - heap0;
  chain.finish(frames.back().time, calls::EndReason::CaptureEnd);
  const double total_s = thread_cpu_seconds() - t0;
  const auto totals = chain.pipeline().totals();
  std::printf(
      "frames=%zu cpu_seconds=%.3f frames_per_second=%.0f (with finish %.0f) messages=%llu "
      "malformed=%llu anomalies=%llu calls=%llu notices=%llu calls_up_tracker=%zu "
      "calls_up_engine=%zu heap_mb=%.1f peak_rss_mb=%.1f\n",
      frames.size(), run_s, static_cast<double>(frames.size()) / run_s,
      static_cast<double>(frames.size()) / total_s,
      static_cast<unsigned long long>(totals.messages),
      static_cast<unsigned long long>(totals.malformed),
      static_cast<unsigned long long>(totals.anomalies.total()),
      static_cast<unsigned long long>(records.ended),
      static_cast<unsigned long long>(notices.notices), tracker_up, engine_up, heap, peak_rss_mb());
  std::fflush(stdout);
}

// The sizes run: 10,000, then ten times more each, up to n (n itself last).
std::vector<std::size_t> sizes_up_to(std::size_t n) {
  std::vector<std::size_t> out;
  for (std::size_t s = 10'000; s < n; s *= 10) out.push_back(s);
  out.push_back(n);
  return out;
}

int run_chain_bench(const DecodeBenchArgs& a) {
  rules::ConfigOptions co;
  auto loaded = rules::load_config("", co);
  if (!loaded.config) {
    std::cerr << "trunkwatch bench decode: the default policy does not load\n";
    return 1;
  }
  std::vector<hal::DFrame> frames;
  std::vector<hal::SpanInfo> spans;
  bench::FrameBatch random;
  LossyRecorder recorder(a.lost_clearing, a.seed);
  const auto g0 = std::chrono::steady_clock::now();
  if (a.random > 0) {
    bench::RandomQ931Options ro;
    ro.spans = a.spans > 0 ? a.spans : 255;
    ro.seed = a.seed;
    ro.interval = std::chrono::microseconds(static_cast<std::int64_t>(a.interval_us));
    random = bench::generate_random_q931(a.random, ro);
    frames = random.frames;
    spans = bench::RandomQ931Generator(ro).spans();
    std::printf(
        "random Q.931: %zu frames on %d spans, one every %.0f us of source time, seed %llu\n",
        frames.size(), ro.spans, a.interval_us, static_cast<unsigned long long>(a.seed));
  } else {
    sim::Simulator simulator(simulated_scenario(a.simulate, a.spans > 0 ? a.spans : 4, a.seed));
    if (const auto err = simulator.run(recorder)) {
      std::cerr << "trunkwatch bench decode: simulator: " << err.message << "\n";
      return 1;
    }
    recorder.seal();
    spans = simulator.spans();
    const std::size_t n = std::min(a.simulate, recorder.frames.size());
    frames.assign(recorder.frames.begin(),
                  recorder.frames.begin() + static_cast<std::ptrdiff_t>(n));
    std::printf(
        "simulated: %zu calls on %zu spans, %zu frames kept, %llu clearing frames left out "
        "(%.0f %% of the call references)\n",
        simulator.truth().size(), spans.size(), frames.size(),
        static_cast<unsigned long long>(recorder.dropped), a.lost_clearing * 100);
  }
  std::printf("generated in %.1f s; frames in memory %.1f MB\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - g0).count(),
              static_cast<double>(frames.size() * sizeof(hal::DFrame)) / 1e6 +
                  static_cast<double>(random.bytes.size() + recorder.bytes.size()) / 1e6);
  if (frames.empty()) {
    std::cerr << "trunkwatch bench decode: no frames\n";
    return 1;
  }
  for (std::size_t n : sizes_up_to(frames.size()))
    run_chain(std::span(frames).first(n), spans, loaded.config);
  return 0;
}

}  // namespace

void add_bench_decode_command(CLI::App& bench, int& exit_code) {
  auto args = std::make_shared<DecodeBenchArgs>();
  CLI::App* cmd = bench.add_subcommand(
      "decode",
      "Decode a D-channel capture (in memory) through Q.921, Q.931 and the call tracker,\n"
      "several times, and print the best rate as 'decode_frames_per_second=N'.\n"
      "bench/decode_vs_tshark.sh compares it with tshark on the same file.\n"
      "With --random N or --simulate N instead of FILE: N frames of random well-formed Q.931\n"
      "or of simulated calls (a share of them with their clearing lost) through the whole\n"
      "monitor chain with the default policy, at 10,000 frames and each tenfold size up to N,\n"
      "one line per size: frames_per_second, calls still up, heap, peak RSS.");
  cmd->add_option("FILE", args->pcap, "Capture file (pcap)");
  cmd->add_option("--repeat", args->repeat, "Passes over the capture")->capture_default_str();
  cmd->add_option("--switchtype", args->switch_type, "Q.931 variant")->capture_default_str();
  auto* random = cmd->add_option("--random", args->random,
                                 "N frames of random well-formed Q.931 (bench/random_q931.hpp)");
  auto* simulate = cmd->add_option("--simulate", args->simulate,
                                   "N frames of simulated traffic (libpri stacks on both ends)");
  random->excludes(simulate);
  cmd->add_option("--spans", args->spans, "Spans (default: 255 random, 4 simulated)")
      ->check(CLI::Range(1, 255));
  cmd->add_option("--lost-clearing", args->lost_clearing,
                  "--simulate: share of call references whose DISCONNECT, RELEASE and RELEASE "
                  "COMPLETE are left out")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Random seed")->capture_default_str();
  cmd->add_option("--interval-us", args->interval_us,
                  "--random: source time between two frames, microseconds")
      ->check(CLI::Range(1.0, 1e7))
      ->capture_default_str();
  cmd->callback([args, cmd, &exit_code] {
    if (args->random > 0 || args->simulate > 0) {
      if (!args->pcap.empty()) {
        std::cerr << "trunkwatch bench decode: FILE and --random/--simulate exclude each other\n";
        exit_code = 2;
        return;
      }
      exit_code = run_chain_bench(*args);
      return;
    }
    if (args->pcap.empty()) {
      std::cerr << "trunkwatch bench decode: FILE, --random N or --simulate N is required\n"
                << cmd->help();
      exit_code = 2;
      return;
    }
    exit_code = run_capture_bench(*args);
  });
}

}  // namespace tw::cli
