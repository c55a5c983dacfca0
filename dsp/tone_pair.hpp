// Measuring a dual tone (DTMF, MF) on its own samples: on-time from the envelope, both
// frequencies to a fraction of a percent, levels, and the share of the power they hold.
// Block detectors decide on 12-17 ms blocks, too short to tell 1.5 % from 3.5 % at 697 Hz;
// this is what the digit detectors verify candidates with before reporting them.
#pragma once

#include <cstdint>
#include <span>

namespace tw::dsp::detail {

struct PairLimits {
  double search = 0.05;           // look for each tone within +-search of nominal
  double max_dev = 0.025;         // accept within +-max_dev
  double twist_db = 10.0;         // low tone louder by at most
  double reverse_twist_db = 8.0;  // high tone louder by at most
  double threshold_dbm0 = -42.0;  // each tone at least
  double min_share = 0.6;         // both tones' share of the power on the steady part
  double min_on_samples = 200.0;  // 25 ms
};

struct PairMeasurement {
  bool ok = false;
  double start = 0.0;                    // absolute sample index of the tone start
  double on_samples = 0.0;               // measured on-time (clipped to the window)
  double low_dev = 0.0, high_dev = 0.0;  // relative deviation from nominal
  double low_dbm0 = -99.0, high_dbm0 = -99.0;
  double share = 0.0;
  const char* why = "";  // reason for a rejection
};

// Where to look, in absolute sample indices: the pair is known to sound throughout
// [ref_begin, ref_end) (its level there is the reference), and its on-time is measured
// within [allow_begin, allow_end) at most, so that speech or noise as loud as the tone in a
// short pause does not join two digits.
struct PairWindow {
  std::int64_t ref_begin = 0, ref_end = 0;
  std::int64_t allow_begin = 0, allow_end = 0;
};

// `x` holds samples [x_start, x_start + x.size()) (at most 8192).
PairMeasurement measure_pair(std::span<const std::int16_t> x, std::int64_t x_start,
                             const PairWindow& where, double low_hz, double high_hz,
                             const PairLimits& lim);

}  // namespace tw::dsp::detail
