// Follows every call on one span from the decoded Q.931 messages of both directions.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "monitor/calls/call_record.hpp"
#include "monitor/q931/message.hpp"

namespace tw::calls {

struct TrackerOptions {
  // A call that has not been answered goes quiet for this long: Q.931's longest pre-answer
  // timer (T301, alerting) is 3 minutes, so nothing legitimate waits longer.
  std::chrono::seconds setup_timeout{240};
  // An answered call with no message for this long is assumed gone (its clearing was lost).
  std::chrono::seconds active_timeout{std::chrono::hours(24)};
  // A call being cleared (DISCONNECT or RELEASE seen) waits this long for RELEASE COMPLETE;
  // T305 + T308 x 2 is well under it.
  std::chrono::seconds clearing_timeout{30};
  // Messages for a call that just ended are ignored this long instead of opening a partial
  // call (late retransmissions, a STATUS after RELEASE COMPLETE).
  std::chrono::seconds closed_memory{60};
  // A call keyed digits (DTMF, MF) until shortly before its end may have one more in the
  // detectors when its audio stops, cut off by the hang-up: they report it only once the
  // stream has been silent for InbandAnalyzer::kFlushAfter. Such a call's Ended event (its
  // final record) comes this long after its end, by source time, so the digit still joins
  // it; records of the span stay in the order its calls ended.
  std::chrono::milliseconds inband_grace{2000};
  std::chrono::seconds keying_window{5};  // "shortly before its end"
};

struct TrackerStats {
  std::uint64_t messages = 0;
  std::uint64_t calls = 0;          // records emitted
  std::uint64_t partial_calls = 0;  // of which the SETUP was not seen
  std::uint64_t restarts = 0;
  std::uint64_t late_messages = 0;        // for calls that had just ended
  std::uint64_t inband_without_call = 0;  // detections on a channel no call held
};

class CallTracker {
 public:
  CallTracker(const hal::SpanInfo& span, CallEventSink& sink, TrackerOptions options = {});

  void on_message(const q931::Message& message, hal::Side from, Timestamp time);
  // A B-channel detector heard something on `channel`: it joins the call that held the
  // channel at the event's time: open, or ended with its record not final yet.
  void on_inband(int channel, const InbandEvent& event);
  // Voice seconds heard so far on a channel (both directions), nullopt while it carries no
  // audio. With it the tracker classifies each call (voice, fax, modem, data, unknown) from
  // what was heard; without audio a call keeps "voice" ("data" for a clear-channel bearer).
  using AudioMeter = std::function<std::optional<double>(int channel)>;
  void set_audio_meter(AudioMeter meter) { audio_meter_ = std::move(meter); }
  // Closes calls whose timers ran out, emits the records that are final. Call with source
  // time.
  void on_tick(Timestamp now);
  // Closes every open call (end of capture, shutdown) and emits every record.
  void close_all(Timestamp now, EndReason reason);

  std::size_t active_calls() const { return calls_.size(); }
  void for_each_active(const std::function<void(const CallRecord&)>& fn) const;
  const TrackerStats& stats() const { return stats_; }

 private:
  // A call reference is unique per span and per side that allocated it (Q.931 4.3).
  // call_ref << 1 | originator: one integer compare per map step.
  using Key = std::uint32_t;
  static Key make_key(std::uint16_t call_ref, hal::Side originator) {
    return static_cast<Key>(call_ref) << 1 | (originator == hal::Side::Carrier ? 1u : 0u);
  }
  static hal::Side originator(Key key) { return key & 1 ? hal::Side::Carrier : hal::Side::Pbx; }
  static std::uint16_t call_ref(Key key) { return static_cast<std::uint16_t>(key >> 1); }
  enum class State : std::uint8_t { Setup, Answered, Clearing };
  struct Call {
    CallRecord record;
    State state = State::Setup;
    bool channel_confirmed = false;  // the responder named the channel, or the call was answered
    Timestamp last_message{};
    std::optional<double> voice_mark;     // AudioMeter reading when the call got its channel
    bool had_audio = false;               // its channel carried audio when it ended
    std::optional<Timestamp> last_keyed;  // the latest DTMF or MF digit heard on it
  };
  // An ended call until its record is final (inband_grace).
  struct Ending {
    Call call;
    Timestamp time;      // when it was closed: the Ended event's time
    Timestamp final_at;  // emitted at the first message or tick at or after this
  };

  Call& open_call(Key key, const q931::Message& m, Timestamp time);
  void apply(Call& call, const q931::Message& m, hal::Side from, Timestamp time);
  void set_channel(Call& call, const q931::Message& m, Timestamp time);
  void mark_end(Call& call, const q931::Message& m, hal::Side from, Timestamp time);
  void finish(std::map<Key, Call>::iterator it, Timestamp time, EndReason reason);
  void on_restart(const q931::Message& m, Timestamp time);
  void emit(CallEventType type, Timestamp time, const CallRecord& record);
  void emit_final(Timestamp now);
  void mark_audio(Call& call);
  void classify(Call& call);

  hal::SpanInfo span_;
  CallEventSink& sink_;
  TrackerOptions options_;
  std::map<Key, Call> calls_;
  std::deque<Ending> ending_;  // in the order the calls ended
  std::map<Key, Timestamp> recently_closed_;
  TrackerStats stats_;
  AudioMeter audio_meter_;
};

}  // namespace tw::calls
