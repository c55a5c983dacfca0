// The traffic simulator: a span source that runs real libpri stacks on both ends of every
// simulated PRI span (PBX and carrier, joined by a socketpair) and copies every frame they
// exchange to a tap. The frames are exactly what libpri writes, so decoding them is a real
// test of the passive decoder; truth() says what really happened.
#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hal/replay/pcap_io.hpp"
#include "hal/sim/scenario.hpp"
#include "trunkwatch/hal/source.hpp"

namespace tw::sim {

// What happened to one call, from the simulator's own bookkeeping (never from decoding).
struct TruthCall {
  int span = 0;
  std::optional<int> channel;
  std::string direction;        // "outbound" when the PBX side sent the SETUP, else "inbound"
  std::string calling, called;  // called: the full number, overlap digits included
  // Times the simulator stamped on the frames carrying the SETUP, the CONNECT and the first
  // clearing message (DISCONNECT, RELEASE, RELEASE COMPLETE, or a RESTART of the channel).
  std::optional<hal::Timestamp> start, answer, end;
  double duration_s = 0;     // end - answer; 0 when unanswered
  std::optional<int> cause;  // of the first clearing message; none when a RESTART ended it
  bool partial = false;      // the SETUP went by before the capture started
  std::string keypad;        // digits sent as keypad facility
  // With audio: what the B-channel carried, as trunkwatch should report it.
  bool audio = false;
  std::string digits_in;          // DTMF keyed from the carrier side (whole, with audio after them)
  std::string digits_out;         // DTMF keyed on the PBX side
  std::string digits;             // "in:<digits_in> out:<digits_out>", as a call record has them
  std::string call_type;          // "voice", "fax", "modem", "unknown" (silence, or not answered)
  bool second_dial_tone = false;  // the PBX played a whole dial tone after answering
};

// One JSON object per line: span, channel, direction, calling, called, start, answer, end
// (RFC 3339 UTC with milliseconds, or null), duration_s, cause, partial, keypad when the
// call sent some, and with audio digits, digits_in, digits_out, call_type, second_dial_tone.
void write_truth_jsonl(std::ostream& out, const std::vector<TruthCall>& calls);

struct SimOptions {
  double speed = 0;  // 0 = as fast as possible, else simulated seconds per wall second
  // If set, every tapped frame (garbage included) goes there too, and a manifest next to it
  // (OUT.audio.json, docs/capture-format.md) says what each span is, with or without audio.
  std::string pcap_path;
  // B-channel audio (also switched on by a scenario's [audio] enabled): every call carries
  // 20 ms AudioChunks in both directions while answered (ringback from the called side while
  // it rings), interleaved in time order with the frames. With pcap_path, the audio is also
  // written next to it as WAV files and a manifest (docs/capture-format.md).
  bool audio = false;
  // The capture's format: pcapng (one interface per span, which survives re-saving in
  // Wireshark, 64-bit times) or classic pcap (docs/capture-format.md).
  hal::CaptureFormat pcap_format = hal::CaptureFormat::Pcapng;
};

class Simulator : public hal::SpanSource {
 public:
  explicit Simulator(Scenario scenario, SimOptions options = {});
  ~Simulator() override;
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  const std::vector<hal::SpanInfo>& spans() const override;
  // Plays the scenario once: frames with the virtual clock's time, on_tick at least once per
  // simulated second, SourceEnd last. Fails if the scenario cannot be played (a Q.921 link
  // that does not come up, a pcap that cannot be written, a stack misbehaving).
  hal::SourceError run(hal::SpanSink& sink) override;
  // May be called from another thread; run() then ends early (SourceEnd still goes out).
  void stop() override;

  // Calls whose SETUP was sent and that were not over before the capture started, in SETUP
  // order. Complete once run() has returned.
  const std::vector<TruthCall>& truth() const;
  // Real frames handed to the sink (after the capture start), and injected garbage frames.
  std::size_t frames_tapped() const;
  std::size_t frames_injected() const;
  // Calls not placed because every B-channel of their span was busy.
  std::size_t calls_blocked() const;
  // Audio chunks handed to the sink (after the capture start).
  std::size_t audio_chunks() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tw::sim
