// The detector units' side of the bank (docs/dsp.md, "Detector units"): what every unit is
// to the scheduler in dsp/detector_bank.cpp, and what the bank lends its units. Internal.
//
// A unit owns one SpanDSP detector (or one of ours) and what it needs to report: the shape
// of SpanDSP's init/rx/free. The scheduler decides from the tone screen when a unit is awake,
// replays the pre-roll and feeds it the audio in pieces (per piece, never per sample, through
// the virtual calls below), parks its SpanDSP state while it sleeps, and resets and flushes
// it with the stream.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <span>

#include "dsp/dtmf.hpp"
#include "dsp/event.hpp"
#include "dsp/levels.hpp"
#include "dsp/screen.hpp"

namespace tw::dsp::detail {

inline constexpr int kPiece = kScreenBlock;  // detectors are fed in pieces ending on 10 ms marks
inline constexpr int kMaxChunk = 1024;       // rx() splits longer input
inline constexpr int kCpAlign = 128;         // super_tone_rx's block
inline constexpr int kMaxPreroll = 4800;     // keeps preroll + alignment + chunk inside the ring
inline constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min() / 4;

constexpr std::int64_t floor_to(std::int64_t v, std::int64_t a) {
  return v / a * a;
}
constexpr std::int64_t ceil_to(std::int64_t v, std::int64_t a) {
  return (v + a - 1) / a * a;
}

// Working buffer a unit needs only inside one call: one per thread rather than one per bank
// (a big box has 1,920 banks; this would be 16 KB of each).
inline std::array<std::int16_t, AudioRing::kCapacity>& scratch() {
  thread_local std::array<std::int16_t, AudioRing::kCapacity> buf;
  return buf;
}

// What the bank lends its units: the recent audio and the sink.
struct UnitHost {
  const AudioRing& ring;
  const EventSink& sink;

  // A tone recognised at sample `at`, which began at `onset`.
  void emit_tone(ToneName name, float level, std::int64_t at, std::int64_t onset) const {
    Event e;
    e.kind = EventKind::tone;
    e.tone = name;
    e.t_s = static_cast<double>(at) / kSampleRate;
    e.onset_s = static_cast<double>(std::clamp<std::int64_t>(onset, 0, at)) / kSampleRate;
    e.level_dbm0 = level;
    sink(e);
  }
};

// The scheduler's record of one unit: whether it is awake and how far it was fed.
struct Gate {
  bool enabled = false;  // by the bank's configuration: a disabled unit never wakes
  bool awake = false;
  std::int64_t fed = 0;               // next sample to feed
  std::int64_t awake_until = kNever;  // screen's last word plus the hold
  int align = kPiece;                 // the detector's block: a replay starts on one
  int preroll = 0;                    // replayed into the detector when it wakes
  int hold = 0;                       // awake this long after the screen's last word
  bool parked = false;                // park() ran since the unit last took a state
};

// One detector unit. `id` is its index in BankStats::kUnitNames; -1 for MF, which the
// scheduler feeds every sample and does not count.
class Unit {
 public:
  explicit Unit(int id) : id_(id) {}
  virtual ~Unit() = default;
  Unit(const Unit&) = delete;
  Unit& operator=(const Unit&) = delete;

  int id() const { return id_; }
  // Fed only whole blocks of gate().align samples (DTMF), else pieces ending on 10 ms marks.
  bool whole_blocks() const { return whole_blocks_; }
  Gate& gate() { return gate_; }
  const Gate& gate() const { return gate_; }

  // New stream: the unit's own per-stream state cleared. The scheduler then wakes it at 0
  // (ungated) or leaves it asleep.
  virtual void reset() = 0;
  // Gives the unit a SpanDSP state if it has none (from the thread's parked ones, else a new
  // one); true when it had to, so the scheduler restarts it.
  virtual bool acquire() { return false; }
  // The detector starts afresh; its next sample is `start` (a multiple of gate().align).
  virtual void restart(std::int64_t start) = 0;
  // The samples [start, start + x.size()): a piece inside one 10 ms block, or one whole
  // block of gate().align samples for a unit fed whole blocks.
  virtual void feed(std::span<const std::int16_t> x, std::int64_t start) = 0;
  // A tone or digit is on: the scheduler keeps the unit awake past its hold.
  virtual bool busy() const = 0;
  // Asleep with its last sample gone from the ring: its SpanDSP state is of no use until it
  // wakes, so it goes back to the thread's pool.
  virtual void park() {}

 protected:
  void set_whole_blocks(int block) {
    whole_blocks_ = true;
    gate_.align = block;
  }

 private:
  int id_;
  bool whole_blocks_ = false;
  Gate gate_;
};

}  // namespace tw::dsp::detail
