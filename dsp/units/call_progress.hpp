// The call-progress unit: SpanDSP's super_tone_rx with the country's cadences (dial,
// ringback, busy, reorder, SIT; dsp/country.hpp), woken by steady tones on the screen's 40 ms
// DFT, each report verified on the recent audio (a chord in music is not dial tone), its
// onset walked back over the cadence's tones. Internal: includes <spandsp.h>.
#pragma once

#include <array>
#include <complex>
#include <string>
#include <vector>

#include "dsp/country.hpp"
#include "dsp/spandsp_ptr.hpp"
#include "dsp/units/onsets.hpp"

namespace tw::dsp::detail {

inline constexpr int kCpBaseHoldMs = 300;  // awake after a steady tone, at least

// A country's call-progress plan with its super_tone_rx descriptor, built once per process
// and shared by every bank: super_tone_rx only reads its descriptor once it is built.
// Throws std::invalid_argument for an unknown country.
struct CountryPlan {
  CountryProfile profile;
  SuperToneDescPtr desc;
  std::vector<ToneName> names;  // super_tone_rx's tone ids
};
const CountryPlan& country_plan(const std::string& name);

class CallProgressUnit final : public Unit {
 public:
  // Adds the country's frequencies to `screen` (throws std::runtime_error when it is full).
  CallProgressUnit(int id, const std::string& country, ToneScreen& screen, const UnitHost& host);

  void reset() override;
  void restart(std::int64_t start) override;
  void feed(std::span<const std::int16_t> x, std::int64_t start) override;
  bool busy() const override { return active_ >= 0; }

  // Every screen block, gated or not: tracks steady tones; true when one has lasted long
  // enough to wake the unit. At the end of a steady tone it extends the unit's hold to what
  // a cadence starting with that tone still needs.
  bool screen(const ScreenResult& r, bool loud);
  // Inside a steady tone (the block is not voice).
  bool in_tone() const { return run_ > 0; }

 private:
  static void cp_cb(void* user, int code, int level, int delay);
  void end_run();
  bool verify(int code) const;
  std::int64_t onset(const ToneCadence& t) const;

  const UnitHost& host_;
  const CountryPlan& plan_;
  const ToneScreen& screen_;
  SuperToneRxPtr state_;
  int active_ = -1;
  int run_ = 0;      // blocks in the current steady call-progress tone
  int bad_ = 0;      // of which failed in a row at the end
  double hz_ = 0.0;  // the run's strongest call-progress frequency
  std::int64_t start_ = 0, last_good_ = 0;
  std::array<float, 4> lvl_{};                                            // last 4 block levels
  std::array<std::array<std::complex<float>, kScreenMaxBins>, 4> dft_{};  // ... and DFTs
  std::array<std::complex<float>, kScreenMaxBins> turn_{};                // e^{-jwN} per bin
  float ref_ = 0.F;  // the run's 40 ms level at its start
  std::vector<int> bins_;
  RunHistory<kCpOnsetRuns, CpRun> runs_;  // steady call-progress tones, any frequency
  std::int64_t event_pos_ = 0;   // time stamp for tones super_tone_rx reports inside feed()
  std::int64_t verify_pos_ = 0;  // audio fed so far
};

}  // namespace tw::dsp::detail
