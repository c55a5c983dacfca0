#include "hal/sim/truth.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <ostream>

namespace tw::sim {

namespace detail {

void Truth::open(const CallSpec& spec) {
  TruthCall t;
  t.span = spec.span;
  t.direction = spec.caller == hal::Side::Pbx ? "outbound" : "inbound";
  t.calling = spec.calling;
  t.called = spec.called;
  calls_.push_back(std::move(t));
  keypad_received_.emplace_back();
}

void Truth::started(int call, hal::Timestamp t, int channel) {
  TruthCall& c = at(call);
  c.start = t;
  c.channel = channel;
}

void Truth::cleared(int call, hal::Timestamp t, int cause) {
  TruthCall& c = at(call);
  c.end = t;
  c.cause = cause;
}

void Truth::restarted(int call, hal::Timestamp t) {
  TruthCall& c = at(call);
  if (!c.end) c.end = t;
}

std::vector<TruthCall> Truth::finish(hal::Timestamp capture_start, const AudioPlayer& audio,
                                     RunState& state) const {
  std::vector<TruthCall> out;
  for (std::size_t i = 0; i < calls_.size(); ++i) {
    const TruthCall& c = calls_[i];
    if (!c.start) continue;                         // never placed (blocked, or stopped early)
    if (c.end && *c.end < capture_start) continue;  // over before the capture
    TruthCall t = c;
    if (audio.enabled()) {
      t.audio = true;
      t.call_type = "unknown";
      if (const CallAudio* played = audio.played(static_cast<int>(i))) {
        t.digits_in = played->digits(hal::Side::Carrier);
        t.digits_out = played->digits(hal::Side::Pbx);
        t.call_type = played->expected_call_type();
        t.second_dial_tone = played->dial_tone_played();
      }
      if (!t.digits_in.empty()) t.digits = "in:" + t.digits_in;
      if (!t.digits_out.empty()) t.digits += (t.digits.empty() ? "out:" : " out:") + t.digits_out;
    }
    t.partial = *t.start < capture_start;
    t.duration_s = t.answer && t.end ? to_seconds(*t.end - *t.answer) : 0.0;
    out.push_back(std::move(t));
    if (!c.keypad.empty() && keypad_received_[i] != c.keypad && !state.stop_requested)
      state.fail("keypad digits arrived as '" + keypad_received_[i] + "' instead of '" + c.keypad +
                 "'");
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const TruthCall& a, const TruthCall& b) { return *a.start < *b.start; });
  return out;
}

}  // namespace detail

void write_truth_jsonl(std::ostream& out, const std::vector<TruthCall>& calls) {
  auto time_or_null = [](const std::optional<hal::Timestamp>& t) {
    return t ? nlohmann::ordered_json(hal::format_time(*t)) : nlohmann::ordered_json(nullptr);
  };
  for (const TruthCall& c : calls) {
    nlohmann::ordered_json j;
    j["span"] = c.span;
    j["channel"] = c.channel ? nlohmann::ordered_json(*c.channel) : nlohmann::ordered_json(nullptr);
    j["direction"] = c.direction;
    j["calling"] = c.calling;
    j["called"] = c.called;
    j["start"] = time_or_null(c.start);
    j["answer"] = time_or_null(c.answer);
    j["end"] = time_or_null(c.end);
    j["duration_s"] = std::round(c.duration_s * 1000.0) / 1000.0;
    j["cause"] = c.cause ? nlohmann::ordered_json(*c.cause) : nlohmann::ordered_json(nullptr);
    j["partial"] = c.partial;
    if (!c.keypad.empty()) j["keypad"] = c.keypad;
    if (c.audio) {
      j["digits"] = c.digits;
      j["digits_in"] = c.digits_in;
      j["digits_out"] = c.digits_out;
      j["call_type"] = c.call_type;
      j["second_dial_tone"] = c.second_dial_tone;
    }
    out << j.dump() << '\n';
  }
}

}  // namespace tw::sim
