// The stateful detectors behind the engine (internal to tw_rules; docs/rules.md describes
// what each one watches and why its thresholds are what they are). Detectors see calls as the
// engine tracks them and raise Detections; the engine turns those into notices through the
// policy. Every detector reads its settings from the current config on each call, so a reload
// takes effect at once and keeps the counters.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "monitor/calls/call_record.hpp"
#include "rules/config.hpp"
#include "rules/notice.hpp"
#include "trunkwatch/hal/types.hpp"

namespace tw::rules::detail {

// A call while the engine follows it. The start time is part of the key: call references are
// reused, and a backtest replays months of them.
struct CallKey {
  int span = 0;
  calls::Direction direction = calls::Direction::Outbound;
  std::uint16_t call_ref = 0;
  std::int64_t start_us = 0;
  auto operator<=>(const CallKey&) const = default;
};
CallKey key_of(const calls::CallRecord& r);

struct CallKeyHash {
  std::size_t operator()(const CallKey& k) const noexcept {
    std::uint64_t h = static_cast<std::uint64_t>(k.start_us) * 0x9e3779b97f4a7c15ULL;
    h ^= (static_cast<std::uint64_t>(static_cast<std::uint32_t>(k.span)) << 17) ^
         (static_cast<std::uint64_t>(k.call_ref) << 1) ^
         static_cast<std::uint64_t>(k.direction == calls::Direction::Inbound);
    return static_cast<std::size_t>(h ^ (h >> 29));
  }
};

struct CallState {
  CallKey key;
  calls::CallRecord record;  // the latest copy
  NumberInfo far;            // the called number if outbound, the caller if inbound
  std::string profile;       // of the PBX-side number (calling if outbound, called if inbound)
  TimeWindow window = TimeWindow::BusinessHours;  // at the start
  bool remote_access = false;                     // inbound, to a configured remote-access number
  bool destination_done = false;                  // the called number was final (answered or ended)
  bool ended = false;
  bool answered() const { return record.answer.has_value(); }
  bool outbound() const { return record.direction == calls::Direction::Outbound; }
  // Outbound: the answered inbound calls that were up when it started (redial candidates).
  std::vector<CallKey> inbound_up;
  // Inbound: an outbound call started while it was up.
  bool outbound_leg = false;
  std::uint32_t raised = 0;  // category bits
  // Engine bookkeeping (inbound, answered): its place among the answered inbound calls up
  // (0: not there), and the count of outbound seizures when it got there.
  std::uint64_t answer_seq = 0;
  std::uint64_t outbound_mark = 0;
};

// The calls up, by key. A hash map: a held call costs one or two cache lines to find, where a
// tree of tens of thousands of calls costs a miss per level; nodes stay put, so detectors may
// keep pointers to states until the call's end. Nothing walks it in key order.
using ActiveCalls = std::unordered_map<CallKey, CallState, CallKeyHash>;

// At most this many inbound legs are remembered as up at an outbound seizure (inbound_up):
// the latest answered remote-access ones first, then the latest answered others. With fewer
// answered inbound calls up, every one is (as the detectors were written for); a flood of
// answered calls cannot make every seizure cost (and hold) one entry per call up.
inline constexpr std::size_t kMaxInboundUp = 16;

struct Detection {
  Timestamp time{};
  Category category = Category::International;
  Severity severity = Severity::Info;
  std::string identifier;
  std::string message;
  // When set, the engine appends this time in the site's local time and `started_window`
  // ("2027-01-05 09:12 EST (business_hours)") to the message, and only for a notice it hands
  // on: formatting a zoned time costs more than the rest of a detection, and most detections
  // of a busy trunk are suppressed or allowed.
  std::optional<Timestamp> started_local;
  TimeWindow started_window = TimeWindow::BusinessHours;
  const CallState* call = nullptr;  // the call it concerns; null for a span
  std::vector<CallKey> also;        // other legs of the pattern (they get the category too)
  int span = 0;                     // used when there is no call
};

class Context {
 public:
  virtual ~Context() = default;
  virtual const Config& config() const = 0;
  virtual Timestamp now() const = 0;  // source time of the event being handled
  virtual const ActiveCalls& active() const = 0;
  // The inbound calls up that have a start time, ordered by it.
  virtual const std::multimap<Timestamp, CallKey>& inbound_by_start() const = 0;
  virtual void raise(Detection d) = 0;
};

class Detector {
 public:
  virtual ~Detector() = default;
  virtual void on_start(CallState&, Context&) {}
  // The called number is final: at the answer, or at the end of an unanswered call.
  virtual void on_destination(CallState&, Context&) {}
  // Any event changed the record (in-band detections, call type).
  virtual void on_update(CallState&, Context&) {}
  virtual void on_end(CallState&, Context&) {}
  virtual void on_tick(Timestamp, Context&) {}
  virtual void on_line_event(const hal::LineEvent&, Context&) {}
  virtual void on_decode_anomaly(const DecodeAnomaly&, Context&) {}
};

// Every detector, in the order they see each event (the order their notices come in).
std::vector<std::unique_ptr<Detector>> make_detectors();

// One file per detector, rules/detectors/<name>.cpp, as Zeek keeps one policy script per kind
// of notice; each file's factory is listed here and called by make_detectors().
std::unique_ptr<Detector> make_destination_detector();     // international, premium, after hours
std::unique_ptr<Detector> make_concurrency_detector();     // calls up at once per class and span
std::unique_ptr<Detector> make_call_rate_detector();       // call rate per source and prefix
std::unique_ptr<Detector> make_minutes_detector();         // daily minutes per class and source
std::unique_ptr<Detector> make_remote_access_detector();   // code guessing, short-call bursts
std::unique_ptr<Detector> make_redial_detector();          // through-dialing, trunk to trunk
std::unique_ptr<Detector> make_call_forward_detector();    // call-forward abuse
std::unique_ptr<Detector> make_wangiri_detector();         // calling back a one-ring number
std::unique_ptr<Detector> make_fax_modem_detector();       // fax or modem on a voice-only line
std::unique_ptr<Detector> make_span_down_detector();       // span alarm, D-channel down
std::unique_ptr<Detector> make_decode_anomaly_detector();  // bursts of undecodable frames

// Text helpers shared with the engine.
std::string describe_call(const calls::CallRecord& r);
// Digits keyed on the inbound leg (in-band from the carrier, keypad facility), masked when the
// call is to a remote-access number and the config says so.
std::string keyed_digits(const CallState& c);
std::string shown_digits(const CallState& c, const Config& config);

}  // namespace tw::rules::detail
