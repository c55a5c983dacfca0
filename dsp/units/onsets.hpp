// Onsets (docs/dsp.md, "Onsets"): where a tone began. The scheduler feeds each fax/modem
// unit's run history from the tone screen on every 10 ms block, gated or not, so an onset
// does not depend on when a detector was woken or how the audio was chunked. Internal.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>

#include "dsp/event.hpp"
#include "dsp/units/unit.hpp"

namespace tw::dsp::detail {

// Onsets (docs/dsp.md, "Onsets"): runs of screen blocks in which a tone held its bin(s).
inline constexpr int kOnsetTolerated = 3;  // blocks a run may miss: a phase reversal, a click
// A run counts for an event when it was still on this long before the report.
inline constexpr std::int64_t kOnsetMaxGap = 2000;  // 250 ms
// Steady call-progress tones kept: cp_onset() walks back over a whole cadence.
inline constexpr int kCpOnsetRuns = 32;
// Runs kept per fax/modem tone. onset() returns the newest run that began by the report,
// and a detector reports at most kMaxDetectorLag samples behind the screen: a wake replays at
// most kMaxPreroll plus the detector's alignment and a block before the block that woke it,
// in a chunk of at most kMaxChunk, and a report is stamped at most one more block back. A run
// starts at the earliest 5 blocks after the previous one did (it closes after
// kOnsetTolerated + 1 blocks without the tone), so at most kMaxDetectorLag / (5 blocks) + 1
// runs are newer than the report: keeping more than that gives the onsets that keeping every
// run would.
inline constexpr int kMaxDetectorLag = kMaxChunk + kMaxPreroll + kCpAlign + 3 * kScreenBlock;
inline constexpr int kToneOnsetRuns = 20;
static_assert(kToneOnsetRuns >= kMaxDetectorLag / ((kOnsetTolerated + 2) * kScreenBlock) + 2);

// One run of blocks that held a tone: where the tone began (sample), where its first and
// last held blocks end.
struct ToneRun {
  std::int64_t start = 0, first_end = 0, last_end = 0;
};
// A steady call-progress tone also keeps the frequency on top.
struct CpRun : ToneRun {
  double hz = 0.0;
};

// The runs of one tone, newest last, in a fixed ring (no allocation on the per-chunk path).
// Fed by the screen on every block, gated or not, so an onset does not depend on when a
// detector was woken or how the audio was chunked.
template <int kRuns, class Run>
class RunHistory {
 public:
  void clear() {
    count_ = 0;
    head_ = 0;
    open_ = false;
    bad_ = 0;
    prev_share_ = 0.F;
  }
  int size() const { return count_; }
  // i = 0 is the newest run.
  const Run& newest(int i) const {
    return runs_[static_cast<std::size_t>((head_ - 1 - i + 2 * kRuns) % kRuns)];
  }
  void begin(const Run& r) {
    runs_[static_cast<std::size_t>(head_)] = r;
    head_ = (head_ + 1) % kRuns;
    count_ = std::min(count_ + 1, kRuns);
    open_ = true;
    bad_ = 0;
  }
  void extend(std::int64_t block_end) {
    runs_[static_cast<std::size_t>((head_ - 1 + kRuns) % kRuns)].last_end = block_end;
    bad_ = 0;
  }

  // One 10 ms block of a single tone or band: `share` of the block's power is the tone's.
  void block(bool held, float share, std::int64_t block_end) {
    const float f = std::clamp(share, 0.F, 1.F);
    if (held && !open_) {
      // A tone on the bin filling the last fraction f of a block has share f (the screen's
      // normalisation), so it began f blocks before the end. A full first block means it
      // began in the one before, which held a fraction of it too small to count.
      std::int64_t start = block_end - std::lround(f * kScreenBlock);
      if (f > 0.9F) start -= std::lround(prev_share_ * kScreenBlock);
      Run r;
      r.start = start;
      r.first_end = r.last_end = block_end;
      begin(r);
    } else if (held) {
      extend(block_end);
    } else if (open_ && ++bad_ > kOnsetTolerated) {
      open_ = false;
    }
    prev_share_ = f;
  }

  // Start of the newest run whose first block ended by `at` (the screen has seen it whenever
  // a detector reports at `at`) and that held within `max_gap` before it.
  std::optional<std::int64_t> onset(std::int64_t at, std::int64_t max_gap) const {
    for (int i = 0; i < count_; ++i) {
      const Run& r = newest(i);
      if (r.first_end > at) continue;
      if (r.last_end + max_gap < at) return std::nullopt;
      return r.start;
    }
    return std::nullopt;
  }

 private:
  std::array<Run, kRuns> runs_{};
  int count_ = 0, head_ = 0;
  bool open_ = false;
  int bad_ = 0;
  float prev_share_ = 0.F;
};

// How long a detector takes to recognise its tone, typically (docs/dsp.md): the onset
// when the screen kept no run for the tone (it began before a reset, or below the floor).
inline int recognition_ms(ToneName name) {
  switch (name) {
    case ToneName::fax_cng:
      return 420;
    case ToneName::ans_pr:
    case ToneName::ansam_pr:
      return 1350;
    case ToneName::v21_preamble:
      return 130;
    case ToneName::v21_carrier:
    case ToneName::bell103_carrier:
      return 150;
    default:
      return 550;  // ANS, ANSam, 2225 Hz, 1300 Hz
  }
}

// Where the tone a fax/modem unit reports at `at` began: the start of the screen's run of
// blocks holding the tone's bin (the carrier's band) that was on at the report.
inline std::int64_t tone_onset(const RunHistory<kToneOnsetRuns, ToneRun>& runs, ToneName name,
                               std::int64_t at) {
  // Blocks ending by `at` - one block are on the screen however the audio was chunked.
  const auto o = runs.onset(at - kScreenBlock, kOnsetMaxGap);
  return o ? *o : at - recognition_ms(name) * 8;
}

// A fax/modem unit: reports one tone, with where it began from its run history.
class FaxModemUnit : public Unit {
 public:
  FaxModemUnit(int id, const UnitHost& host) : Unit(id), host_(host) {}
  using Runs = RunHistory<kToneOnsetRuns, ToneRun>;
  // Fed by the scheduler from the screen on every block.
  Runs& onsets() { return onsets_; }
  const Runs& onsets() const { return onsets_; }

 protected:
  // Reports `name` recognised at `at`, its onset from the run history.
  void report(ToneName name, float level, std::int64_t at) const {
    host_.emit_tone(name, level, at, tone_onset(onsets_, name, at));
  }

  const UnitHost& host_;
  Runs onsets_;
};

}  // namespace tw::dsp::detail
