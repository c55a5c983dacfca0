#include "dsp/wav_reader.hpp"

#include <sndfile.h>

#include <memory>

namespace tw::dsp {

namespace {
struct SndClose {
  void operator()(SNDFILE* f) const noexcept { sf_close(f); }
};
using SndPtr = std::unique_ptr<SNDFILE, SndClose>;

std::string subtype_name(int format) {
  SF_FORMAT_INFO info{};
  info.format = format & SF_FORMAT_SUBMASK;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &info, sizeof info) == 0 && info.name != nullptr)
    return info.name;
  return "unknown encoding";
}
}  // namespace

std::optional<Law> WavAudio::law() const {
  if (encoding == Encoding::ulaw) return Law::ulaw;
  if (encoding == Encoding::alaw) return Law::alaw;
  return std::nullopt;
}

WavAudio read_wav(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw WavError(name + ": no such file");
  if (std::filesystem::is_directory(path, ec)) throw WavError(name + ": is a directory");
  SF_INFO info{};
  SndPtr f(sf_open(name.c_str(), SFM_READ, &info));
  if (!f) throw WavError(name + ": not a readable audio file (" + sf_strerror(nullptr) + ")");
  if ((info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_WAV &&
      (info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_WAVEX)
    throw WavError(name + ": not a WAV file");
  if (info.samplerate != 8000)
    throw WavError(name + ": sample rate is " + std::to_string(info.samplerate) +
                   " Hz; need 8000 Hz");
  if (info.channels != 1)
    throw WavError(name + ": has " + std::to_string(info.channels) +
                   " channels; need mono (one direction of one B-channel)");
  WavAudio a;
  const int sub = info.format & SF_FORMAT_SUBMASK;
  const auto frames = static_cast<std::size_t>(info.frames);
  if (sub == SF_FORMAT_PCM_16) {
    a.encoding = WavAudio::Encoding::pcm16;
    a.linear.resize(frames);
    if (sf_readf_short(f.get(), a.linear.data(), info.frames) != info.frames)
      throw WavError(name + ": truncated audio data");
  } else if (sub == SF_FORMAT_ULAW || sub == SF_FORMAT_ALAW) {
    a.encoding = sub == SF_FORMAT_ULAW ? WavAudio::Encoding::ulaw : WavAudio::Encoding::alaw;
    a.coded.resize(frames);
    // The raw bytes, so the bank decodes them exactly as it decodes a trunk.
    if (sf_read_raw(f.get(), a.coded.data(), info.frames) != info.frames)
      throw WavError(name + ": truncated audio data");
  } else {
    throw WavError(name + ": encoding is " + subtype_name(info.format) +
                   "; need 16-bit PCM, mu-law or A-law");
  }
  return a;
}

void write_wav(const std::filesystem::path& path, const std::vector<std::int16_t>& linear,
               std::optional<Law> law) {
  SF_INFO info{};
  info.samplerate = 8000;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | (!law                ? SF_FORMAT_PCM_16
                                 : *law == Law::ulaw ? SF_FORMAT_ULAW
                                                     : SF_FORMAT_ALAW);
  SndPtr f(sf_open(path.string().c_str(), SFM_WRITE, &info));
  if (!f) throw WavError(path.string() + ": cannot write (" + sf_strerror(nullptr) + ")");
  auto n = static_cast<sf_count_t>(linear.size());
  if (sf_writef_short(f.get(), linear.data(), n) != n)
    throw WavError(path.string() + ": write failed");
}

}  // namespace tw::dsp
