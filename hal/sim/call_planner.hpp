// The simulator's call planner: which calls to place and when each of their steps happens.
// It orders and checks the scenario's calls and restarts (from a file, the [traffic]
// generator or the demo), hunts free B-channels, and draws the delays (a peer's reply, the
// pace of overlap digits) and the alert, answer and clearing times of docs/scenarios.md.
// Internal to hal/sim.
#pragma once

#include <array>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "hal/sim/run_state.hpp"
#include "hal/sim/scenario.hpp"
#include "hal/sim/scheduler.hpp"

namespace tw::sim::detail {

inline constexpr int kMaxChannel = 31;
// The call on each B-channel of a span, -1 = idle.
using ChannelOwners = std::array<int, kMaxChannel + 1>;

// "12.5s": a scenario time as messages name it.
std::string seconds_text(double s);

struct PlannedCall {
  CallSpec spec;
  int span = 0;  // index into the scenario's spans
};

class CallPlanner {
 public:
  // The random draws come from the scenario's seed, in the order the run asks for them.
  explicit CallPlanner(unsigned seed) : rng_(seed) {}

  // The scenario's calls in SETUP order, each checked against its span; nullopt with the run
  // failed if one cannot be placed. Call i of the result is call i of the run.
  std::optional<std::vector<PlannedCall>> order_calls(const Scenario& sc, RunState& state) const;
  // Queues placing each of the `calls` ordered calls and the scenario's restarts (checked);
  // false with the run failed if a restart names no B-channel.
  bool queue_starts(const Scenario& sc, const std::vector<PlannedCall>& calls, Scheduler& clock,
                    RunState& state) const;

  // A free B-channel for a call placed by `caller`, 0 if every one is busy.
  static int pick_channel(const hal::SpanInfo& span, const ChannelOwners& owner, hal::Side caller);

  // How long a switch or PBX takes to answer a message: a few tens of milliseconds.
  Micros latency() { return Micros(1000 * std::uniform_int_distribution<int>(8, 30)(rng_)); }
  // After SETUP ACKNOWLEDGE: the called digits from `first` on, one per INFORMATION, at a
  // human dialling pace.
  void dial(int call, const CallSpec& spec, std::size_t first, Scheduler& clock);
  // After CALL PROCEEDING: when to alert, answer or clear, counted from `dialled`.
  void after_proceeding(int call, const CallSpec& spec, hal::Timestamp dialled,
                        Scheduler& clock) const;
  // After CONNECT: the keypad digits if any, and the clearing.
  void after_answer(int call, const CallSpec& spec, Scheduler& clock) const;

 private:
  std::mt19937_64 rng_;
};

}  // namespace tw::sim::detail
