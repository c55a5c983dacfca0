#include "dsp/screen.hpp"

#include <cmath>
#include <numbers>

#include "dsp/levels.hpp"

namespace tw::dsp::detail {

float ScreenResult::bin_dbm0(int bin) const {
  // A tone of amplitude A on the bin centre gives a Goertzel power (A N / 2)^2, i.e. a share
  // of 1 of mean square A^2 / 2.
  double tone_ms = share[static_cast<std::size_t>(bin)] * static_cast<double>(mean_square);
  return static_cast<float>(power_to_dbm0(tone_ms));
}

int ToneScreen::add_bin(double hz) {
  if (bins_ >= kScreenMaxBins) return -1;
  int b = bins_++;
  hz_[static_cast<std::size_t>(b)] = hz;
  const double w = 2.0 * std::numbers::pi * hz / kSampleRate;
  coef_[static_cast<std::size_t>(b)] = static_cast<float>(2.0 * std::cos(w));
  cos_[static_cast<std::size_t>(b)] = static_cast<float>(std::cos(w));
  sin_[static_cast<std::size_t>(b)] = static_cast<float>(std::sin(w));
  return b;
}

std::complex<float> ToneScreen::block_turn(int bin) const {
  const double w = 2.0 * std::numbers::pi * hz_[static_cast<std::size_t>(bin)] / kSampleRate;
  return std::complex<float>(std::polar(1.0, -w * kScreenBlock));
}

void ToneScreen::reset() {
  s1_ = {};
  s2_ = {};
  energy_ = 0.F;
  fill_ = 0;
}

namespace {

typedef float v8 __attribute__((vector_size(32)));

// The Goertzel recursion s = x + c*s1 - s2 for G groups of eight bins, two samples per step
// with the state held in registers for the whole run (hence the compile-time G). The
// latency of mul + add per sample is what bounds this loop, so the x - s2 term is formed
// off the dependency chain. An AVX2 clone is picked at load time where the CPU has it;
// elsewhere GCC splits the 8-lane vectors into SSE pairs.
template <int G>
__attribute__((target_clones("avx2", "default"))) void goertzel_run(const std::int16_t* x, int n,
                                                                    const float* coef, float* s1p,
                                                                    float* s2p, float& energy) {
  v8 c[G], s1[G], s2[G];
  for (int g = 0; g < G; ++g) {
    __builtin_memcpy(&c[g], coef + 8 * g, sizeof(v8));
    __builtin_memcpy(&s1[g], s1p + 8 * g, sizeof(v8));
    __builtin_memcpy(&s2[g], s2p + 8 * g, sizeof(v8));
  }
  float e = 0.F;
  int i = 0;
  for (; i + 1 < n; i += 2) {
    const float x0 = x[i], x1 = x[i + 1];
    e += x0 * x0 + x1 * x1;
    const v8 a = {x0, x0, x0, x0, x0, x0, x0, x0};
    const v8 b = {x1, x1, x1, x1, x1, x1, x1, x1};
    for (int g = 0; g < G; ++g) {
      v8 sa = (a - s2[g]) + c[g] * s1[g];
      v8 sb = (b - s1[g]) + c[g] * sa;
      s2[g] = sa;
      s1[g] = sb;
    }
  }
  for (; i < n; ++i) {
    const float x0 = x[i];
    e += x0 * x0;
    const v8 a = {x0, x0, x0, x0, x0, x0, x0, x0};
    for (int g = 0; g < G; ++g) {
      v8 s0 = (a - s2[g]) + c[g] * s1[g];
      s2[g] = s1[g];
      s1[g] = s0;
    }
  }
  energy += e;
  for (int g = 0; g < G; ++g) {
    __builtin_memcpy(s1p + 8 * g, &s1[g], sizeof(v8));
    __builtin_memcpy(s2p + 8 * g, &s2[g], sizeof(v8));
  }
}

}  // namespace

void ToneScreen::run(const std::int16_t* x, int n) {
  float* s1 = s1_.data();
  float* s2 = s2_.data();
  switch ((bins_ + kLanes - 1) / kLanes) {
    case 0:
    case 1:
      return goertzel_run<1>(x, n, coef_.data(), s1, s2, energy_);
    case 2:
      return goertzel_run<2>(x, n, coef_.data(), s1, s2, energy_);
    case 3:
      return goertzel_run<3>(x, n, coef_.data(), s1, s2, energy_);
    default:
      return goertzel_run<4>(x, n, coef_.data(), s1, s2, energy_);
  }
}

void ToneScreen::finish(std::int64_t end) {
  result_.end = end;
  result_.mean_square = energy_ / kScreenBlock;
  result_.dbm0 = static_cast<float>(power_to_dbm0(result_.mean_square));
  // Normalise so that a pure tone on a bin centre has share 1: P = (A N/2)^2, E = N A^2/2.
  const float norm = energy_ > 0.F ? 1.F / (energy_ * (kScreenBlock / 2.F)) : 0.F;
  for (std::size_t b = 0; b < static_cast<std::size_t>(bins_); ++b) {
    const float s1 = s1_[b], s2 = s2_[b], c = coef_[b];
    result_.share[b] = (s1 * s1 + s2 * s2 - c * s1 * s2) * norm;
    // s1 - e^{-jw} s2 = e^{jw(N-1)} sum x[n] e^{-jwn}.
    result_.dft[b] = std::complex<float>(s1 - cos_[b] * s2, sin_[b] * s2);
  }
  s1_ = {};
  s2_ = {};
  energy_ = 0.F;
}

}  // namespace tw::dsp::detail
