// DTMF accept/reject matrix (ITU-T Q.24 / Bellcore LSSGR limits) on signals made here from
// plain sine sums, independent of the code under test, carried through G.711 (both laws).
// Every case keys 32 digits (all 16 twice) and must give exactly that string, or nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "dsp/detector_bank.hpp"

namespace tw::dsp {
namespace {

constexpr double kRow[4] = {697, 770, 852, 941};
constexpr double kCol[4] = {1209, 1336, 1477, 1633};
constexpr std::string_view kKeys = "123A456B789C*0#D";

struct Case {
  std::string name;
  bool accept = true;
  double low_dbm0 = -10, high_dbm0 = -10;  // per tone
  double low_dev = 0, high_dev = 0;        // relative frequency error
  double on_ms = 50, off_ms = 50;
  double snr_db = 0;  // 0: no noise; else white noise this far below the pair's power
};

// A full-scale sine is +3.14 dBm0 (G.711).
double amplitude(double dbm0) {
  return 32767.0 * std::pow(10.0, (dbm0 - 3.14) / 20.0);
}

std::vector<std::uint8_t> keyed(const Case& c, const std::string& digits, Law law, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> phase(0.0, 2.0 * std::numbers::pi);
  std::vector<double> x(800, 0.0);  // 100 ms lead-in
  for (char d : digits) {
    const auto k = kKeys.find(d);
    const double fl = kRow[k / 4] * (1.0 + c.low_dev), fh = kCol[k % 4] * (1.0 + c.high_dev);
    const double al = amplitude(c.low_dbm0), ah = amplitude(c.high_dbm0);
    const double pl = phase(rng), ph = phase(rng);
    const int on = static_cast<int>(c.on_ms * 8.0), off = static_cast<int>(c.off_ms * 8.0);
    for (int n = 0; n < on; ++n) {
      const double t = n / 8000.0;
      x.push_back(al * std::sin(2.0 * std::numbers::pi * fl * t + pl) +
                  ah * std::sin(2.0 * std::numbers::pi * fh * t + ph));
    }
    x.insert(x.end(), static_cast<std::size_t>(off), 0.0);
  }
  x.insert(x.end(), 800, 0.0);
  if (c.snr_db > 0.0) {
    // Noise relative to the pair's power (each tone A^2 / 2).
    const double pair =
        (std::pow(amplitude(c.low_dbm0), 2) + std::pow(amplitude(c.high_dbm0), 2)) / 2.0;
    std::normal_distribution<double> noise(0.0, std::sqrt(pair / std::pow(10.0, c.snr_db / 10.0)));
    for (double& v : x) v += noise(rng);
  }
  std::vector<std::uint8_t> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    out[i] = g711_encode(
        law, static_cast<std::int16_t>(std::clamp(std::round(x[i]), -32768.0, 32767.0)));
  return out;
}

std::string detect(const std::vector<std::uint8_t>& coded, Law law, std::size_t chunk) {
  BankConfig cfg;
  cfg.law = law;
  std::string got;
  ChannelDetectorBank bank(cfg, [&](const Event& e) {
    if (e.kind == EventKind::dtmf) got += e.digit;
  });
  for (std::size_t i = 0; i < coded.size(); i += chunk)
    bank.rx_g711(std::span(coded).subspan(i, std::min(chunk, coded.size() - i)));
  bank.flush();
  return got;
}

std::vector<Case> cases() {
  std::vector<Case> v;
  v.push_back({"nominal -10 dBm0, 50/50 ms"});
  for (double d : {0.015, -0.015}) {
    const std::string s = d > 0 ? "+1.5%" : "-1.5%";
    v.push_back({"low tone " + s, true, -10, -10, d, 0});
    v.push_back({"high tone " + s, true, -10, -10, 0, d});
    v.push_back({"both tones " + s, true, -10, -10, d, d});
  }
  v.push_back({"low +1.5%, high -1.5%", true, -10, -10, 0.015, -0.015});
  v.push_back({"low -1.5%, high +1.5%", true, -10, -10, -0.015, 0.015});
  v.push_back({"twist: low louder by 8 dB", true, -10, -18});
  v.push_back({"twist: high louder by 4 dB", true, -14, -10});
  v.push_back({"-25 dBm0 per tone", true, -25, -25});
  v.push_back({"-25 dBm0, both tones -1.5%", true, -25, -25, -0.015, -0.015});
  v.push_back({"-25 dBm0 low, twist 8 dB", true, -25, -33});
  v.push_back({"-29 dBm0 low, reverse twist 4 dB", true, -29, -25});
  v.push_back({"40 ms tones, 40 ms pauses", true, -10, -10, 0, 0, 40, 40});
  v.push_back({"40/40 ms, both tones +1.5%", true, -10, -10, 0.015, 0.015, 40, 40});
  v.push_back({"40/40 ms, twist 8 dB", true, -10, -18, 0, 0, 40, 40});
  v.push_back({"15 dB SNR", true, -10, -10, 0, 0, 50, 50, 15});
  v.push_back({"15 dB SNR, -25 dBm0, 40/40 ms", true, -25, -25, 0, 0, 40, 40, 15});
  for (double d : {0.035, -0.035}) {
    const std::string s = d > 0 ? "+3.5%" : "-3.5%";
    v.push_back({"reject: low tone " + s, false, -10, -10, d, 0});
    v.push_back({"reject: high tone " + s, false, -10, -10, 0, d});
    v.push_back({"reject: both tones " + s, false, -10, -10, d, d});
  }
  v.push_back({"reject: 20 ms tones", false, -10, -10, 0, 0, 20, 40});
  v.push_back({"reject: -55 dBm0 per tone", false, -55, -55});
  return v;
}

std::string thirty_two() {
  return std::string(kKeys) + std::string(kKeys);
}

class DtmfMatrix : public ::testing::TestWithParam<Case> {};

TEST_P(DtmfMatrix, ExactDigits) {
  const Case& c = GetParam();
  const std::string want = c.accept ? thirty_two() : "";
  int seed = 1;
  for (Law law : {Law::ulaw, Law::alaw})
    for (std::size_t chunk : {std::size_t{160}, std::size_t{64}}) {
      const std::string got =
          detect(keyed(c, thirty_two(), law, static_cast<unsigned>(seed++)), law, chunk);
      const int hits = [&] {
        int n = 0;
        for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i) n += got[i] == want[i];
        return c.accept ? n : static_cast<int>(got.size());
      }();
      std::printf("| %-36s | %-5s | %3zu | %s %2d/32 |\n", c.name.c_str(),
                  std::string(to_string(law)).c_str(), chunk, c.accept ? "detected" : "false   ",
                  hits);
      EXPECT_EQ(got, want) << c.name << " law " << to_string(law) << " chunk " << chunk;
    }
}

INSTANTIATE_TEST_SUITE_P(Q24, DtmfMatrix, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           std::string n;
                           for (char ch : i.param.name)
                             n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return n + "_" + std::to_string(i.index);
                         });

}  // namespace
}  // namespace tw::dsp
