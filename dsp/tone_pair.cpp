#include "dsp/tone_pair.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#include "dsp/levels.hpp"

namespace tw::dsp::detail {

namespace {

constexpr int kEnvWin = 32;  // envelope window: 4 ms averages the beat of the two tones
constexpr int kEnvHop = 8;   // 1 ms resolution
constexpr int kMaxSamples = 8192;
constexpr int kMaxWindows = kMaxSamples / kEnvHop;
constexpr int kMaxSteady = 1024;  // 128 ms of steady tone is plenty for the frequencies

// |X(f)|^2 of `y` at `hz` (Goertzel).
double goertzel_power(std::span<const float> y, double hz) {
  double c = 2.0 * std::cos(2.0 * std::numbers::pi * hz / kSampleRate);
  double s1 = 0.0, s2 = 0.0;
  for (float v : y) {
    double s0 = v + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - c * s1 * s2;
}

struct Peak {
  double dev = 0.0;    // relative deviation from nominal
  double power = 0.0;  // |X|^2 at the peak
};

// The strongest frequency within +-search of `nominal` on a 0.25 % grid, refined by a
// parabola through the log powers around the maximum. A maximum on the edge of the range
// means the tone is farther off than we look.
Peak find_peak(std::span<const float> yw, double nominal, double search) {
  constexpr double kStep = 0.0025;
  constexpr int kMaxSteps = 40;
  const int steps = std::clamp(static_cast<int>(std::lround(search / kStep)), 1, kMaxSteps);
  std::array<double, 2 * kMaxSteps + 1> p{};
  int best = 0;
  for (int i = 0; i <= 2 * steps; ++i) {
    p[static_cast<std::size_t>(i)] = goertzel_power(yw, nominal * (1.0 + (i - steps) * kStep));
    if (p[static_cast<std::size_t>(i)] > p[static_cast<std::size_t>(best)]) best = i;
  }
  Peak pk{(best - steps) * kStep, p[static_cast<std::size_t>(best)]};
  if (best > 0 && best < 2 * steps && pk.power > 0.0) {
    double a = std::log(p[static_cast<std::size_t>(best - 1)] + 1e-9);
    double b = std::log(pk.power);
    double c = std::log(p[static_cast<std::size_t>(best + 1)] + 1e-9);
    double den = a - 2.0 * b + c;
    if (den < 0.0) pk.dev += 0.5 * (a - c) / den * kStep;
  } else {
    pk.dev = best == 0 ? -1.0 : 1.0;
  }
  return pk;
}

}  // namespace

PairMeasurement measure_pair(std::span<const std::int16_t> x, std::int64_t x_start,
                             const PairWindow& where, double low_hz, double high_hz,
                             const PairLimits& lim) {
  const std::int64_t seg_begin = where.ref_begin, seg_end = where.ref_end;
  PairMeasurement m;
  const int n = static_cast<int>(std::min<std::size_t>(x.size(), kMaxSamples));
  if (n < kEnvWin + kEnvHop) {
    m.why = "short";
    return m;
  }
  // Envelope over sliding 4 ms windows.
  const int nw = std::min((n - kEnvWin) / kEnvHop + 1, kMaxWindows);
  std::array<float, kMaxWindows> env{};
  std::array<float, kMaxWindows> tmp{};
  for (int k = 0; k < nw; ++k) {
    double e = 0.0;
    for (int i = 0; i < kEnvWin; ++i) {
      double v = x[static_cast<std::size_t>(k * kEnvHop + i)];
      e += v * v;
    }
    env[static_cast<std::size_t>(k)] = static_cast<float>(e);
  }
  // Reference level: median of the windows inside the detected segment.
  auto to_k = [&](std::int64_t pos) { return static_cast<int>((pos - x_start) / kEnvHop); };
  int k_lo = std::clamp(to_k(seg_begin + kEnvHop - 1), 0, nw - 1);
  int k_hi = std::clamp(to_k(seg_end - kEnvWin), 0, nw - 1);
  if (k_hi < k_lo) k_lo = k_hi = std::clamp(to_k((seg_begin + seg_end) / 2), 0, nw - 1);
  const int cnt = k_hi - k_lo + 1;
  std::copy_n(env.begin() + k_lo, cnt, tmp.begin());
  std::nth_element(tmp.begin(), tmp.begin() + cnt / 2, tmp.begin() + cnt);
  const float ref = tmp[static_cast<std::size_t>(cnt / 2)];
  if (ref <= 0.F) {
    m.why = "silent";
    return m;
  }
  // On-time: the run of windows at >= -6 dB of the reference around the segment's middle.
  // A window is on once it overlaps a steady tone by a quarter (8 samples), so the tone
  // starts ~20 samples after the first on window and ends ~12 after the last one starts.
  const float thr = ref * 0.25F;
  const int mid = (k_lo + k_hi) / 2;
  int kc = -1;
  for (int d = 0; d <= nw && kc < 0; ++d) {
    if (mid - d >= 0 && env[static_cast<std::size_t>(mid - d)] >= thr)
      kc = mid - d;
    else if (mid + d < nw && env[static_cast<std::size_t>(mid + d)] >= thr)
      kc = mid + d;
  }
  if (kc < 0) {
    m.why = "no envelope";
    return m;
  }
  const int k_min = std::clamp(to_k(where.allow_begin), 0, nw - 1);
  const int k_max = std::clamp(to_k(where.allow_end - kEnvWin), 0, nw - 1);
  int kl = std::clamp(kc, k_min, k_max), kr = kl;
  while (kl > k_min && env[static_cast<std::size_t>(kl - 1)] >= thr) --kl;
  while (kr < k_max && env[static_cast<std::size_t>(kr + 1)] >= thr) ++kr;
  const double ts = kl == 0 ? 0.0 : kl * kEnvHop + 20.0;
  const double te = kr == nw - 1 ? n : kr * kEnvHop + 12.0;
  m.start = static_cast<double>(x_start) + ts;
  m.on_samples = te - ts;
  // Frequencies and levels on the steady part, 2 ms in from each end.
  int a = static_cast<int>(ts) + 16, b = static_cast<int>(te) - 16;
  if (b - a < 64) {
    a = static_cast<int>(ts) + 4;
    b = static_cast<int>(te) - 4;
  }
  b = std::min(b, a + kMaxSteady);
  if (b - a < 48) {
    m.why = "too short to measure";
    return m;
  }
  std::array<float, kMaxSteady> yw{};
  const int len = b - a;
  double sum_sq = 0.0, sum_w = 0.0;
  for (int i = 0; i < len; ++i) {
    double v = x[static_cast<std::size_t>(a + i)];
    // Hann window: the other tone's leakage drops below -60 dB at >= 200 Hz spacing.
    double w = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * (i + 0.5) / len);
    sum_sq += v * v;
    sum_w += w;
    yw[static_cast<std::size_t>(i)] = static_cast<float>(v * w);
  }
  std::span<const float> ys(yw.data(), static_cast<std::size_t>(len));
  Peak lo = find_peak(ys, low_hz, lim.search);
  Peak hi = find_peak(ys, high_hz, lim.search);
  // |X| = A sum(w) / 2 for a tone of amplitude A, whose mean square is A^2 / 2.
  auto tone_ms = [&](double p) { return 2.0 * p / (sum_w * sum_w); };
  const double p_lo = tone_ms(lo.power), p_hi = tone_ms(hi.power);
  const double mean_sq = sum_sq / len;
  m.low_dev = lo.dev;
  m.high_dev = hi.dev;
  m.low_dbm0 = power_to_dbm0(p_lo);
  m.high_dbm0 = power_to_dbm0(p_hi);
  m.share = mean_sq > 0.0 ? (p_lo + p_hi) / mean_sq : 0.0;
  const double twist = m.low_dbm0 - m.high_dbm0;
  if (std::fabs(m.low_dev) > lim.max_dev || std::fabs(m.high_dev) > lim.max_dev)
    m.why = "frequency";
  else if (twist > lim.twist_db || -twist > lim.reverse_twist_db)
    m.why = "twist";
  else if (m.low_dbm0 < lim.threshold_dbm0 || m.high_dbm0 < lim.threshold_dbm0)
    m.why = "level";
  else if (m.share < lim.min_share)
    m.why = "share";
  else if (m.on_samples < lim.min_on_samples)
    m.why = "duration";
  else
    m.ok = true;
  return m;
}

}  // namespace tw::dsp::detail
