// Call-progress tone plans, one per country. SpanDSP's super_tone_rx gets one descriptor per
// country: tones within ~60 Hz of each other in one descriptor disturb each other (EU 425 Hz
// busy is missed next to 350+440 Hz dial tone).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "dsp/event.hpp"

namespace tw::dsp {

struct CadenceElement {
  int f1 = 0;  // Hz; 0 = silence
  int f2 = 0;  // Hz; 0 = single tone
  int min_ms = 0;
  int max_ms = 0;  // 0 = no upper bound (continuous)
};

struct ToneCadence {
  ToneName name = ToneName::none;
  std::vector<CadenceElement> elements;  // one full cycle; reported after it is seen once
};

struct CountryProfile {
  std::string_view name;
  std::string_view description;
  std::vector<ToneCadence> tones;
  std::vector<double> screen_hz;  // bins the gating screen watches for this plan
  int longest_gap_ms = 0;         // longest silent element of any cadence (ringback: 4.5 s)
};

std::optional<CountryProfile> country_profile(std::string_view name);
std::vector<std::string_view> country_names();

}  // namespace tw::dsp
