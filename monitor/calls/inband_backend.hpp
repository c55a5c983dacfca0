// Where B-channel audio goes to be analysed: the detector banks inline on the caller's thread
// (InbandAnalyzer) or on a pool of worker threads (DspPool). Both report the same detections
// in the same order; the pipeline sees only this interface.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "dsp/detector_bank.hpp"
#include "monitor/calls/call_record.hpp"
#include "trunkwatch/hal/source.hpp"

namespace tw::calls {

struct InbandOptions {
  dsp::BankConfig bank;  // the law always follows the span (mu-law on T1, A-law on E1)
  std::string country;   // call-progress plan; empty: "us" on T1, "etsi" on E1
};

struct InbandBackendStats {
  int threads = 0;               // 0: inline on the caller's thread
  std::size_t banks_in_use = 0;  // one per channel and direction carrying audio
};

class InbandBackend {
 public:
  // Receives each detection with the channel it was heard on.
  using Report = std::function<void(int span, int channel, const InbandEvent& event)>;
  virtual ~InbandBackend() = default;

  // One chunk of a channel's audio; `span` must outlive the backend.
  virtual void submit(const hal::SpanInfo& span, const hal::AudioChunk& chunk) = 0;
  // The source's clock without audio: a stream that stopped is flushed when its time comes.
  virtual void tick(hal::Timestamp now) = 0;
  // Reports (through the Report given at construction) every detection not reported yet, in
  // the order of the audio that caused them. Called before anything that reads or changes
  // call state; the inline banks report as they detect, so for them it has nothing to do.
  virtual void collect() = 0;
  // Audio seconds judged voice so far on a channel and direction (valid after collect());
  // nullopt while that direction has carried no audio.
  virtual std::optional<double> voice_seconds(int span, int channel, hal::Side side) const = 0;
  // Valid after collect().
  virtual InbandBackendStats stats() const = 0;
};

// 0 threads: the inline banks; N: a pool of N worker threads (defined in dsp_pool.cpp).
std::unique_ptr<InbandBackend> make_inband_backend(int threads, const InbandOptions& options,
                                                   InbandBackend::Report report);

}  // namespace tw::calls
