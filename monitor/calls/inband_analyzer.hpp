// B-channel audio -> detector banks -> in-band events for the call tracker. One bank per
// channel and direction, created when the channel first carries audio; after that the
// per-chunk path allocates nothing (SpanDSP states and the bank's ring are preallocated).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <tuple>

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

 private:
  struct Stream {
    std::unique_ptr<dsp::ChannelDetectorBank> bank;
    hal::Timestamp origin{};  // time of the bank's sample 0
    hal::Timestamp next{};    // where the next chunk should start if the audio is contiguous
    double voice_before_reset = 0;
  };
  using Key = std::tuple<int, int, hal::Side>;
  Stream& stream(const hal::SpanInfo& span, const hal::AudioChunk& chunk);

  InbandOptions options_;
  Report report_;
  std::map<Key, Stream> streams_;
};

// dsp event -> the value type the call tracker keeps.
InbandEvent to_inband(const dsp::Event& e, hal::Timestamp origin, hal::Side from);

}  // namespace tw::calls
