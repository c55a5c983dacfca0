// Call progress per country: dial, ringback, busy, reorder/congestion and SIT, each named
// right by its own country's plan, and a dial tone after speech ("second dial tone").
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dsp/country.hpp"
#include "dsp/detector_bank.hpp"
#include "dsp/synth.hpp"

namespace tw::dsp {
namespace {

using synth::Signal;

std::vector<Event> listen(const Signal& s, const std::string& country, bool gating = true) {
  BankConfig cfg;
  cfg.country = country;
  cfg.law = country == "etsi" ? Law::alaw : Law::ulaw;
  cfg.gating.enabled = gating;
  std::vector<Event> ev;
  ChannelDetectorBank bank(cfg, [&](const Event& e) { ev.push_back(e); });
  std::vector<std::uint8_t> coded = s.g711(cfg.law);
  for (std::size_t i = 0; i < coded.size(); i += 64)  // 8 ms chunks
    bank.rx_g711(std::span(coded).subspan(i, std::min<std::size_t>(64, coded.size() - i)));
  bank.flush();
  return ev;
}

std::string tones(const std::vector<Event>& ev) {
  std::string s;
  for (const Event& e : ev)
    if (e.kind == EventKind::tone)
      s += std::string(s.empty() ? "" : " ") + std::string(to_string(e.tone));
  return s;
}

struct CpCase {
  std::string country;
  ToneName tone;
};

class CallProgress : public ::testing::TestWithParam<CpCase> {};

TEST_P(CallProgress, OneCadenceOneName) {
  const CpCase& c = GetParam();
  auto profile = country_profile(c.country);
  ASSERT_TRUE(profile);
  Signal s;
  s.silence(700);
  synth::call_progress(s, *profile, c.tone, 3, -18.0);
  s.silence(300);
  s.noise(-60.0, 5);
  for (bool gating : {true, false}) {
    std::vector<Event> ev = listen(s, c.country, gating);
    EXPECT_EQ(tones(ev), std::string(to_string(c.tone))) << c.country << " gating " << gating;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Countries, CallProgress,
    ::testing::Values(CpCase{"us", ToneName::dial}, CpCase{"us", ToneName::ringback},
                      CpCase{"us", ToneName::busy}, CpCase{"us", ToneName::reorder},
                      CpCase{"us", ToneName::sit}, CpCase{"etsi", ToneName::dial},
                      CpCase{"etsi", ToneName::ringback}, CpCase{"etsi", ToneName::busy},
                      CpCase{"etsi", ToneName::reorder}, CpCase{"etsi", ToneName::sit}),
    [](const ::testing::TestParamInfo<CpCase>& i) {
      std::string n = i.param.country + "_" + std::string(to_string(i.param.tone));
      for (char& ch : n)
        if (ch == '-') ch = '_';
      return n;
    });

TEST(CallProgress, AllFourNorthAmericanSitCodes) {
  // IC, VC, NC, RO: 913.8|985.2, then 1370.6|1428.5, then 1776.7 Hz; 274 or 380 ms each.
  struct Sit {
    double f1, d1, f2, d2;
  };
  for (Sit v : {Sit{913.8, 274, 1370.6, 274}, Sit{985.2, 380, 1370.6, 274},
                Sit{985.2, 380, 1428.5, 380}, Sit{913.8, 274, 1428.5, 380}}) {
    Signal s;
    s.silence(500).tone(v.f1, -16, v.d1).tone(v.f2, -16, v.d2).tone(1776.7, -16, 380).silence(1000);
    EXPECT_EQ(tones(listen(s, "us")), "sit") << v.f1 << "/" << v.f2;
  }
}

TEST(CallProgress, PlansDoNotCross) {
  // North American busy under the ETSI plan and ETSI dial tone under the North American one.
  Signal busy, dial;
  synth::call_progress(busy, *country_profile("us"), ToneName::busy, 3);
  synth::call_progress(dial, *country_profile("etsi"), ToneName::dial, 1);
  EXPECT_EQ(tones(listen(busy, "etsi")), "");
  EXPECT_EQ(tones(listen(dial, "us")), "");
}

TEST(CallProgress, SecondDialToneAfterSpeechLikeAudio) {
  // An answered call, then dial tone again: the through-dialing sign.
  Signal s;
  for (int i = 0; i < 6; ++i) {
    double f[] = {180.0 + 20 * i, 360.0 + 40 * i, 900.0 - 30 * i}, l[] = {-20, -24, -30};
    s.tones(f, l, 300).silence(150);
  }
  synth::call_progress(s, *country_profile("us"), ToneName::dial, 1);
  std::vector<Event> ev = listen(s, "us");
  ASSERT_EQ(tones(ev), "dial");
  EXPECT_GT(ev.front().t_s, s.seconds() - 3.0);
}

TEST(CallProgress, UnknownCountryIsRefused) {
  BankConfig cfg;
  cfg.country = "atlantis";
  EXPECT_THROW(ChannelDetectorBank(cfg, [](const Event&) {}), std::invalid_argument);
}

}  // namespace
}  // namespace tw::dsp
