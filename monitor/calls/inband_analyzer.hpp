// B-channel audio -> detector banks -> in-band events for the call tracker. One bank per
// channel and direction while it carries audio: a bank is taken when a stream starts (a
// spare one reset, else a new one) and given back once the stream has been silent for
// kReleaseAfter of source time, so a big box holds banks for the calls that are up, not for
// every channel it ever heard. The per-chunk path of a running stream allocates nothing.
//
// A stream that stops (the call ended) may leave a detection pending in its bank, a digit
// whose tone was cut off: once the stream has been silent kFlushAfter, a sweep flushes the
// bank and reports it at once, with its own time, while the call it was heard on is still
// there to take it (the call tracker keeps an ended call's record open for
// TrackerOptions::inband_grace).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "dsp/detector_bank.hpp"
#include "monitor/calls/call_record.hpp"
#include "monitor/calls/inband_backend.hpp"
#include "trunkwatch/hal/source.hpp"

namespace tw::calls {

// The inline backend: detections are reported as they are made.
class InbandAnalyzer final : public InbandBackend {
 public:
  InbandAnalyzer(InbandOptions options, Report report);

  // Sweeps the streams when a sweep is due by the chunk's time (SweepClock), then process().
  void on_audio(const hal::SpanInfo& span, const hal::AudioChunk& chunk);
  void submit(const hal::SpanInfo& span, const hal::AudioChunk& chunk) override {
    on_audio(span, chunk);
  }
  // The source's clock without audio (a tick): sweeps when one is due, so that a trunk with no
  // other audio flowing still flushes a stream that stopped.
  void tick(hal::Timestamp now) override {
    if (sweeps_.due(now)) sweep(now);
  }
  void collect() override {}  // reported already
  // The two halves of on_audio(), for DspPool, whose workers sweep when the pool says so:
  // one chunk into its stream's bank, and the sweep at source time `now`.
  void process(const hal::SpanInfo& span, const hal::AudioChunk& chunk);
  void sweep(hal::Timestamp now);
  // Audio seconds judged voice (speech, music) so far on a channel and direction: the call
  // type rule compares it between the start and the end of a call.
  // nullopt while that direction has carried no audio.
  std::optional<double> voice_seconds(int span, int channel, hal::Side side) const override;
  InbandBackendStats stats() const override { return {0, in_use_}; }

  // A stream silent this long is flushed (what its bank has pending is reported) and reset,
  // as the restart after a gap over 40 ms would do when it resumed. A sweep judges silence by
  // the clock of whichever stream's chunk it runs on, so this must exceed how far two
  // streams' clocks can be apart (the card resyncs a channel's clock at 500 ms of drift);
  // then a stream that is still running is never cut.
  static constexpr auto kFlushAfter = std::chrono::seconds(1);
  // A stream silent this long (by the source's clock) gives its bank back.
  static constexpr auto kReleaseAfter = std::chrono::seconds(10);
  static constexpr auto kSweepEvery = std::chrono::milliseconds(250);
  static_assert(kFlushAfter < kReleaseAfter);

  // When a sweep is due, by source time: every kSweepEvery, and at once if the clock
  // stepped back.
  class SweepClock {
   public:
    bool due(hal::Timestamp t) {
      if (t < next_ && next_ - t <= std::chrono::seconds(2)) return false;
      next_ = t + kSweepEvery;
      return true;
    }

   private:
    hal::Timestamp next_{};
  };
  static constexpr std::size_t kMaxSpares = 32;  // reset banks kept for the next streams
  std::size_t banks_in_use() const { return in_use_; }
  std::size_t spare_banks() const { return spares_.size(); }

 private:
  struct Stream;
  // A detector bank and the stream it currently serves (its sink reports through this).
  struct Bank {
    std::unique_ptr<dsp::ChannelDetectorBank> detectors;
    Stream* stream = nullptr;
  };
  struct Stream {
    int span = 0;
    int channel = 0;
    hal::Side side = hal::Side::Pbx;
    std::unique_ptr<Bank> bank;  // null while the stream is silent
    hal::Timestamp origin{};     // time of the bank's sample 0
    hal::Timestamp next{};       // where the next chunk should start if the audio is contiguous
    double voice_before_reset = 0;
    // The sweep flushed and reset the bank: the next chunk starts the bank's clock again.
    bool flushed = false;
  };
  using Key = std::tuple<int, int, hal::Side>;
  Stream& stream(const hal::AudioChunk& chunk);
  std::unique_ptr<Bank> take_bank(const hal::SpanInfo& span);
  void end_stretch(Stream& s);
  void release(Stream& s);
  void deliver(Stream& s, const dsp::Event& e);

  InbandOptions options_;
  Report report_;
  std::map<Key, Stream> streams_;
  std::vector<std::unique_ptr<Bank>> spares_;
  std::size_t in_use_ = 0;
  SweepClock sweeps_;
};

// dsp event -> the value type the call tracker keeps.
InbandEvent to_inband(const dsp::Event& e, hal::Timestamp origin, hal::Side from);

}  // namespace tw::calls
