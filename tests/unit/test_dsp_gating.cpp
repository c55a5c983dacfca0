// Gating must not cost a single event: the bank with every detector on every sample and
// the gated bank report the same events (kind, digit/tone, time, level, duration) on the
// same audio, and the gated one runs its costly detectors on a small part of it.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "dsp/detector_bank.hpp"
#include "dsp/synth.hpp"
#include "dsp/wav_reader.hpp"

namespace tw::dsp {
namespace {

struct Outcome {
  std::vector<Event> events;
  BankStats stats;
};

Outcome run(const std::vector<std::int16_t>& lin, bool gating, std::size_t chunk,
            const std::string& country) {
  BankConfig cfg;
  cfg.gating.enabled = gating;
  cfg.country = country;
  Outcome r;
  ChannelDetectorBank bank(cfg, [&](const Event& e) { r.events.push_back(e); });
  for (std::size_t i = 0; i < lin.size(); i += chunk)
    bank.rx(std::span(lin).subspan(i, std::min(chunk, lin.size() - i)));
  bank.flush();
  r.stats = bank.stats();
  return r;
}

std::string dump(const std::vector<Event>& ev) {
  std::string s;
  for (const Event& e : ev) s += describe(e) + "\n";
  return s;
}

const std::vector<std::vector<std::int16_t>>& speech() {
  static const auto v = [] {
    std::vector<std::vector<std::int16_t>> c;
    for (const auto& f : synth::asterisk_corpus()) {
      WavAudio a = read_wav(f);
      if (a.linear.size() > 16000) c.push_back(std::move(a.linear));
    }
    return c;
  }();
  return v;
}

class Gating : public ::testing::TestWithParam<std::string> {};

TEST_P(Gating, SameEventsOnDenseMixedAudio) {
  const std::string country = GetParam();
  auto profile = *country_profile(country);
  std::size_t total = 0;
  std::int64_t run_gated = 0, run_ungated = 0;
  for (std::uint32_t ch = 0; ch < 6; ++ch) {
    // Tones back to back with speech, music, silence and digits between them.
    auto audio = synth::mixed_channel(500 + ch, 40.0, speech(), profile);
    for (std::size_t chunk : {std::size_t{160}, std::size_t{64}}) {
      Outcome gated = run(audio, true, chunk, country), ungated = run(audio, false, chunk, country);
      EXPECT_EQ(dump(gated.events), dump(ungated.events)) << "channel " << ch << " chunk " << chunk;
      EXPECT_EQ(gated.events, ungated.events);
      total += gated.events.size();
      for (auto s : gated.stats.run_samples) run_gated += s;
      for (auto s : ungated.stats.run_samples) run_ungated += s;
    }
  }
  std::printf("%s: %zu events, gated detectors ran %.1f%% of the ungated samples\n",
              country.c_str(), total,
              100.0 * static_cast<double>(run_gated) / static_cast<double>(run_ungated));
  EXPECT_GT(total, 100U);  // the audio does hold plenty to detect
  EXPECT_LT(run_gated * 3, run_ungated);
}

INSTANTIATE_TEST_SUITE_P(Countries, Gating, ::testing::Values("us", "etsi"));

TEST(Gating, SameEventsOnTrunkTraffic) {
  auto profile = *country_profile("us");
  std::size_t total = 0;
  for (std::uint32_t ch = 0; ch < 6; ++ch) {
    auto audio = synth::trunk_channel(900 + ch, 60.0, speech(), profile);
    Outcome gated = run(audio, true, 160, "us"), ungated = run(audio, false, 160, "us");
    EXPECT_EQ(dump(gated.events), dump(ungated.events)) << "channel " << ch;
    total += gated.events.size();
  }
  EXPECT_GT(total, 10U);
}

TEST(Gating, SameEventsOnTheRecordings) {
  // Every 6th prompt and all music: what gating could miss there is a false positive the
  // ungated bank makes, and the verifiers keep both at zero.
  const auto& c = speech();
  if (c.size() < 100) GTEST_FAIL() << "Asterisk sounds not installed: scripts/setup.sh installs it";
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (i % 6 != 0 && c[i].size() < 8000 * 60) continue;
    Outcome gated = run(c[i], true, 160, "us"), ungated = run(c[i], false, 160, "us");
    EXPECT_EQ(dump(gated.events), dump(ungated.events)) << "file " << i;
  }
}

TEST(Gating, ChunkSizeDoesNotChangeDigits) {
  auto profile = *country_profile("us");
  auto audio = synth::mixed_channel(77, 30.0, speech(), profile);
  std::string a, b;
  for (const Event& e : run(audio, true, 160, "us").events)
    if (e.kind == EventKind::dtmf) a += describe(e) + "\n";
  for (const Event& e : run(audio, true, 64, "us").events)
    if (e.kind == EventKind::dtmf) b += describe(e) + "\n";
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a.empty());
}

}  // namespace
}  // namespace tw::dsp
