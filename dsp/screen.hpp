// The tone screen: one cheap Goertzel bank over 10 ms blocks that runs on every sample and
// decides which costly detectors may have something to hear (see docs/dsp.md, "Gating").
#pragma once

#include <array>
#include <complex>
#include <cstdint>
#include <span>

namespace tw::dsp::detail {

inline constexpr int kScreenBlock = 80;  // 10 ms: main lobe +-100 Hz, enough to cover bands
inline constexpr int kScreenMaxBins = 32;

struct ScreenResult {
  std::int64_t end = 0;     // absolute sample index one past the block
  float mean_square = 0.F;  // block power (linear units squared)
  float dbm0 = -99.F;       // block power in dBm0
  // Share of the block's power at each bin: 1.0 for a pure tone on the bin centre.
  std::array<float, kScreenMaxBins> share{};
  // The block's DFT at each bin up to a phase of e^{jw(N-1)}: block k+1's value times
  // e^{-jwN} lines up with block k's, so consecutive blocks add up coherently into a longer,
  // sharper DFT (call progress uses 40 ms). See ToneScreen::block_turn().
  std::array<std::complex<float>, kScreenMaxBins> dft{};
  // Power of a tone on the bin centre, in dBm0.
  float bin_dbm0(int bin) const;
};

class ToneScreen {
 public:
  // Returns the bin index, or -1 when the bank is full. Call before the first process().
  int add_bin(double hz);
  int bins() const { return bins_; }
  double bin_hz(int bin) const { return hz_[static_cast<std::size_t>(bin)]; }
  // e^{-jwN}: the phase one block later at `bin`.
  std::complex<float> block_turn(int bin) const;
  void reset();

  // Feeds samples that follow the previous call; `on_block` gets each completed block.
  template <class OnBlock>
  void process(std::span<const std::int16_t> x, std::int64_t start, OnBlock&& on_block) {
    std::size_t i = 0;
    while (i < x.size()) {
      std::size_t n = std::min<std::size_t>(x.size() - i, kScreenBlock - fill_);
      run(x.data() + i, static_cast<int>(n));
      i += n;
      fill_ += static_cast<int>(n);
      if (fill_ == kScreenBlock) {
        finish(start + static_cast<std::int64_t>(i));
        on_block(result_);
        fill_ = 0;
      }
    }
  }

 private:
  void run(const std::int16_t* x, int n);
  void finish(std::int64_t end);

  static constexpr int kLanes = 8;
  static constexpr int kGroups = kScreenMaxBins / kLanes;
  alignas(32) std::array<float, kScreenMaxBins> coef_{};
  alignas(32) std::array<float, kScreenMaxBins> s1_{};
  alignas(32) std::array<float, kScreenMaxBins> s2_{};
  std::array<double, kScreenMaxBins> hz_{};
  std::array<float, kScreenMaxBins> cos_{}, sin_{};
  float energy_ = 0.F;
  int bins_ = 0;
  int fill_ = 0;
  ScreenResult result_;
};

}  // namespace tw::dsp::detail
