// Small contracts: G.711 tables, names, country plans, the call-type rule, bank lifecycle.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "dsp/call_type.hpp"
#include "dsp/country.hpp"
#include "dsp/detector_bank.hpp"
#include "dsp/sample_ring.hpp"
#include "dsp/synth.hpp"
#include "monitor/calls/inband_analyzer.hpp"

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

TEST(SampleRing, KeepsG711AsCodesAndOtherAudioExactly) {
  for (Law law : {Law::ulaw, Law::alaw}) {
    detail::SampleRing<256> ring(law);
    std::vector<std::int16_t> in;
    for (int c = 0; c < 256; ++c) in.push_back(g711_decode(law, static_cast<std::uint8_t>(c)));
    ring.push(std::span(in).first(200));
    ring.push(std::span(in).subspan(200));  // wraps around
    EXPECT_TRUE(ring.coded());
    std::vector<std::int16_t> out(256);
    ring.copy(0, out);
    EXPECT_EQ(out, in);
    // A value no G.711 code decodes to: from then on 16 bits, and still exact, before and after.
    const std::vector<std::int16_t> odd = {1, -3, 12345, in[7]};
    ring.push(odd);
    EXPECT_FALSE(ring.coded());
    ring.copy(4, std::span(out).first(252));
    EXPECT_TRUE(std::equal(in.begin() + 4, in.end(), out.begin()));
    std::vector<std::int16_t> tail(4);
    ring.copy(256, tail);
    EXPECT_EQ(tail, odd);
    EXPECT_EQ(ring.at(258), 12345);
  }
}

TEST(Bank, SameEventsFromG711BytesTheirLinearValuesAndBoth) {
  synth::Signal s;
  std::mt19937 rng(3);
  s.silence(200);
  synth::key_dtmf(s, "159#", synth::DtmfKeying{}, rng);
  s.silence(200).tone(2100, -12, 1500).silence(300).tone(1100, -12, 500).silence(3000);
  for (Law law : {Law::ulaw, Law::alaw}) {
    std::vector<std::uint8_t> coded;
    std::vector<std::int16_t> decoded;
    for (std::int16_t v : s.linear()) {
      coded.push_back(g711_encode(law, v));
      decoded.push_back(g711_decode(law, coded.back()));
    }
    BankConfig cfg;
    cfg.law = law;
    std::vector<Event> a, b, c;
    ChannelDetectorBank from_bytes(cfg, [&](const Event& e) { a.push_back(e); });
    ChannelDetectorBank from_linear(cfg, [&](const Event& e) { b.push_back(e); });
    // Both, as the card source hands them over (the codes it read, expanded).
    ChannelDetectorBank from_both(cfg, [&](const Event& e) { c.push_back(e); });
    for (std::size_t i = 0; i < coded.size(); i += 160) {
      const std::size_t n = std::min<std::size_t>(160, coded.size() - i);
      from_bytes.rx_g711(std::span(coded).subspan(i, n));
      from_linear.rx(std::span(decoded).subspan(i, n));
      from_both.rx(std::span(decoded).subspan(i, n), std::span(coded).subspan(i, n));
    }
    from_bytes.flush();
    from_linear.flush();
    from_both.flush();
    EXPECT_GE(a.size(), 5U);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a, c);
  }
}

TEST(Bank, CountsLiveBanks) {
  const std::size_t before = ChannelDetectorBank::live_banks();
  {
    ChannelDetectorBank a(BankConfig{}, [](const Event&) {});
    ChannelDetectorBank b(BankConfig{}, [](const Event&) {});
    EXPECT_EQ(ChannelDetectorBank::live_banks(), before + 2);
    ChannelDetectorBank c = std::move(b);
    EXPECT_EQ(ChannelDetectorBank::live_banks(), before + 2);
  }
  EXPECT_EQ(ChannelDetectorBank::live_banks(), before);
}

