#include "dsp/country.hpp"

#include <algorithm>

namespace tw::dsp {

namespace {

// North America (Telcordia GR-506 / ANSI T1.401 precise tone plan). SIT: the three-segment
// 913.8|985.2 / 1370.6|1428.5 / 1776.7 Hz sequences of the four common SIT codes (IC, VC, NC,
// RO); segment lengths 274 or 380 ms.
CountryProfile us() {
  CountryProfile p;
  p.name = "us";
  p.description =
      "North America: dial 350+440, ringback 440+480 2s/4s, busy 480+620 0.5/0.5, "
      "reorder 480+620 0.25/0.25, SIT 913.8|985.2 / 1370.6|1428.5 / 1776.7 Hz";
  p.tones.push_back({ToneName::dial, {{350, 440, 1000, 0}}});
  p.tones.push_back({ToneName::ringback, {{440, 480, 1700, 2300}, {0, 0, 3500, 4500}}});
  p.tones.push_back({ToneName::busy, {{480, 620, 420, 580}, {0, 0, 420, 580}}});
  p.tones.push_back({ToneName::reorder, {{480, 620, 200, 320}, {0, 0, 200, 320}}});
  for (int f1 : {914, 985})
    for (int f2 : {1371, 1429})
      p.tones.push_back(
          {ToneName::sit, {{f1, 0, 240, 420}, {f2, 0, 240, 420}, {1777, 0, 240, 420}}});
  p.screen_hz = {350, 440, 480, 620, 914, 985, 1371, 1429, 1777};
  return p;
}

// ETSI TR 101 041 / ES 201 970 common values: 425 Hz dial continuous, ringing 1s/4s,
// busy 0.5/0.5, congestion 0.25/0.25, SIT 950/1400/1800 Hz 330 ms each.
CountryProfile etsi() {
  CountryProfile p;
  p.name = "etsi";
  p.description =
      "ETSI/CEPT 425 Hz: dial continuous, ringback 1s/4s, busy 0.5/0.5, "
      "congestion 0.25/0.25, SIT 950/1400/1800 Hz";
  // 1.5 s: a 1 s ringing burst is the same 425 Hz and must not pass for dial tone.
  p.tones.push_back({ToneName::dial, {{425, 0, 1500, 0}}});
  p.tones.push_back({ToneName::ringback, {{425, 0, 800, 1200}, {0, 0, 3500, 4500}}});
  p.tones.push_back({ToneName::busy, {{425, 0, 420, 580}, {0, 0, 420, 580}}});
  p.tones.push_back({ToneName::reorder, {{425, 0, 200, 320}, {0, 0, 200, 320}}});
  p.tones.push_back(
      {ToneName::sit, {{950, 0, 270, 400}, {1400, 0, 270, 400}, {1800, 0, 270, 400}}});
  p.screen_hz = {425, 950, 1400, 1800};
  return p;
}

void finish(CountryProfile& p) {
  for (const ToneCadence& t : p.tones)
    for (const CadenceElement& e : t.elements)
      if (e.f1 == 0) p.longest_gap_ms = std::max(p.longest_gap_ms, e.max_ms);
}

}  // namespace

std::optional<CountryProfile> country_profile(std::string_view name) {
  std::optional<CountryProfile> p;
  if (name == "us" || name == "na") p = us();
  if (name == "etsi" || name == "eu") p = etsi();
  if (p) finish(*p);
  return p;
}

std::vector<std::string_view> country_names() {
  return {"us", "etsi"};
}

}  // namespace tw::dsp
