// B-channel audio -> detector banks -> in-band events for the call tracker. One bank per
// channel and direction while it carries audio: a bank is taken when a stream starts (a
// spare one reset, else a new one) and given back once the stream has been silent for
// kReleaseAfter of source time, so a big box holds banks for the calls that are up, not for
// every channel it ever heard. The per-chunk path of a running stream allocates nothing.
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
#include "trunkwatch/hal/source.hpp"

namespace tw::calls {

struct InbandOptions {
  dsp::BankConfig bank;  // the law always follows the span (mu-law on T1, A-law on E1)
  std::string country;   // call-progress plan; empty: "us" on T1, "etsi" on E1
};

class InbandAnalyzer {
 public:
  // Reports each detection with the channel it was heard on.
  using Report = std::function<void(int span, int channel, const InbandEvent& event)>;
  InbandAnalyzer(InbandOptions options, Report report);

  void on_audio(const hal::SpanInfo& span, const hal::AudioChunk& chunk);
  // Audio seconds judged voice (speech, music) so far on a channel and direction: the call
  // type rule compares it between the start and the end of a call.
  // nullopt while that direction has carried no audio.
  std::optional<double> voice_seconds(int span, int channel, hal::Side side) const;

  // A stream silent this long (by the source's clock) gives its bank back. Any gap over
  // 40 ms already restarts a stream's bank, so this changes no detection; it is long enough
  // that no source's per-channel clock lags the others' by as much (the card's resync at
  // 500 ms of drift).
  static constexpr auto kReleaseAfter = std::chrono::seconds(10);
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
    // Events the bank's flush reported when it was given back: they are reported when the
    // stream resumes, where the restart after the gap reported them before banks were
    // given back, so that the records stay exactly the same.
    bool holding = false;
    std::vector<InbandEvent> held;
  };
  using Key = std::tuple<int, int, hal::Side>;
  Stream& stream(const hal::AudioChunk& chunk);
  std::unique_ptr<Bank> take_bank(const hal::SpanInfo& span);
  void release(Stream& s);
  void sweep(hal::Timestamp now);
  void deliver(Stream& s, const dsp::Event& e);

  InbandOptions options_;
  Report report_;
  std::map<Key, Stream> streams_;
  std::vector<std::unique_ptr<Bank>> spares_;
  std::size_t in_use_ = 0;
  hal::Timestamp next_sweep_{};
};

// dsp event -> the value type the call tracker keeps.
InbandEvent to_inband(const dsp::Event& e, hal::Timestamp origin, hal::Side from);

}  // namespace tw::calls
