// What every part of one simulator run shares: the first failure and the stop request.
// Internal to hal/sim.
#pragma once

#include <atomic>
#include <string>

namespace tw::sim::detail {

struct RunState {
  // Set from any thread by Simulator::stop(); the run ends at the next step.
  std::atomic<bool> stop_requested{false};
  // The first failure; later ones are dropped, as they mostly follow from it.
  std::string error;

  bool failed() const { return !error.empty(); }
  void fail(std::string message) {
    if (error.empty()) error = std::move(message);
  }
  // Stopped or failed: nothing more is to be done.
  bool halted() const { return stop_requested || failed(); }
};

}  // namespace tw::sim::detail
