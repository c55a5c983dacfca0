// The simulator's scheduler: the virtual clock, the queue of timed call steps, the once a
// second tick and the wall-clock pacing of --speed. Internal to hal/sim.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <queue>
#include <tuple>
#include <vector>

#include "hal/sim/run_state.hpp"
#include "trunkwatch/hal/source.hpp"

namespace tw::sim::detail {

using Micros = std::chrono::microseconds;

inline Micros seconds(double s) {
  return Micros(std::llround(s * 1e6));
}
inline double to_seconds(Micros d) {
  return static_cast<double>(d.count()) / 1e6;
}

// One step of a call (or a RESTART) that the simulator makes a stack take.
enum class Kind : std::uint8_t {
  Place,
  SetupAck,
  Digit,
  Proceed,
  Alert,
  Answer,
  Keypad,
  Clear,
  Release,
  ReleaseComplete,
  Reject,
  Restart,
};

struct Action {
  hal::Timestamp at;
  std::uint64_t seq;
  Kind kind;
  int index;  // call, or restart for Kind::Restart
  int arg;    // digit position (Digit) or side index (Release, ReleaseComplete)
  bool operator>(const Action& o) const { return std::tie(at, seq) > std::tie(o.at, o.seq); }
};

class Scheduler {
 public:
  // speed: simulated seconds per wall second, 0 = as fast as possible.
  Scheduler(double speed, const RunState& state) : speed_(speed), state_(state) {}

  // The clock starts at `origin` (now, and the origin of pacing); the first tick is at
  // `first_tick`.
  void start(hal::Timestamp origin, hal::Timestamp first_tick);

  hal::Timestamp now() const { return now_; }
  // Moves the clock forward to `t` (never back).
  void advance(hal::Timestamp t) { now_ = std::max(now_, t); }
  // The time for the next frame a stack writes: now, or 1 us after the previous frame.
  hal::Timestamp stamp() {
    last_stamp_ = std::max(now_, last_stamp_ + Micros(1));
    return last_stamp_;
  }

  // Queues a step at `at` (not before now); steps at one time run in the order queued.
  void schedule(hal::Timestamp at, Kind kind, int index, int arg = 0) {
    queue_.push(Action{std::max(at, now_), seq_++, kind, index, arg});
  }
  bool idle() const { return queue_.empty(); }
  Action next() {
    const Action a = queue_.top();
    queue_.pop();
    return a;
  }

  // The once-a-second tick: due when at or before `t`; done() moves it a second on.
  bool tick_due(hal::Timestamp t) const { return next_tick_ <= t; }
  hal::Timestamp next_tick() const { return next_tick_; }
  void tick_done() { next_tick_ += kTick; }

  // Waits until the wall clock has caught up with virtual time `t` (speed > 0 only). A wait
  // longer than a slice ticks the sink with the time reached so far after each slice, so a
  // daemon fed by a slow simulation (--speed below 1) still serves its signals and socket.
  void pace(hal::Timestamp t, hal::SpanSink& sink) const;

 private:
  static constexpr Micros kTick{1'000'000};

  double speed_;
  const RunState& state_;
  hal::Timestamp now_{}, last_stamp_{}, next_tick_{};
  std::priority_queue<Action, std::vector<Action>, std::greater<>> queue_;
  std::uint64_t seq_ = 0;
  std::chrono::steady_clock::time_point wall_origin_;
  hal::Timestamp virtual_origin_{};
};

}  // namespace tw::sim::detail
