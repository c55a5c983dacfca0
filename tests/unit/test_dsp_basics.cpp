// Small contracts: G.711 tables, names, country plans, the call-type rule, bank lifecycle.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "dsp/call_type.hpp"
#include "dsp/country.hpp"
#include "dsp/detector_bank.hpp"
#include "dsp/synth.hpp"

namespace tw::dsp {
namespace {

TEST(G711, DecoderTableMatchesSpanDsp) {
  for (Law law : {Law::ulaw, Law::alaw}) {
    G711Decoder d(law);
    for (int c = 0; c < 256; ++c)
      EXPECT_EQ(d(static_cast<std::uint8_t>(c)), g711_decode(law, static_cast<std::uint8_t>(c)));
    for (int v = -32768; v < 32768; v += 129) {
      const auto x = static_cast<std::int16_t>(v);
      EXPECT_NEAR(d(g711_encode(law, x)), x, 9 + std::abs(v) / 16)
          << v;  // steps: 16 near 0 (A-law)
    }
  }
  EXPECT_EQ(parse_law("alaw"), Law::alaw);
  EXPECT_EQ(parse_law("ulaw"), Law::ulaw);
  EXPECT_FALSE(parse_law("slin"));
}

TEST(Names, ToneNamesAreTheContract) {
  const std::vector<std::string> want = {
      "fax-cng",  "ans",          "ans-pr",       "ansam",       "ansam-pr",
      "bell-ans", "calling-tone", "v21-preamble", "v21-carrier", "bell103-carrier",
      "dial",     "ringback",     "busy",         "reorder",     "sit"};
  for (const std::string& n : want) {
    auto t = parse_tone_name(n);
    ASSERT_TRUE(t) << n;
    EXPECT_EQ(to_string(*t), n);
  }
  EXPECT_FALSE(parse_tone_name("none"));
  EXPECT_EQ(to_string(EventKind::dtmf), "dtmf");
  EXPECT_EQ(to_string(EventKind::mf), "mf");
  EXPECT_EQ(to_string(EventKind::tone), "tone");
}

TEST(Countries, EachPlanHasEveryTone) {
  for (auto name : country_names()) {
    auto p = country_profile(name);
    ASSERT_TRUE(p) << name;
    std::set<ToneName> have;
    for (const auto& t : p->tones) have.insert(t.name);
    for (ToneName t :
         {ToneName::dial, ToneName::ringback, ToneName::busy, ToneName::reorder, ToneName::sit})
      EXPECT_TRUE(have.count(t)) << name << " " << to_string(t);
    EXPECT_GE(p->longest_gap_ms, 3500) << "ringback's silence";
  }
  EXPECT_FALSE(country_profile("xx"));
}

Event tone(ToneName t) {
  Event e;
  e.tone = t;
  return e;
}

TEST(CallType, TheRule) {
  CallEvidence none;
  CallEvidence talk;
  talk.voice_s = 5.0;
  CallEvidence clear;
  clear.clear_channel = true;
  Event digit;
  digit.kind = EventKind::dtmf;
  digit.digit = '5';
  using V = std::vector<Event>;
  EXPECT_EQ(classify_call(V{}, none), CallType::unknown);
  EXPECT_EQ(classify_call(V{tone(ToneName::ringback)}, none), CallType::unknown);
  EXPECT_EQ(classify_call(V{}, talk), CallType::voice);
  EXPECT_EQ(classify_call(V{digit}, none), CallType::voice);
  EXPECT_EQ(classify_call(V{tone(ToneName::fax_cng)}, talk), CallType::fax);
  EXPECT_EQ(classify_call(V{tone(ToneName::ans), tone(ToneName::v21_preamble)}, none),
            CallType::fax);
  EXPECT_EQ(classify_call(V{tone(ToneName::ans)}, none), CallType::modem);
  EXPECT_EQ(classify_call(V{tone(ToneName::ansam_pr)}, talk), CallType::modem);
  EXPECT_EQ(classify_call(V{tone(ToneName::bell103_carrier)}, none), CallType::modem);
  EXPECT_EQ(classify_call(V{tone(ToneName::fax_cng)}, clear), CallType::data);
  EXPECT_EQ(to_string(CallType::voice), "voice");
  EXPECT_EQ(to_string(CallType::data), "data");
}

TEST(Bank, ResetStartsAStreamAfresh) {
  synth::Signal s;
  std::mt19937 rng(1);
  s.silence(300);
  synth::key_dtmf(s, "123", synth::DtmfKeying{}, rng);
  s.silence(300);
  const auto x = s.linear();
  std::vector<Event> ev;
  ChannelDetectorBank bank(BankConfig{}, [&](const Event& e) { ev.push_back(e); });
  bank.rx(x);
  bank.flush();
  const auto first = ev;
  ASSERT_EQ(first.size(), 3U);
  EXPECT_NEAR(first[0].t_s, 0.300, 0.002);
  EXPECT_NEAR(first[0].duration_ms, 50.0, 2.0);
  EXPECT_NEAR(first[0].level_dbm0, -7.0, 0.5);  // two tones at -10 dBm0
  EXPECT_NEAR(bank.time_s(), s.seconds(), 1e-9);
  ev.clear();
  bank.reset();
  EXPECT_EQ(bank.time_s(), 0.0);
  bank.rx(x);
  bank.flush();
  EXPECT_EQ(ev, first);
  // Moving a bank keeps its callbacks pointing at the live state.
  ChannelDetectorBank moved = std::move(bank);
  ev.clear();
  moved.reset();
  moved.rx(x);
  moved.flush();
  EXPECT_EQ(ev, first);
}

TEST(Bank, ReportsWithinSixtyMillisecondsOfTheToneEnd) {
  synth::Signal s;
  std::mt19937 rng(2);
  s.silence(300);
  synth::key_dtmf(s, "5", synth::DtmfKeying{}, rng);
  s.silence(1000);
  const auto x = s.linear();
  double reported_at = -1.0;
  ChannelDetectorBank* self = nullptr;
  ChannelDetectorBank bank(BankConfig{}, [&](const Event&) { reported_at = self->time_s(); });
  self = &bank;
  for (std::size_t i = 0; i < x.size() && reported_at < 0; i += 64)  // 8 ms chunks
    bank.rx(std::span(x).subspan(i, std::min<std::size_t>(64, x.size() - i)));
  ASSERT_GT(reported_at, 0.0);
  EXPECT_LT(reported_at - 0.350, 0.060) << "tone ended at 350 ms";
}

TEST(Bank, VoiceStatisticCountsSpeechNotTones) {
  synth::Signal tones, noise;
  tones.tone(1000, -10, 2000);
  noise.silence(2000).noise(-20, 3);
  BankConfig cfg;
  ChannelDetectorBank a(cfg, [](const Event&) {}), b(cfg, [](const Event&) {});
  a.rx(tones.linear());
  b.rx(noise.linear());
  EXPECT_LT(a.stats().voice_s(), 0.1);
  EXPECT_GT(b.stats().voice_s(), 1.9);
}

}  // namespace
}  // namespace tw::dsp
