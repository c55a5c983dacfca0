// Tone events carry their onset: every fax, modem and call-progress tone is synthesized at a
// known sample, at several offsets against the 10 ms screen blocks and the chunks, and the
// event's onset_s must land within the stated tolerance of it, while t_s stays the (later)
// recognition time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dsp/country.hpp"
#include "dsp/detector_bank.hpp"
#include "dsp/synth.hpp"
#include "dsp/wav_reader.hpp"
#include "monitor/calls/inband_analyzer.hpp"
#include "monitor/store/json_store.hpp"
#include "tests/support/cli_harness.hpp"

namespace tw::dsp {
namespace {

using synth::Signal;

struct OnsetCase {
  std::string name;
  std::string country;
  std::function<void(Signal&)> tone;  // appends the tone (and what follows it)
  ToneName want;
  double tolerance_ms;
  double starts_ms = 0;  // the wanted tone begins this long after what `tone` appends first
};

CountryProfile profile(const std::string& name) {
  return country_profile(name).value();
}

std::vector<OnsetCase> cases() {
  using synth::Fsk;
  auto cp = [](const char* country, ToneName t, int cycles) {
    return [country, t, cycles](Signal& s) {
      synth::call_progress(s, profile(country), t, cycles);
      s.silence(6000);
    };
  };
  return {
      {"cng", "us", [](Signal& s) { s.tone(1100, -12, 500).silence(3000).tone(1100, -12, 500); },
       ToneName::fax_cng, 20},
      {"ans", "us", [](Signal& s) { s.answer_tone(2100, -12, 3300, false, false); }, ToneName::ans,
       20},
      {"ans_pr", "us", [](Signal& s) { s.answer_tone(2100, -12, 3300, true, false); },
       ToneName::ans_pr, 20},
      {"ansam", "us", [](Signal& s) { s.answer_tone(2100, -12, 3300, false, true); },
       ToneName::ansam, 20},
      {"ansam_pr", "us", [](Signal& s) { s.answer_tone(2100, -12, 3300, true, true); },
       ToneName::ansam_pr, 20},
      {"bell_ans", "us", [](Signal& s) { s.tone(2225, -12, 2500); }, ToneName::bell_ans, 20},
      {"calling_tone", "us", [](Signal& s) { s.tone(1300, -12, 600).silence(2000); },
       ToneName::calling_tone, 20},
      {"v21_preamble", "us", [](Signal& s) { s.append(synth::fsk(Fsk::v21ch2, 1.6, true, 3)); },
       ToneName::v21_preamble, 20},
      {"v21_carrier", "us", [](Signal& s) { s.append(synth::fsk(Fsk::v21ch1, 2.0, false, 4)); },
       ToneName::v21_carrier, 20},
      {"bell103_carrier", "us",
       [](Signal& s) { s.append(synth::fsk(Fsk::bell103ch1, 2.0, false, 5)); },
       ToneName::bell103_carrier, 20},
      {"us_dial", "us", cp("us", ToneName::dial, 1), ToneName::dial, 20},
      {"us_ringback", "us", cp("us", ToneName::ringback, 2), ToneName::ringback, 20},
      {"us_busy", "us", cp("us", ToneName::busy, 4), ToneName::busy, 20},
      {"us_reorder", "us", cp("us", ToneName::reorder, 6), ToneName::reorder, 20},
      {"us_sit", "us", cp("us", ToneName::sit, 1), ToneName::sit, 20},
      {"etsi_dial", "etsi", cp("etsi", ToneName::dial, 1), ToneName::dial, 20},
      {"etsi_ringback", "etsi", cp("etsi", ToneName::ringback, 2), ToneName::ringback, 20},
      {"etsi_busy", "etsi", cp("etsi", ToneName::busy, 4), ToneName::busy, 20},
      {"etsi_reorder", "etsi", cp("etsi", ToneName::reorder, 6), ToneName::reorder, 20},
      {"etsi_sit", "etsi", cp("etsi", ToneName::sit, 1), ToneName::sit, 20},
      // A ring (440+480 Hz, 480 Hz being busy's too) 400 ms before busy is no part of it.
      {"us_busy_after_ring", "us",
       [](Signal& s) {
         const double f[] = {440, 480}, l[] = {-16, -16};
         s.tones(f, l, 2000).silence(400);
         synth::call_progress(s, profile("us"), ToneName::busy, 4);
         s.silence(2000);
       },
       ToneName::busy, 20, 2400},
  };
}

// Silence before the tone, in ms: sample offsets that fall anywhere in a 10 ms screen block,
// an 8 ms and a 20 ms chunk, and a DTMF block.
constexpr double kLeads[] = {1000.0, 1003.375, 1017.625, 1041.25, 1506.5, 2222.875};

struct Result {
  bool found = false;
  double onset_s = 0, t_s = 0;
  std::string events;
};

// One second of a recorded prompt that is loudest in its last 100 ms (talking right up to
// where the tone will start), or empty without the corpus.
const std::vector<std::int16_t>& speech() {
  static const std::vector<std::int16_t> clip = [] {
    for (const auto& f : synth::asterisk_corpus()) {
      if (f.string().find("/sounds/") == std::string::npos) continue;
      const WavAudio a = read_wav(f);
      if (a.linear.size() < 24000) continue;
      double best = 0;
      std::size_t end = 0;
      for (std::size_t e = 8000; e <= a.linear.size(); e += 80) {
        double energy = 0;
        for (std::size_t i = e - 800; i < e; ++i) energy += double(a.linear[i]) * a.linear[i];
        if (energy > best) {
          best = energy;
          end = e;
        }
      }
      return std::vector<std::int16_t>(a.linear.begin() + static_cast<std::ptrdiff_t>(end - 8000),
                                       a.linear.begin() + static_cast<std::ptrdiff_t>(end));
    }
    return std::vector<std::int16_t>{};
  }();
  return clip;
}

Result run(const OnsetCase& c, double lead_ms, std::size_t chunk, bool gating, double noise_dbm0,
           bool after_speech = false) {
  Signal s;
  s.silence(lead_ms);
  if (after_speech) {
    // The prompt's last second ends exactly where the lead does: speech up to the tone.
    const auto& x = speech();
    s.samples().resize(s.size() - 8000);
    s.append(x);
  }
  c.tone(s);
  s.silence(1000);
  if (noise_dbm0 > -99) s.noise(noise_dbm0, 17);
  BankConfig cfg;
  cfg.country = c.country;
  cfg.law = c.country == "etsi" ? Law::alaw : Law::ulaw;
  cfg.gating.enabled = gating;
  Result r;
  ChannelDetectorBank bank(cfg, [&](const Event& e) {
    r.events += describe(e) + "; ";
    if (r.found || e.kind != EventKind::tone || e.tone != c.want) return;
    r.found = true;
    r.onset_s = e.onset_s;
    r.t_s = e.t_s;
  });
  const std::vector<std::uint8_t> coded = s.g711(cfg.law);
  for (std::size_t i = 0; i < coded.size(); i += chunk)
    bank.rx_g711(std::span(coded).subspan(i, std::min(chunk, coded.size() - i)));
  bank.flush();
  return r;
}

void check(const OnsetCase& c, std::size_t chunk, bool gating, double noise_dbm0,
           bool after_speech = false) {
  double lo = 1e9, hi = -1e9, mean_latency = 0;
  for (double lead : kLeads) {
    SCOPED_TRACE(c.name + " lead " + std::to_string(lead) + " ms, chunk " + std::to_string(chunk) +
                 (gating ? "" : ", ungated"));
    const Result r = run(c, lead, chunk, gating, noise_dbm0, after_speech);
    ASSERT_TRUE(r.found) << r.events;
    const double error_ms = (r.onset_s - (lead + c.starts_ms) / 1000.0) * 1000.0;
    EXPECT_LE(std::fabs(error_ms), c.tolerance_ms) << r.events;
    // Still reported when recognised, well into the tone.
    EXPECT_GE(r.t_s - r.onset_s, 0.1) << r.events;
    lo = std::min(lo, error_ms);
    hi = std::max(hi, error_ms);
    mean_latency += (r.t_s - (lead + c.starts_ms) / 1000.0) / std::size(kLeads);
  }
  std::printf(
      "onset %-16s chunk %3zu%s noise %4.0f%s: error %+5.1f..%+5.1f ms, reported %.3f s in\n",
      c.name.c_str(), chunk, gating ? "" : " ungated", noise_dbm0,
      after_speech ? " after speech" : "", lo, hi, mean_latency);
}

void PrintTo(const OnsetCase& c, std::ostream* os) {
  *os << c.name;
}

class Onset : public ::testing::TestWithParam<OnsetCase> {};

TEST_P(Onset, WithinToleranceOfTheTruth) {
  for (std::size_t chunk : {160u, 64u}) check(GetParam(), chunk, true, -100);
}

TEST_P(Onset, UngatedAndInLineNoise) {
  check(GetParam(), 160, false, -100);
  check(GetParam(), 160, true, -45);
}

TEST_P(Onset, RightAfterSpeech) {
  if (speech().empty())
    GTEST_FAIL() << "asterisk-core-sounds-en-wav is not installed: scripts/setup.sh installs it";
  check(GetParam(), 160, true, -100, true);
}

INSTANTIATE_TEST_SUITE_P(Tones, Onset, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

// Digits: the onset is the digit's own start.
TEST(OnsetDigits, DigitOnsetIsItsStart) {
  Signal s;
  s.silence(503.375);
  std::mt19937 rng(1);
  synth::key_dtmf(s, "5", synth::DtmfKeying{}, rng);
  s.silence(500);
  std::vector<Event> got;
  ChannelDetectorBank bank(BankConfig{}, [&](const Event& e) { got.push_back(e); });
  const auto x = s.g711(Law::ulaw);
  for (std::size_t i = 0; i < x.size(); i += 160)
    bank.rx_g711(std::span(x).subspan(i, std::min<std::size_t>(160, x.size() - i)));
  bank.flush();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].onset_s, got[0].t_s);
  EXPECT_NEAR(got[0].onset_s, 0.503375, 0.003);
}

// A CNG burst 1.2345 s into the stream, as the bank reports it.
std::vector<Event> cng_events() {
  Signal s;
  s.silence(1234.5).tone(1100, -12, 500).silence(3000);
  std::vector<Event> got;
  ChannelDetectorBank bank(BankConfig{}, [&](const Event& e) { got.push_back(e); });
  const auto x = s.g711(Law::ulaw);
  for (std::size_t i = 0; i < x.size(); i += 160)
    bank.rx_g711(std::span(x).subspan(i, std::min<std::size_t>(160, x.size() - i)));
  bank.flush();
  return got;
}

// The call record's in-band events: `time` stays the recognition, `onset` is added for tones.
TEST(OnsetRecord, InbandToneCarriesOnset) {
  const std::vector<Event> events = cng_events();
  ASSERT_EQ(events.size(), 1u);
  const hal::Timestamp origin = *hal::parse_time("2027-01-05T09:00:00Z");
  std::vector<calls::InbandEvent> inband;
  for (const Event& e : events) inband.push_back(calls::to_inband(e, origin, hal::Side::Carrier));
  const auto j = store::inband_to_json(inband);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["tone"], "fax-cng");
  EXPECT_EQ(j[0]["onset"], "2027-01-05T09:00:01.234Z");  // 1.2345 s, milliseconds shown
  EXPECT_EQ(
      j[0]["time"],
      hal::format_time(origin + std::chrono::microseconds(std::llround(events[0].t_s * 1e6))));
  EXPECT_GT(events[0].t_s - events[0].onset_s, 0.4);
}

