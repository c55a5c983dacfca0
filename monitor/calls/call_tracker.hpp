// Follows every call on one span from the decoded Q.931 messages of both directions.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "monitor/calls/call_record.hpp"
#include "monitor/q931/message.hpp"

namespace tw::calls {

struct TrackerOptions {
  // A call that has not been answered goes quiet for this long: Q.931's longest pre-answer
  // timer (T301, alerting) is 3 minutes, so nothing legitimate waits longer.
  std::chrono::seconds setup_timeout{240};
  // The guard for an answered call whose clearing was lost: it is closed once it has not been
  // seen alive (a message, audio or an in-band detection on its channel) for this long, with
  // its end at the last time it was. Alarm lines and modems stay up for days, so the guard
  // waits a week.
  std::chrono::seconds answered_idle_timeout{std::chrono::days(7)};
  // A call being cleared (DISCONNECT or RELEASE seen) waits this long for RELEASE COMPLETE;
  // T305 + T308 x 2 is well under it.
  std::chrono::seconds clearing_timeout{30};
  // Messages for a call that just ended are ignored this long instead of opening a partial
  // call (late retransmissions, a STATUS after RELEASE COMPLETE).
  std::chrono::seconds closed_memory{60};
  // At most this many ended calls are remembered for closed_memory (a flood of short calls
  // must not grow it without bound); the oldest are forgotten first.
  std::size_t closed_memory_calls = 8192;
  // Calls the guard closed are remembered until a SETUP reuses their call reference, so their
  // late clearing is counted, not taken for a new call; at most this many, oldest forgotten.
  std::size_t guard_memory_calls = 4096;
  // Open calls held at most: a PRI has at most 30 B-channels, so a span with more open calls
  // than this is flooded or lost its clearings (answered calls naming no channel would
  // otherwise wait for the guard). Past it, the call nearest its timer is given up as its
  // timer would give it up (at its last sign of life), counted in TrackerStats::evicted.
  std::size_t max_open_calls = 512;
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
  std::uint64_t late_messages = 0;  // for calls that had just ended or the guard closed
  // RELEASE or RELEASE COMPLETE for a call reference not in use, naming no channel and no
  // number (and the answer to such a RELEASE): not a call, no record.
  std::uint64_t stray_clearing = 0;
  std::uint64_t inband_without_call = 0;  // detections on a channel no call held
  std::uint64_t evicted = 0;  // open calls given up early: TrackerOptions::max_open_calls
};

class CallTracker {
 public:
  CallTracker(const hal::SpanInfo& span, CallEventSink& sink, TrackerOptions options = {});

  void on_message(const q931::Message& message, hal::Side from, Timestamp time);
  // A B-channel detector heard something on `channel`: it joins the call that held the
  // channel at the event's time: open, or ended with its record not final yet.
  void on_inband(int channel, const InbandEvent& event);
  // Audio (anything but a constant idle code) flowed on `channel` at `time`: the newest call
  // holding the channel is alive. O(calls holding the channel), no allocation: once per chunk.
  void on_audio(int channel, Timestamp time);
  // Voice seconds heard so far on a channel (both directions), nullopt while it carries no
  // audio. With it the tracker classifies each call (voice, fax, modem, data, unknown) from
  // what was heard; without audio a call keeps "voice" ("data" for a clear-channel bearer).
  using AudioMeter = std::function<std::optional<double>(int channel)>;
  void set_audio_meter(AudioMeter meter) { audio_meter_ = std::move(meter); }
  // Closes calls whose timers ran out, emits the records that are final. Call with source
  // time. Costs O(log n) per call that times out, not a walk of every call.
  void on_tick(Timestamp now);
  // Closes every open call (end of capture, shutdown) and emits every record.
  void close_all(Timestamp now, EndReason reason);

