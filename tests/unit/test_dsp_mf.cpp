// Bell MF (R1) and R2 MFC digits, with the hold-time filter: keyed digits come through,
// short bursts do not (the talk-off side is in test_dsp_talkoff).
#include <gtest/gtest.h>

#include <string>

#include "dsp/detector_bank.hpp"
#include "dsp/synth.hpp"

namespace tw::dsp {
namespace {

std::string mf_digits(const synth::Signal& s, BankConfig cfg) {
  std::string got;
  ChannelDetectorBank bank(cfg, [&](const Event& e) {
    if (e.kind == EventKind::mf) got += e.digit;
  });
  std::vector<std::uint8_t> coded = s.g711(cfg.law);
  for (std::size_t i = 0; i < coded.size(); i += 160)
    bank.rx_g711(std::span(coded).subspan(i, std::min<std::size_t>(160, coded.size() - i)));
  bank.flush();
  return got;
}

TEST(BellMf, KpDigitsSt) {
  const std::string keyed = "*0123456789#*ABC#";  // KP ... ST, then KP and ST', ST'', ST'''
  synth::Signal s;
  s.silence(300);
  synth::key_bell_mf(s, keyed);
  s.silence(500);
  BankConfig cfg;
  cfg.bell_mf = true;
  EXPECT_EQ(mf_digits(s, cfg), keyed);
  cfg.bell_mf = false;
  EXPECT_EQ(mf_digits(s, cfg), "") << "MF is off unless the span enables it";
}

TEST(BellMf, BurstsShorterThanTheHoldAreDropped) {
  synth::Signal s;
  s.silence(300);
  for (char d : std::string("12345")) {
    double f[2] = {700, 900}, l[2] = {-7, -7};
    (void)d;
    s.tones(f, l, 30).silence(100);  // 30 ms: speech-like blips
  }
  BankConfig cfg;
  cfg.bell_mf = true;
  EXPECT_EQ(mf_digits(s, cfg), "");
}

TEST(R2Mf, ForwardAndBackwardSignals) {
  const std::string keyed = "1234567890BCDEF";
  for (bool forward : {true, false}) {
    synth::Signal s;
    s.silence(300);
    synth::key_r2_mf(s, keyed, forward);
    s.silence(500);
    BankConfig cfg;
    cfg.law = Law::alaw;
    cfg.r2_mf = true;
    cfg.r2_forward = forward;
    EXPECT_EQ(mf_digits(s, cfg), keyed) << (forward ? "forward" : "backward");
    cfg.r2_forward = !forward;
    EXPECT_EQ(mf_digits(s, cfg), "") << "the other direction's set";
  }
}

TEST(R2Mf, HoldTimeFilter) {
  synth::Signal s;
  s.silence(300);
  synth::key_r2_mf(s, "12345", true, 40.0, 80.0);  // 40 ms < 70 ms hold
  s.silence(300);
  BankConfig cfg;
  cfg.r2_mf = true;
  EXPECT_EQ(mf_digits(s, cfg), "");
  cfg.mf_hold_ms = 30;
  EXPECT_EQ(mf_digits(s, cfg), "12345");
}

}  // namespace
}  // namespace tw::dsp
