#include "hal/sim/call_planner.hpp"

#include <algorithm>
#include <cstdio>

namespace tw::sim::detail {

namespace {

bool valid_channel(const hal::SpanInfo& s, int ch) {
  if (s.type == hal::SpanType::E1) return ch >= 1 && ch <= 31 && ch != 16;
  return ch >= 1 && ch <= 23;
}

const hal::SpanInfo* find_span(const Scenario& sc, int id) {
  for (const hal::SpanInfo& s : sc.spans)
    if (s.id == id) return &s;
  return nullptr;
}

}  // namespace

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gs", s);
  return buf;
}

std::optional<std::vector<PlannedCall>> CallPlanner::order_calls(const Scenario& sc,
                                                                 RunState& state) const {
  std::vector<CallSpec> specs = sc.calls;
  std::stable_sort(specs.begin(), specs.end(),
                   [](const CallSpec& a, const CallSpec& b) { return a.at_s < b.at_s; });
  std::vector<PlannedCall> calls;
  calls.reserve(specs.size());
  for (CallSpec& spec : specs) {
    const hal::SpanInfo* sp = find_span(sc, spec.span);
    if (!sp) {
      state.fail("call at " + seconds_text(spec.at_s) + ": no span " + std::to_string(spec.span));
      return std::nullopt;
    }
    if (spec.channel != 0 && !valid_channel(*sp, spec.channel)) {
      state.fail("call at " + seconds_text(spec.at_s) + ": span " + std::to_string(spec.span) +
                 " has no B-channel " + std::to_string(spec.channel));
      return std::nullopt;
    }
    if (spec.called.empty()) {
      state.fail("call at " + seconds_text(spec.at_s) + ": no called number");
      return std::nullopt;
    }
    const int span = static_cast<int>(sp - sc.spans.data());
    calls.push_back(PlannedCall{std::move(spec), span});
  }
  return calls;
}

bool CallPlanner::queue_starts(const Scenario& sc, const std::vector<PlannedCall>& calls,
                               Scheduler& clock, RunState& state) const {
  for (std::size_t i = 0; i < calls.size(); ++i)
    clock.schedule(sc.start + seconds(calls[i].spec.at_s), Kind::Place, static_cast<int>(i));
  for (std::size_t i = 0; i < sc.restarts.size(); ++i) {
    const RestartSpec& r = sc.restarts[i];
    const hal::SpanInfo* sp = find_span(sc, r.span);
    if (!sp || !valid_channel(*sp, r.channel)) {
      state.fail("restart at " + seconds_text(r.at_s) + ": no B-channel " +
                 std::to_string(r.channel) + " on span " + std::to_string(r.span));
      return false;
    }
    clock.schedule(sc.start + seconds(r.at_s), Kind::Restart, static_cast<int>(i));
  }
  return true;
}

int CallPlanner::pick_channel(const hal::SpanInfo& span, const ChannelOwners& owner,
                              hal::Side caller) {
  const int last = span.type == hal::SpanType::E1 ? 31 : 23;
  // The PBX hunts up from the bottom, the carrier down from the top: fewer glare races.
  if (caller == hal::Side::Pbx) {
    for (int ch = 1; ch <= last; ++ch)
      if (valid_channel(span, ch) && owner[static_cast<std::size_t>(ch)] < 0) return ch;
  } else {
    for (int ch = last; ch >= 1; --ch)
      if (valid_channel(span, ch) && owner[static_cast<std::size_t>(ch)] < 0) return ch;
  }
  return 0;
}

void CallPlanner::dial(int call, const CallSpec& spec, std::size_t first, Scheduler& clock) {
  hal::Timestamp t = clock.now();
  for (std::size_t k = first; k < spec.called.size(); ++k) {
    t += Micros(1000 * std::uniform_int_distribution<int>(150, 450)(rng_));
    clock.schedule(t, Kind::Digit, call, static_cast<int>(k));
  }
}

void CallPlanner::after_proceeding(int call, const CallSpec& spec, hal::Timestamp dialled,
                                   Scheduler& clock) const {
  const hal::Timestamp soon = clock.now() + Micros(1000);
  const hal::Timestamp ring_at = std::max(dialled + seconds(spec.ring_s), soon);
  if (spec.answer_after_s) {
    const hal::Timestamp answer_at = std::max(dialled + seconds(*spec.answer_after_s), soon);
    // Answered before it would have rung: CONNECT without ALERTING.
    if (spec.ring_s < *spec.answer_after_s) clock.schedule(ring_at, Kind::Alert, call);
    clock.schedule(answer_at, Kind::Answer, call);
    return;
  }
  const bool rejection = spec.clearer == hal::other(spec.caller) && spec.cause != 16 &&
                         spec.cause != 18 && spec.cause != 19;
  if (rejection) {
    clock.schedule(ring_at, Kind::Clear, call);
  } else {
    clock.schedule(ring_at, Kind::Alert, call);
    clock.schedule(ring_at + seconds(spec.talk_s), Kind::Clear, call);
  }
}

void CallPlanner::after_answer(int call, const CallSpec& spec, Scheduler& clock) const {
  if (!spec.keypad.empty())
    clock.schedule(clock.now() + seconds(std::min(1.5, spec.talk_s / 2)), Kind::Keypad, call);
  clock.schedule(clock.now() + seconds(spec.talk_s), Kind::Clear, call);
}

}  // namespace tw::sim::detail
