// The per-channel detector bank: one per B-channel per direction. Feed it 8 ms or 20 ms
// chunks of linear or G.711 audio; it reports digits and tones through the sink given at
// construction. The per-chunk path neither allocates nor locks.
//
// Gating (docs/dsp.md): a cheap Goertzel screen runs on every sample and wakes the costly
// detectors only when their frequencies carry the signal; a woken detector first replays
// the last ~200 ms from the bank's ring buffer, so it sees the tone from its start. With
// gating off every detector runs on every sample; both modes report the same events.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "dsp/dtmf.hpp"
#include "dsp/event.hpp"
#include "dsp/g711.hpp"

namespace tw::dsp {

struct GatingConfig {
  bool enabled = true;
  int preroll_ms = 200;    // replayed into a detector when it wakes
  int tone_hold_ms = 400;  // fax/modem detectors stay awake this long after the screen let go
  int dtmf_hold_ms = 60;
  float floor_dbm0 = -52.F;  // quieter blocks wake nothing (detectors' floors are ~-46)
};

struct BankConfig {
  Law law = Law::ulaw;         // for rx_g711()
  std::string country = "us";  // call-progress plan: country_names()
  bool dtmf = true;
  bool fax_modem = true;  // connect tones, V.21 preamble, FSK carriers
  bool call_progress = true;
  bool bell_mf = false;  // enable per span where R1 signaling is expected
  bool r2_mf = false;
  bool r2_forward = true;  // R2: this bank hears forward (true) or backward signals
  int mf_hold_ms = 0;      // MF hold-time filter; 0 = 50 ms Bell, 70 ms R2
  DtmfConfig dtmf_cfg;
  GatingConfig gating;
};

// Which detectors ran how much: the benchmark and the gating test read these.
struct BankStats {
  static constexpr int kUnits = 11;
  static constexpr std::array<std::string_view, kUnits> kUnitNames{
      "dtmf",           "fax-cng",        "ans",          "bell-ans",
      "calling-tone",   "v21-preamble",   "v21ch1-fsk",   "v21ch2-fsk",
      "bell103ch1-fsk", "bell103ch2-fsk", "call-progress"};
  std::int64_t samples = 0;
  std::int64_t voice_samples = 0;  // >= -45 dBm0 and not tonal: speech, music
  std::array<std::uint64_t, kUnits> wakes{};
  std::array<std::int64_t, kUnits> run_samples{};  // samples each detector was fed (with replay)
  double voice_s() const { return static_cast<double>(voice_samples) / 8000.0; }
};

class ChannelDetectorBank {
 public:
  // Throws std::invalid_argument for an unknown country and std::runtime_error when SpanDSP
  // cannot build a detector.
  ChannelDetectorBank(const BankConfig& cfg, EventSink sink);
  ~ChannelDetectorBank();
  ChannelDetectorBank(ChannelDetectorBank&&) noexcept;
  ChannelDetectorBank& operator=(ChannelDetectorBank&&) noexcept;

  // Any chunk length works; 64 (8 ms) and 160 (20 ms) are the designed ones.
  void rx(std::span<const std::int16_t> linear);
  void rx_g711(std::span<const std::uint8_t> coded);
  // The same samples both ways (a source that expanded the codes it read): neither decoded
  // nor encoded again. Codes of another length than `linear` are ignored.
  void rx(std::span<const std::int16_t> linear, std::span<const std::uint8_t> coded);
  // End of stream: report digits still pending.
  void flush();
  // New stream (call): time restarts at 0, all state cleared. No allocation.
  void reset();

  double time_s() const;
  const BankStats& stats() const;
  const BankConfig& config() const;

  // Process-wide counts, for the scale benchmark: banks alive, and fax/modem SpanDSP states
  // (~2.2 KB each) parked in the threads' pools while their detectors sleep.
  static std::size_t live_banks();
  static std::size_t parked_states();

  // SpanDSP fills static tables on the first init of some detectors without a lock: call
  // once on one thread before banks are created on several threads.
  static void prepare();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tw::dsp
