#include "dsp/answer_tone.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#include "dsp/levels.hpp"

namespace tw::dsp::detail {

namespace {

constexpr std::size_t kMinSamples = 2000;
constexpr std::size_t kMaxSamples = 8192;
constexpr std::size_t kFreqWin = 2048;  // 256 ms Hann: main lobe +-7.8 Hz
constexpr double kSearchHz = 40.0;
constexpr double kStepHz = 2.5;
constexpr std::size_t kWin = 256;  // 32 ms windows for the steadiness check ...
constexpr std::size_t kHop = 128;
constexpr std::size_t kWindowsPerMiss = 25;  // ... one may fail in 400 ms (a phase reversal)
constexpr std::size_t kEnvBlock = 64;        // 8 ms power blocks for the 15 Hz envelope
constexpr double kAmHz = 15.0;

double hann(std::size_t i, std::size_t n) {
  return 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * (static_cast<double>(i) + 0.5) /
                              static_cast<double>(n));
}

// A Hann window of `n` samples (n <= N), computed once per measurement, not per Goertzel.
template <std::size_t N>
struct Window {
  explicit Window(std::size_t n) : size(n) {
    for (std::size_t i = 0; i < n; ++i) w[i] = hann(i, n);
  }
  std::array<double, N> w{};
  std::size_t size;
};

// Mean square of a tone at `hz` in `x` under the window `win` (of x's length):
// 2 |X|^2 / (sum w)^2.
template <std::size_t N>
double tone_power(std::span<const std::int16_t> x, double hz, const Window<N>& win) {
  const double c = 2.0 * std::cos(2.0 * std::numbers::pi * hz / kSampleRate);
  double s1 = 0.0, s2 = 0.0, sum_w = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double w = win.w[i];
    sum_w += w;
    const double s0 = w * x[i] + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return 2.0 * (s1 * s1 + s2 * s2 - c * s1 * s2) / (sum_w * sum_w);
}

double mean_square(std::span<const std::int16_t> x) {
  double ms = 0.0;
  for (std::int16_t v : x) ms += static_cast<double>(v) * v;
  return x.empty() ? 0.0 : ms / static_cast<double>(x.size());
}

}  // namespace

AnswerToneMeasurement measure_answer_tone(std::span<const std::int16_t> x, double nominal_hz,
                                          const AnswerToneLimits& lim) {
  AnswerToneMeasurement m;
  if (x.size() < kMinSamples) {
    m.why = "too short";
    return m;
  }
  x = x.first(std::min(x.size(), kMaxSamples));
  const double ms = mean_square(x);
  m.dbm0 = power_to_dbm0(ms);
  if (m.dbm0 < lim.min_dbm0) {
    m.why = "too weak";
    return m;
  }

  // Frequency: the peak of a Hann window of up to 256 ms from the middle, on a 2.5 Hz grid refined
  // by a parabola through the log powers around it.
  const std::size_t fw = std::min(x.size(), kFreqWin);
  const auto mid = x.subspan((x.size() - fw) / 2, fw);
  const Window<kFreqWin> freq_win(fw);
  constexpr int kSteps = static_cast<int>(kSearchHz / kStepHz);
  std::array<double, 2 * kSteps + 1> p{};
  int best = 0;
  for (int i = 0; i <= 2 * kSteps; ++i) {
    p[static_cast<std::size_t>(i)] = tone_power(mid, nominal_hz + (i - kSteps) * kStepHz, freq_win);
    if (p[static_cast<std::size_t>(i)] > p[static_cast<std::size_t>(best)]) best = i;
  }
  if (best == 0 || best == 2 * kSteps) {
    m.why = "off frequency";
    return m;
  }
  double off = (best - kSteps) * kStepHz;
  const double a = std::log(p[static_cast<std::size_t>(best - 1)] + 1e-9);
  const double b = std::log(p[static_cast<std::size_t>(best)] + 1e-9);
  const double c = std::log(p[static_cast<std::size_t>(best + 1)] + 1e-9);
  if (const double den = a - 2.0 * b + c; den < 0.0) off += 0.5 * (a - c) / den * kStepHz;
  m.hz = nominal_hz + off;
  if (std::fabs(off) > lim.max_off_hz) {
    m.why = "off frequency";
    return m;
  }
  if (tone_power(mid, m.hz, freq_win) < lim.min_share * mean_square(mid)) {
    m.why = "not pure";
    return m;
  }

  // Steady: nearly all the power on the tone in every 32 ms window (one may miss per 400 ms:
  // a phase reversal), at a level within a few dB of the median window's.
  std::array<double, kMaxSamples / kHop> level{};
  std::size_t n = 0, misses = 0;
  const Window<kWin> short_win(kWin);
  for (std::size_t at = 0; at + kWin <= x.size(); at += kHop) {
    const auto w = x.subspan(at, kWin);
    const double wms = mean_square(w);
    if (tone_power(w, m.hz, short_win) < lim.min_window_share * wms) ++misses;
    level[n++] = wms;
  }
  if (misses > n / kWindowsPerMiss) {
    m.why = "not steady";
    return m;
  }
  std::array<double, kMaxSamples / kHop> sorted = level;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(n / 2),
                   sorted.begin() + static_cast<std::ptrdiff_t>(n));
  const double median = sorted[n / 2];
  const double spread = std::pow(10.0, lim.max_spread_db / 10.0);
  for (std::size_t i = 0; i < n; ++i)
    if (level[i] > median * spread || level[i] * spread < median) {
      m.why = "level not steady";
      return m;
    }

  // V.8 ANSam: the amplitude swings +-20 % at 15 Hz, the power +-40 %. Its 15 Hz component
  // in the 8 ms block powers (Hann weighted, mean removed), relative to the mean power.
  const std::size_t blocks = x.size() / kEnvBlock;
  std::array<double, kMaxSamples / kEnvBlock> env{};
  double env_mean = 0.0;
  for (std::size_t k = 0; k < blocks; ++k) {
    env[k] = mean_square(x.subspan(k * kEnvBlock, kEnvBlock));
    env_mean += env[k];
  }
  env_mean /= static_cast<double>(blocks);
  const double w15 = 2.0 * std::numbers::pi * kAmHz * kEnvBlock / kSampleRate;
  double re = 0.0, im = 0.0, sum_w = 0.0;
  for (std::size_t k = 0; k < blocks; ++k) {
    const double w = hann(k, blocks);
    sum_w += w;
    re += w * (env[k] - env_mean) * std::cos(w15 * static_cast<double>(k));
    im += w * (env[k] - env_mean) * std::sin(w15 * static_cast<double>(k));
  }
  m.am_depth = env_mean > 0.0 ? 2.0 * std::hypot(re, im) / (sum_w * env_mean) : 0.0;
  m.am = m.am_depth >= lim.am_depth;
  m.ok = true;
  return m;
}

}  // namespace tw::dsp::detail
