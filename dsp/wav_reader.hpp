// Reading recordings for `trunkwatch dsp`: 8 kHz mono WAV, 16-bit PCM, mu-law or A-law.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dsp/g711.hpp"

namespace tw::dsp {

// The message says what is wrong in words a user can act on.
class WavError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct WavAudio {
  enum class Encoding { pcm16, ulaw, alaw };
  Encoding encoding = Encoding::pcm16;
  std::vector<std::int16_t> linear;  // pcm16 files
  std::vector<std::uint8_t> coded;   // G.711 files: the bytes as the trunk carried them
  std::size_t frames() const { return encoding == Encoding::pcm16 ? linear.size() : coded.size(); }
  std::optional<Law> law() const;  // G.711 files
};

// Throws WavError for a missing, unreadable, non-WAV, non-8 kHz, non-mono or otherwise
// encoded file.
WavAudio read_wav(const std::filesystem::path& path);

// Writes `linear` as an 8 kHz mono WAV: 16-bit PCM, or G.711 with `law`. Throws WavError.
void write_wav(const std::filesystem::path& path, const std::vector<std::int16_t>& linear,
               std::optional<Law> law = std::nullopt);

}  // namespace tw::dsp
