// trunkwatch bench decode: frames per second through the passive decoder and call tracker.
// The capture is read into memory first, so the figure is the decoder's, not the disk's.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <vector>

#include "bench/bench_commands.hpp"
#include "hal/replay/pcap_io.hpp"
#include "monitor/pipeline.hpp"

namespace tw::cli {

namespace {

struct DecodeBenchArgs {
  std::string pcap;
  int repeat = 5;
  std::string switch_type = "ni2";
};

struct CountingSink final : calls::CallEventSink {
  std::uint64_t ended = 0;
  void on_call_event(const calls::CallEvent& e) override {
    if (e.type == calls::CallEventType::Ended) ++ended;
  }
};

struct StoredFrame {
  hal::DFrame frame;
  std::size_t offset;
};

int run_decode_bench(const DecodeBenchArgs& a) {
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

}  // namespace

void add_bench_decode_command(CLI::App& bench, int& exit_code) {
  auto args = std::make_shared<DecodeBenchArgs>();
  CLI::App* cmd = bench.add_subcommand(
      "decode",
      "Decode a D-channel capture (in memory) through Q.921, Q.931 and the call tracker,\n"
      "several times, and print the best rate as 'decode_frames_per_second=N'.\n"
      "bench/decode_vs_tshark.sh compares it with tshark on the same file.");
  cmd->add_option("FILE", args->pcap, "Capture file (pcap)")->required();
  cmd->add_option("--repeat", args->repeat, "Passes over the capture")->capture_default_str();
  cmd->add_option("--switchtype", args->switch_type, "Q.931 variant")->capture_default_str();
  cmd->callback([args, &exit_code] { exit_code = run_decode_bench(*args); });
}

}  // namespace tw::cli
