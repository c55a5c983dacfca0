// The simulator's ground truth: what each call did, from the simulator's own bookkeeping of
// what it told the stacks to do (never from decoding), turned into the TruthCall records the
// tests and `simulate --truth` compare trunkwatch's records against. Internal to hal/sim.
#pragma once

#include <string>
#include <vector>

#include "hal/sim/audio_player.hpp"
#include "hal/sim/run_state.hpp"
#include "hal/sim/simulator.hpp"

namespace tw::sim::detail {

class Truth {
 public:
  // A call of the plan (calls are numbered in the order opened).
  void open(const CallSpec& spec);

  // The frames that carried the call's SETUP, CONNECT, first clearing message: their times.
  void started(int call, hal::Timestamp t, int channel);
  void answered(int call, hal::Timestamp t) { at(call).answer = t; }
  void cleared(int call, hal::Timestamp t, int cause);
  // A RESTART took the channel: the call ended then, unless it was clearing already.
  void restarted(int call, hal::Timestamp t);
  void keypad_sent(int call, const std::string& digits) { at(call).keypad = digits; }
  // Keypad digits the called stack reported, checked against those sent.
  void keypad_received(int call, const char* digits) {
    keypad_received_[static_cast<std::size_t>(call)] += digits;
  }

  // The records of the calls that were placed and not over before `capture_start`, in SETUP
  // order, with what the audio player played. Keypad digits that did not arrive as sent fail
  // the run (not when it was stopped).
  std::vector<TruthCall> finish(hal::Timestamp capture_start, const AudioPlayer& audio,
                                RunState& state) const;

 private:
  TruthCall& at(int call) { return calls_[static_cast<std::size_t>(call)]; }

  std::vector<TruthCall> calls_;  // by call, as far as known
  std::vector<std::string> keypad_received_;
};

}  // namespace tw::sim::detail