// `trunkwatch dsp`: a tone's "t" is its onset, "reported" when it was recognised.
TEST(OnsetCli, DspPrintsOnsetAndReported) {
  const auto dir = test::temp_dir("dsp-onset");
  const auto wav = dir / "cng.wav";
  {
    Signal s;
    s.silence(1234.5).tone(1100, -12, 500).silence(3000);
    const std::vector<std::int16_t> pcm = s.linear();
    // A plain 16-bit PCM WAV header (RIFF, fmt, data), little-endian.
    auto le = [](std::ofstream& o, std::uint32_t v, int bytes) {
      for (int i = 0; i < bytes; ++i) o.put(static_cast<char>((v >> (8 * i)) & 0xff));
    };
    std::ofstream o(wav, std::ios::binary | std::ios::trunc);
    const auto data = static_cast<std::uint32_t>(pcm.size() * 2);
    o << "RIFF";
    le(o, 36 + data, 4);
    o << "WAVEfmt ";
    le(o, 16, 4);
    le(o, 1, 2);     // PCM
    le(o, 1, 2);     // mono
    le(o, 8000, 4);  // rate
    le(o, 16000, 4);
    le(o, 2, 2);
    le(o, 16, 2);
    o << "data";
    le(o, data, 4);
    for (std::int16_t v : pcm) le(o, static_cast<std::uint16_t>(v), 2);
  }
  const auto r = test::run_trunkwatch("dsp " + wav.string(), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = test::lines_of(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  const auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["type"], "tone");
  EXPECT_EQ(j["tone"], "fax-cng");
  EXPECT_NEAR(j["t"].get<double>(), 1.2345, 0.002);
  EXPECT_NEAR(j["reported"].get<double>(), 1.2345 + 0.42, 0.03);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tw::dsp
