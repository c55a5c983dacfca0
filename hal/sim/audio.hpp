// B-channel audio for simulated calls. Internal to hal/sim.
//
// Everything is generated in place, 20 ms at a time, with SpanDSP's own generators (dtmf_tx,
// tone_gen, modem_connect_tones_tx, fsk_tx) and recorded Asterisk prompts and music decoded
// once per Simulator (libsndfile), then passed through the span's G.711 law so the samples are
// exactly what a card would hand over. hal/sim does not use tw_dsp: hal is the first stage.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hal/sim/scenario.hpp"
#include "trunkwatch/hal/types.hpp"

namespace tw::sim::detail {

enum class Law : std::uint8_t { Ulaw, Alaw };

// Read-only audio material shared by every call of one Simulator.
class AudioLibrary {
 public:
  AudioLibrary();
  // Decodes a spread of the Asterisk prompts (asterisk-core-sounds-en-wav) and a little music
  // on hold (asterisk-moh-opsound-wav), once. Without them, a synthetic babble stands in.
  void load_prompts();
  std::size_t speech_clips() const { return speech_; }
  std::size_t clips() const { return clips_.size(); }
  std::span<const std::int16_t> clip(std::size_t i) const { return clips_[i]; }
  // Linear -> G.711 -> linear, from a table (one load per sample).
  std::int16_t through(Law law, std::int16_t v) const {
    return (law == Law::Ulaw ? ulaw_ : alaw_)[static_cast<std::uint16_t>(v)];
  }

 private:
  std::vector<std::vector<std::int16_t>> clips_;  // speech first, then music
  std::size_t speech_ = 0;
  std::vector<std::int16_t> ulaw_, alaw_;
  bool loaded_ = false;
};

class AudioStream;

// The audio of one call: one stream per direction, driven by the call's progress.
class CallAudio {
 public:
  CallAudio(const AudioLibrary& library, const CallSpec& spec, hal::SpanType span_type,
            std::uint64_t seed);
  ~CallAudio();
  CallAudio(const CallAudio&) = delete;
  CallAudio& operator=(const CallAudio&) = delete;

  // ALERTING: the called side plays ringback until the answer.
  void ring();
  // CONNECT: both directions carry the call's audio from the next chunk on.
  void answer();
  // First clearing message or RESTART: the B-channel goes quiet.
  void stop();
  bool active(hal::Side from) const;
  // The next 20 ms (or out.size() samples) transmitted by `from`.
  void render(hal::Side from, std::span<std::int16_t> out);

  // Ground truth. Digits count when their tone was sent whole and at least 200 ms of audio
  // followed it (a detector reports a digit when it ends).
  std::string digits(hal::Side from) const;
  // The whole second dial tone was played.
  bool dial_tone_played() const;
  std::string expected_call_type() const;

 private:
  AudioStream& stream(hal::Side from);

  const AudioLibrary& library_;
  CallSpec spec_;
  Law law_;
  bool etsi_;
  std::uint64_t seed_;
  std::array<std::unique_ptr<AudioStream>, 2> streams_;  // [Pbx, Carrier]
  std::array<bool, 2> active_{};
  bool answered_ = false;
  std::int64_t dial_tone_end_ = -1;  // Pbx stream sample where the dial tone ends
};

}  // namespace tw::sim::detail
