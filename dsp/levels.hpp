// dBm0 <-> linear conversions shared by the detectors, the synthesizer and the tests.
// Convention (ITU-T G.711, as SpanDSP uses it): a full-scale sine is +3.14 dBm0.
#pragma once

#include <cmath>

namespace tw::dsp {

inline constexpr double kSampleRate = 8000.0;
inline constexpr double kFullScaleSineDbm0 = 3.14;

// Peak amplitude of a sine at `dbm0`.
inline double sine_amplitude(double dbm0) {
  return 32767.0 * std::pow(10.0, (dbm0 - kFullScaleSineDbm0) / 20.0);
}

// Mean square of a 0 dBm0 sine: the reference power for levels.
inline double dbm0_reference_power() {
  double a = sine_amplitude(0.0);
  return a * a / 2.0;
}

inline double power_to_dbm0(double mean_square) {
  return mean_square > 0.0 ? 10.0 * std::log10(mean_square / dbm0_reference_power()) : -99.0;
}

}  // namespace tw::dsp
