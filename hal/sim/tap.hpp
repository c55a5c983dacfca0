// The simulator's tap: every frame a libpri stack writes, stamped with the virtual clock,
// kept from the capture start on (with a garbage frame now and then, if the scenario asks),
// then handed to the sink as a DFrame and written to the pcap(ng) file. Internal to hal/sim.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "hal/replay/pcap_io.hpp"
#include "hal/sim/run_state.hpp"
#include "hal/sim/scheduler.hpp"
#include "trunkwatch/hal/source.hpp"

namespace tw::sim::detail {

struct TappedFrame {
  int span;
  hal::Side from;
  hal::Timestamp time;
  std::vector<std::uint8_t> bytes;
};

class Tap {
 public:
  // spans: the scenario's, for each span's role in the pcap. malformed_every and seed: the
  // scenario's (Scenario::malformed_every).
  Tap(const std::vector<hal::SpanInfo>& spans, int malformed_every, unsigned seed, Scheduler& clock,
      RunState& state);

  // Opens the capture file; a failure fails the run.
  void open_pcap(const std::string& path, hal::CaptureFormat format);
  // Frames before `capture_start` are stamped but not kept.
  void start(hal::Timestamp capture_start) { capture_start_ = capture_start; }
  hal::Timestamp capture_start() const { return capture_start_; }

  // A frame a stack of span `span_id` wrote: stamps it and keeps it for the sink. Returns the
  // time stamped on it.
  hal::Timestamp record(int span_id, hal::Side from, std::span<const std::uint8_t> bytes);
  // Frames kept since the last clear(), in time order.
  std::span<const TappedFrame> pending() const { return pending_; }
  // Hands one kept frame to the sink and the capture file.
  void deliver(const TappedFrame& frame, hal::SpanSink& sink);
  void clear() { pending_.clear(); }
  void close_pcap();

  std::size_t frames_tapped() const { return tapped_; }
  std::size_t frames_injected() const { return injected_; }

 private:
  std::vector<std::uint8_t> garbage(std::span<const std::uint8_t> real);
  hal::Role role_of_span(int id) const;

  const std::vector<hal::SpanInfo>& spans_;
  int malformed_every_;
  Scheduler& clock_;
  RunState& state_;
  std::mt19937_64 garbage_rng_;
  hal::Timestamp capture_start_{};
  std::vector<TappedFrame> pending_;
  std::size_t tapped_ = 0, injected_ = 0;
  hal::PcapWriter pcap_;
  std::string pcap_path_;
};

}  // namespace tw::sim::detail
