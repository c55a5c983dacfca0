// Talk-off: ~44 minutes of recorded IVR prompts and music on hold (Debian's
// asterisk-core-sounds-en-wav and asterisk-moh-opsound-wav), carried in G.711 as a trunk
// would, must not produce a single digit, and no tone but one: the monkeys' screech in
// tt-monkeys.wav passes for a Bell 103 carrier (as it did before short answer tones were
// reported; no answer tone, short or long, and no call-progress tone).
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "dsp/detector_bank.hpp"
#include "dsp/synth.hpp"
#include "dsp/wav_reader.hpp"

namespace tw::dsp {
namespace {

struct Corpus {
  std::vector<std::pair<std::string, std::vector<std::int16_t>>> files;
  double seconds = 0.0;
};

const Corpus& corpus() {
  static const Corpus c = [] {
    Corpus k;
    for (const auto& f : synth::asterisk_corpus()) {
      WavAudio a = read_wav(f);
      if (a.encoding != WavAudio::Encoding::pcm16) continue;
      k.seconds += static_cast<double>(a.linear.size()) / 8000.0;
      k.files.emplace_back(f.filename().string(), std::move(a.linear));
    }
    return k;
  }();
  return c;
}

struct Result {
  std::map<EventKind, int> counts;
  std::vector<std::string> where;
  std::vector<std::string> tones;
};

const std::vector<std::string> kKnownTones = {
    "tt-monkeys.wav: tone bell103-carrier @7.110s from 6.965s"};

Result run(const BankConfig& cfg) {
  Result r;
  for (const auto& [name, pcm] : corpus().files) {
    std::vector<std::uint8_t> coded(pcm.size());
    for (std::size_t i = 0; i < pcm.size(); ++i) coded[i] = g711_encode(cfg.law, pcm[i]);
    ChannelDetectorBank bank(cfg, [&, n = name](const Event& e) {
      ++r.counts[e.kind];
      (e.kind == EventKind::tone ? r.tones : r.where).push_back(n + ": " + describe(e));
    });
    for (std::size_t i = 0; i < coded.size(); i += 160)
      bank.rx_g711(std::span(coded).subspan(i, std::min<std::size_t>(160, coded.size() - i)));
    bank.flush();
  }
  return r;
}

class TalkOff : public ::testing::Test {
 protected:
  void SetUp() override {
    if (corpus().seconds < 600.0)
      GTEST_FAIL() << "asterisk-core-sounds-en-wav / asterisk-moh-opsound-wav not installed: "
                      "scripts/setup.sh installs it";
  }
};

TEST_F(TalkOff, CorpusIsTheExpectedSize) {
  std::printf("talk-off corpus: %zu files, %.1f minutes\n", corpus().files.size(),
              corpus().seconds / 60.0);
  EXPECT_GT(corpus().seconds, 35.0 * 60.0);
}

TEST_F(TalkOff, NoDtmfDigitsAndNoBellMfDigitsMuLaw) {
  BankConfig cfg;
  cfg.law = Law::ulaw;
  cfg.bell_mf = true;
  Result r = run(cfg);
  for (const auto& w : r.where) std::printf("  talk-off: %s\n", w.c_str());
  std::printf("mu-law: DTMF %d, Bell MF %d digits, %d tones over %.1f min\n",
              r.counts[EventKind::dtmf], r.counts[EventKind::mf], r.counts[EventKind::tone],
              corpus().seconds / 60.0);
  EXPECT_EQ(r.counts[EventKind::dtmf], 0);
  EXPECT_EQ(r.counts[EventKind::mf], 0);
  EXPECT_EQ(r.tones, kKnownTones);
}

TEST_F(TalkOff, NoDtmfDigitsAndNoR2DigitsALaw) {
  for (bool forward : {true, false}) {
    BankConfig cfg;
    cfg.law = Law::alaw;
    cfg.r2_mf = true;
    cfg.r2_forward = forward;
    Result r = run(cfg);
    for (const auto& w : r.where) std::printf("  talk-off: %s\n", w.c_str());
    std::printf("A-law: DTMF %d, R2 %s %d signals, %d tones over %.1f min\n",
                r.counts[EventKind::dtmf], forward ? "forward" : "backward",
                r.counts[EventKind::mf], r.counts[EventKind::tone], corpus().seconds / 60.0);
    EXPECT_EQ(r.counts[EventKind::dtmf], 0);
    EXPECT_EQ(r.counts[EventKind::mf], 0) << (forward ? "forward" : "backward");
    EXPECT_EQ(r.tones, kKnownTones) << (forward ? "forward" : "backward");
  }
}

}  // namespace
}  // namespace tw::dsp
