// The WAV reader behind `trunkwatch dsp`: 8 kHz mono 16-bit PCM, mu-law and A-law are read
// (G.711 as the raw bytes the trunk carried); anything else is refused with a message that
// says what is wrong.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dsp/detector_bank.hpp"
#include "dsp/synth.hpp"
#include "dsp/wav_reader.hpp"

namespace tw::dsp {
namespace {

namespace fs = std::filesystem;

class Wav : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tw_wav_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path path(const std::string& name) const { return dir_ / name; }

  // A file libsndfile writes in any format, for the refusals.
  fs::path write_raw(const std::string& name, int format, int rate, int channels) {
    SF_INFO info{};
    info.samplerate = rate;
    info.channels = channels;
    info.format = format;
    fs::path p = path(name);
    SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
    EXPECT_NE(f, nullptr) << sf_strerror(nullptr);
    std::vector<short> x(static_cast<std::size_t>(800 * channels), 1000);
    sf_writef_short(f, x.data(), 800);
    sf_close(f);
    return p;
  }

  std::string refusal(const fs::path& p) {
    try {
      read_wav(p);
    } catch (const WavError& e) {
      return e.what();
    }
    return "accepted";
  }

  fs::path dir_;
};

std::vector<std::int16_t> digits_audio() {
  synth::Signal s;
  std::mt19937 rng(3);
  s.silence(200);
  synth::key_dtmf(s, "4711#", synth::DtmfKeying{}, rng);
  s.silence(300);
  return s.linear();
}

std::string digits_in(const WavAudio& a) {
  BankConfig cfg;
  cfg.law = a.law().value_or(Law::ulaw);
  std::string got;
  ChannelDetectorBank bank(cfg, [&](const Event& e) { got += e.digit; });
  if (a.encoding == WavAudio::Encoding::pcm16)
    bank.rx(a.linear);
  else
    bank.rx_g711(a.coded);
  bank.flush();
  return got;
}

TEST_F(Wav, ReadsPcm16MuLawAndALaw) {
  const auto x = digits_audio();
  write_wav(path("pcm.wav"), x);
  write_wav(path("ulaw.wav"), x, Law::ulaw);
  write_wav(path("alaw.wav"), x, Law::alaw);
  WavAudio pcm = read_wav(path("pcm.wav")), ul = read_wav(path("ulaw.wav")),
           al = read_wav(path("alaw.wav"));
  EXPECT_EQ(pcm.encoding, WavAudio::Encoding::pcm16);
  EXPECT_EQ(pcm.linear, x);
  EXPECT_EQ(ul.encoding, WavAudio::Encoding::ulaw);
  EXPECT_EQ(ul.law(), Law::ulaw);
  EXPECT_EQ(al.encoding, WavAudio::Encoding::alaw);
  EXPECT_EQ(al.law(), Law::alaw);
  EXPECT_EQ(ul.frames(), x.size());
  EXPECT_EQ(al.frames(), x.size());
  // The G.711 bytes are the companded samples: they decode back close to the original.
  for (std::size_t i = 0; i < x.size(); i += 97) {
    EXPECT_NEAR(g711_decode(Law::ulaw, ul.coded[i]), x[i], 9 + std::abs(x[i]) / 16);
    EXPECT_NEAR(g711_decode(Law::alaw, al.coded[i]), x[i], 9 + std::abs(x[i]) / 16);
  }
  for (const WavAudio* a : {&pcm, &ul, &al}) EXPECT_EQ(digits_in(*a), "4711#");
}

TEST_F(Wav, RefusesWithAReason) {
  EXPECT_NE(
      refusal(write_raw("16k.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1)).find("8000 Hz"),
      std::string::npos);
  EXPECT_NE(
      refusal(write_raw("stereo.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 2)).find("mono"),
      std::string::npos);
  EXPECT_NE(refusal(write_raw("u8.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 8000, 1))
                .find("16-bit PCM, mu-law or A-law"),
            std::string::npos);
  EXPECT_NE(
      refusal(write_raw("float.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 8000, 1)).find("encoding"),
      std::string::npos);
  EXPECT_NE(
      refusal(write_raw("gsm.wav", SF_FORMAT_WAV | SF_FORMAT_GSM610, 8000, 1)).find("encoding"),
      std::string::npos);
  EXPECT_NE(refusal(write_raw("au.au", SF_FORMAT_AU | SF_FORMAT_ULAW, 8000, 1)).find("not a WAV"),
            std::string::npos);
  std::ofstream(path("text.wav")) << "this is not audio\n";
  EXPECT_NE(refusal(path("text.wav")).find("not a readable audio file"), std::string::npos);
  EXPECT_NE(refusal(path("missing.wav")).find("no such file"), std::string::npos);
  EXPECT_NE(refusal(dir_).find("directory"), std::string::npos);
}

}  // namespace
}  // namespace tw::dsp
