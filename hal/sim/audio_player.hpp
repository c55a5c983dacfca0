// The simulator's audio player: what each B-channel plays (ringback, speech, tones, DTMF,
// fax and modem, from hal/sim/audio.*), sent in 20 ms chunks on a grid from the scenario
// start, interleaved in time with the frames, and written as WAV files with the capture's
// manifest. Internal to hal/sim.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hal/replay/audio_capture.hpp"
#include "hal/sim/audio.hpp"
#include "hal/sim/run_state.hpp"
#include "hal/sim/scheduler.hpp"
#include "trunkwatch/hal/source.hpp"

namespace tw::sim::detail {

// Where a call's audio goes: its span and B-channel.
struct CallLine {
  const CallSpec* spec;
  const hal::SpanInfo* span;
  int channel;
};

class AudioPlayer {
 public:
  // enabled: SimOptions::audio or the scenario's [audio] enabled; seed: the scenario's.
  AudioPlayer(bool enabled, unsigned seed, RunState& state)
      : enabled_(enabled), seed_(seed), state_(state) {}

  bool enabled() const { return enabled_; }
  // Decodes the recorded prompts if an answered call of `calls` carries speech.
  void load(const std::vector<CallSpec>& calls);
  // Opens the manifest next to the capture (always: it tells a replay each span's type and
  // switch type) and, with audio, the WAV directory; a failure fails the run.
  void open_capture(const std::string& pcap_path, const std::vector<hal::SpanInfo>& spans);
  void close_capture();
  // Chunks go out from `first_chunk` on; those before `capture_start` are played, not sent.
  void start(hal::Timestamp first_chunk, hal::Timestamp capture_start);

  // Call `call` goes on the air (ALERTING: ringback; CONNECT: its audio). Audio only.
  void ring(int call, const CallLine& line) { voice(call, line).ring(); }
  void answer(int call, const CallLine& line) { voice(call, line).answer(); }
  // The first clearing message (or a RESTART) takes the call off the air.
  void stop(int call);
  void stop_all();

  // Sends every chunk stamped at or before `t`; at one instant by span, channel, Pbx before
  // Carrier. A chunk goes out before any frame of the same time: it is stamped with its first
  // sample.
  void emit_until(hal::Timestamp t, hal::SpanSink& sink, const Scheduler& clock);

  // What call `call` played, or null if it never went on the air.
  const CallAudio* played(int call) const;
  std::size_t chunks() const { return chunks_; }

 private:
  struct Voice {
    std::unique_ptr<CallAudio> audio;
    int span_id = 0;
    int channel = 0;
    bool alaw = false;
    std::array<int, 2> capture_stream{-1, -1};  // AudioCaptureWriter stream per side
  };

  CallAudio& voice(int call, const CallLine& line);
  void emit_call(int call, hal::SpanSink& sink);
  std::uint64_t call_seed(int call) const;

  bool enabled_;
  unsigned seed_;
  RunState& state_;
  std::unique_ptr<AudioLibrary> library_;
  std::vector<Voice> voices_;  // by call
  std::vector<int> on_air_;    // calls with a direction on the air, by span and channel
  hal::Timestamp next_{};      // the next chunk's time
  hal::Timestamp capture_start_{};
  std::array<std::int16_t, hal::kChunkSamples> buffer_{};
  hal::AudioCaptureWriter capture_;
  std::size_t chunks_ = 0;
};

}  // namespace tw::sim::detail
