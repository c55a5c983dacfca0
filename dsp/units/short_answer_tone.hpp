// Short answer tones (docs/dsp.md): SpanDSP's ANS and 2225 Hz detectors need 550 ms of tone.
// A stretch of screen blocks in which the tone's bin holds >= 80 % of the power (one block
// may miss: a phase reversal), 250-800 ms long, is measured on the ring once it ends
// (dsp/answer_tone.hpp), and reported once the unit's own detector has heard it all and did
// not report it itself. Part of the ANS and Bell ANS units. Internal.
#pragma once

#include <cstdint>

#include "dsp/event.hpp"
#include "dsp/screen.hpp"
#include "dsp/units/unit.hpp"

namespace tw::dsp::detail {

class ShortAnswerTone {
 public:
  // `bin`: the screen's bin at `hz`; `bell`: 2225 Hz, reported as bell_ans.
  ShortAnswerTone(int bin, double hz, bool bell) : bin_(bin), hz_(hz), bell_(bell) {}

  void clear() {
    start_ = -1;
    missed_ = 0;
    spandsp_at_ = kNever;
    pending_ = false;
  }
  // Every block, gated or not: the stretch of blocks the tone held nearly alone.
  void block(const ScreenResult& r, bool loud, const AudioRing& ring);
  // The unit's detector reported its tone at `at`.
  void spandsp_reported(std::int64_t at) { spandsp_at_ = at; }
  // A measured tone due by `end`: its report, at the due time.
  struct Report {
    ToneName name = ToneName::none;
    float level = 0.F;
    std::int64_t at = 0;
  };
  bool due(std::int64_t end, Report& out);
  // End of stream at `end`: a tone still on, or ended within the settling time.
  bool flush(std::int64_t end, const AudioRing& ring, Report& out);

 private:
  void end_stretch(std::int64_t at, const AudioRing& ring);
  bool take(std::int64_t at, Report& out);

  int bin_;
  double hz_;
  bool bell_;
  std::int64_t start_ = -1, last_ = 0;  // the stretch: first pure block's start, last one's end
  int missed_ = 0;
  std::int64_t spandsp_at_ = kNever;  // the unit's detector last reported its tone here
  bool pending_ = false;
  std::int64_t from_ = 0, due_ = 0;
  ToneName name_ = ToneName::none;
  float level_ = 0.F;
};

inline constexpr float kShortPure = 0.8F;
inline constexpr int kShortMissed = 1;

inline void ShortAnswerTone::block(const ScreenResult& r, bool loud, const AudioRing& ring) {
  if (loud && r.share[static_cast<std::size_t>(bin_)] >= kShortPure) {
    if (start_ < 0) start_ = r.end - kScreenBlock;
    last_ = r.end;
    missed_ = 0;
  } else if (start_ >= 0 && ++missed_ > kShortMissed) {
    end_stretch(r.end, ring);
  }
}

}  // namespace tw::dsp::detail