// A stream silent for InbandAnalyzer::kFlushAfter is flushed: the digit pending when its audio
// stopped is reported then, with its own time, not when the channel's next stream starts.
// After kReleaseAfter it gives its bank back; in all it reports exactly what one bank
// restarted after the gap reports.
TEST(InbandAnalyzer, FlushesSilentStreamsAndGivesBanksBackWithoutChangingEvents) {
  synth::Signal first, second, other;
  std::mt19937 rng(4);
  first.silence(300);
  synth::key_dtmf(first, "12", synth::DtmfKeying{}, rng);
  const std::array<double, 2> hz{941, 1336}, dbm0{-10, -10};
  first.tones(hz, dbm0, 60);  // a "0" cut off mid-tone: pending until the bank is flushed
  second.silence(200);
  synth::key_dtmf(second, "7", synth::DtmfKeying{}, rng);
  second.silence(300);
  other.silence(20);
  const auto x1 = first.linear(), x2 = second.linear(), idle = other.linear();
  const auto t0 = *hal::make_time(2027, 1, 5, 9, 0, 0, 0, 0);
  const auto resume = t0 + std::chrono::seconds(30);

  // What one bank reports: the first stretch, then the restart after the gap.
  std::vector<Event> bank_events;
  ChannelDetectorBank bank(BankConfig{}, [&](const Event& e) { bank_events.push_back(e); });
  bank.rx(x1);
  const std::size_t before_flush = bank_events.size();
  bank.flush();
  const std::size_t in_first = bank_events.size();
  const double voice_first = bank.stats().voice_s();
  bank.reset();
  bank.rx(x2);
  bank.flush();
  ASSERT_GE(before_flush, 2U);
  ASSERT_GT(in_first, before_flush) << "the cut-off digit comes out of the flush";
  ASSERT_GT(bank_events.size(), in_first);
  std::vector<calls::InbandEvent> want;
  for (std::size_t i = 0; i < bank_events.size(); ++i)
    want.push_back(calls::to_inband(bank_events[i], i < in_first ? t0 : resume, hal::Side::Pbx));

  std::vector<calls::InbandEvent> got;
  calls::InbandAnalyzer analyzer({}, [&](int span, int channel, const calls::InbandEvent& e) {
    if (span == 1 && channel == 5) got.push_back(e);
  });
  hal::SpanInfo info;
  auto feed = [&](int channel, hal::Timestamp t, std::span<const std::int16_t> x) {
    for (std::size_t i = 0; i < x.size(); i += 160) {
      hal::AudioChunk c;
      c.span = 1;
      c.channel = channel;
      c.from = hal::Side::Pbx;
      c.time = t + std::chrono::microseconds(static_cast<long long>(i) * 125);
      c.samples = x.subspan(i, std::min<std::size_t>(160, x.size() - i));
      analyzer.on_audio(info, c);
    }
  };
  feed(5, t0, x1);
  EXPECT_EQ(analyzer.banks_in_use(), 1U);
  EXPECT_EQ(got.size(), before_flush);
  // Another channel keeps the clock going, in 20 ms chunks; channel 5 is silent for 25 s.
  const hal::Timestamp end1 =
      t0 + std::chrono::microseconds(static_cast<long long>(x1.size()) * 125);
  auto other_until = [&, t = end1](hal::Timestamp until) mutable {
    for (; t < until; t += std::chrono::milliseconds(20)) feed(6, t, std::span(idle).first(160));
  };
  other_until(end1 + calls::InbandAnalyzer::kFlushAfter);
  EXPECT_EQ(got.size(), before_flush) << "not silent long enough yet";
  other_until(end1 + calls::InbandAnalyzer::kFlushAfter + calls::InbandAnalyzer::kSweepEvery +
              std::chrono::milliseconds(40));
  EXPECT_EQ(got.size(), in_first) << "the cut-off digit, reported by the flush";
  EXPECT_EQ(analyzer.banks_in_use(), 2U);
  other_until(t0 + std::chrono::seconds(25));
  EXPECT_EQ(analyzer.banks_in_use(), 1U) << "channel 5's bank given back, channel 6's in use";
  EXPECT_EQ(analyzer.spare_banks(), 1U);
  EXPECT_EQ(got.size(), in_first);
  EXPECT_NEAR(*analyzer.voice_seconds(1, 5, hal::Side::Pbx), voice_first, 1e-9);
  feed(5, resume, x2);
  analyzer.on_audio(info, [&] {  // the end of the stream: one more gap flushes the digit
    hal::AudioChunk c;
    c.span = 1;
    c.channel = 5;
    c.time = resume + std::chrono::seconds(5);
    c.samples = std::span(idle).first(160);
    return c;
  }());
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].time, want[i].time) << i;
    EXPECT_EQ(got[i].digit, want[i].digit) << i;
    EXPECT_EQ(got[i].duration_ms, want[i].duration_ms) << i;
  }
}

}  // namespace
}  // namespace tw::dsp
