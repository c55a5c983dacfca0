// DTMF: SpanDSP's dtmf_rx (tuned) plus a second, more tolerant Goertzel detector that closes
// the gaps dtmf_rx leaves at the Q.24 edges; their candidate digits are merged (a digit seen
// by both is one digit) and every candidate is verified on its own samples: both tone
// frequencies measured to a fraction of a percent, twist, share of the power and on-time.
// Why both stages are needed, with measurements, is in docs/dsp.md.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "dsp/event.hpp"
#include "dsp/sample_ring.hpp"
#include "dsp/tone_pair.hpp"

namespace tw::dsp {

struct DtmfConfig {
  float twist_db = 10.F;         // low group louder (Q.24 asks 8 dB; margin for G.711 and noise)
  float reverse_twist_db = 8.F;  // high group louder (Q.24 asks 4 dB)
  float threshold_dbm0 = -42.F;  // per tone (Q.24: accept >= -25, we reject -55)
  float max_freq_dev = 0.025F;   // accept +-1.5 %, reject +-3.5 %: decide in the middle
  float min_on_ms = 25.F;        // accept 40 ms, reject 20 ms
  float min_power_share = 0.6F;  // both tones' share of the digit's power (15 dB SNR: ~0.97)
  bool use_spandsp = true;       // dtmf_rx as a candidate source
  bool use_closer = true;        // our tolerant block detector as a candidate source
  bool verify = true;            // measure frequencies and on-time before reporting
};

namespace detail {

inline constexpr int kDtmfBlock = 102;  // SpanDSP's block: 12.75 ms
using AudioRing = SampleRing<8192>;     // 1.02 s

// Verifies a candidate `digit` seen by the block detectors in [seg_begin, seg_end) on the
// samples `x` = [x_start, x_start + x.size()).
PairMeasurement measure_dtmf(std::span<const std::int16_t> x, std::int64_t x_start,
                             std::int64_t seg_begin, std::int64_t seg_end, char digit,
                             const DtmfConfig& cfg);

class DtmfDetector {
 public:
  using Emit = void (*)(void* user, const Event& e);

  DtmfDetector(const DtmfConfig& cfg, const AudioRing& ring, Emit emit, void* user);
  ~DtmfDetector();
  DtmfDetector(const DtmfDetector&) = delete;
  DtmfDetector& operator=(const DtmfDetector&) = delete;

  // Fresh state; the next block starts at `block_start` (a multiple of kDtmfBlock).
  void reset(std::int64_t block_start);
  // One block of kDtmfBlock samples starting at `block_start`, already in the ring.
  void process_block(const std::int16_t* x, std::int64_t block_start);
  // A digit is on or waiting for the other candidate source: do not put the detector to sleep.
  bool busy() const;
  // End of stream: report what is pending.
  void flush();

  struct Stats {
    std::uint64_t blocks = 0;
    std::uint64_t candidates = 0;
    std::uint64_t rejected = 0;
    std::uint64_t spandsp_only = 0;  // verified digits only dtmf_rx saw
    std::uint64_t closer_only = 0;   // verified digits only the tolerant detector saw
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Stats stats_;
};

}  // namespace detail
}  // namespace tw::dsp