  std::size_t active_calls() const { return calls_.size(); }
  // Ended calls remembered so that their late messages open nothing (bounded by
  // closed_memory_calls + guard_memory_calls).
  std::size_t remembered_calls() const { return recently_closed_.size() + guard_closed_.size(); }
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
  struct Call;
  using Calls = std::map<Key, Call>;  // nodes never move: iterators index them
  using CallIt = Calls::iterator;
  // Each open call's timer, earliest first: an entry is never later than the call's due time,
  // and is moved on when it passes if the call is due later (heard from since).
  using Deadlines = std::multimap<Timestamp, CallIt>;
  struct Call {
    CallRecord record;
    State state = State::Setup;
    bool channel_confirmed = false;  // the responder named the channel, or the call was answered
    // `called` lost a trailing '#' as the end-of-dialing mark: put back if more digits follow.
    bool dialing_closed_by_hash = false;
    bool sending_complete = false;  // a Sending Complete IE came
    Timestamp last_message{};
    Timestamp last_heard{};               // the latest audio or in-band detection on it
    std::optional<double> voice_mark;     // AudioMeter reading when the call got its channel
    bool had_audio = false;               // its channel carried audio when it ended
    std::optional<Timestamp> last_keyed;  // the latest DTMF or MF digit heard on it
    Deadlines::iterator deadline;
    Timestamp last_alive() const { return std::max(last_message, last_heard); }
  };
  // An ended call until its record is final (inband_grace).
  struct Ending {
    Call call;
    Timestamp time;      // when it was closed: the Ended event's time
    Timestamp final_at;  // emitted at the first message or tick at or after this
  };
  // The calls holding one channel: open ones in key order (the order a walk of calls_ met
  // them), and ended ones not final yet by their sequence number in ending_.
  struct ChannelCalls {
    std::vector<CallIt> open;
    std::vector<std::uint64_t> ending;
  };
  static constexpr int kChannels = 256;  // the channel number is one octet on the wire
  ChannelCalls* channel_calls(std::optional<int> channel);
  // A call remembered after its end, so that its late messages open nothing.
  struct Closed {
    Timestamp time;
    bool stray = false;  // a RELEASE for no call: its RELEASE COMPLETE is stray too
  };

  CallIt open_call(Key key, const q931::Message& m, Timestamp time);
  void apply(CallIt it, const q931::Message& m, hal::Side from, Timestamp time);
  void set_channel(CallIt it, const q931::Message& m, Timestamp time);
  void hold_channel(CallIt it, std::optional<int> channel);
  void add_called_digits(Call& call, std::string_view digits, bool sending_complete);
  void mark_end(Call& call, const q931::Message& m, hal::Side from, Timestamp time);
  Timestamp due(const Call& call) const;
  void arm(CallIt it);
  void move_deadline(CallIt it, Timestamp at);
  void finish(CallIt it, Timestamp time, EndReason reason);
  // Closes a call whose timer ran out (or that a full table evicts), as its state says.
  void give_up(CallIt it);
  void evict_nearest_timer();
  void on_restart(const q931::Message& m, Timestamp time);
  void emit(CallEventType type, Timestamp time, const CallRecord& record);
  void emit_final(Timestamp now);
  void mark_audio(Call& call);
  void classify(Call& call);
  void remember_closed(Key key, Closed closed);
  void remember_guard_closed(Key key, Timestamp time);
  void forget_expired(Timestamp now);
  static bool is_stray_clearing(const q931::Message& m);

  hal::SpanInfo span_;
  CallEventSink& sink_;
  TrackerOptions options_;
  Calls calls_;
  // calls_ by key, hashed: each message finds its call with a cache miss or two, where the
  // tree costs one per level (calls_ stays, for the key order walks and records rely on).
  std::unordered_map<Key, CallIt> index_;
  Deadlines deadlines_;
  std::vector<ChannelCalls> channels_;
  std::deque<Ending> ending_;       // in the order the calls ended
  std::uint64_t ending_front_ = 0;  // sequence number of ending_.front()
  std::unordered_map<Key, Closed> recently_closed_;
  std::deque<std::pair<Timestamp, Key>> closed_order_;  // recently_closed_ in insertion order
  std::unordered_map<Key, Timestamp> guard_closed_;
  std::deque<std::pair<Timestamp, Key>> guard_order_;
  std::vector<CallIt> expired_;  // on_tick's scratch
  TrackerStats stats_;
  AudioMeter audio_meter_;
};

}  // namespace tw::calls
