// The analysis pipeline behind every command and the daemon: span source output in, call
// events out. hal -> Q.921 passive link -> Q.931 -> call tracker -> CallEventSink(s). The same
// object runs on a capture, on the simulator and on a card.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "monitor/calls/call_tracker.hpp"
#include "monitor/calls/inband_backend.hpp"
#include "monitor/decode_anomaly.hpp"
#include "monitor/log.hpp"
#include "monitor/q921/passive_link.hpp"
#include "monitor/q931/message.hpp"
#include "trunkwatch/hal/source.hpp"

namespace tw {

struct SpanStats {
  std::uint64_t frames = 0;
  std::uint64_t i_frames = 0;
  std::uint64_t ui_frames = 0;
  std::uint64_t retransmissions = 0;  // I-frames seen before, not decoded again
  std::uint64_t messages = 0;         // Q.931 messages decoded
  std::uint64_t malformed = 0;        // frames or messages that could not be decoded
  // The anomalies behind `malformed`, by kind, and the N(S) gaps (which are not malformed).
  AnomalyCounts anomalies;
  std::uint64_t bad_fcs = 0;
  std::uint64_t overruns = 0;
  hal::LineErrors line_errors;  // the card's counters, both receivers of a tap pair
  std::uint64_t audio_chunks = 0;
  std::uint64_t inband_events = 0;
  std::uint32_t alarms = 0;
  bool dchan_up = false;  // from the driver's events, or read off the frames on a tap
};

struct PipelineOptions {
  // Applied to spans that `spans` does not name (a capture's spans are known only as they
  // appear).
  hal::SpanInfo span_defaults;
  std::vector<hal::SpanInfo> spans;
  calls::TrackerOptions tracker;
  // B-channel detectors; law and call-progress country follow each span's type unless set.
  calls::InbandOptions inband;
  // 0: the detectors run inline on the caller's thread; N: on a pool of N worker threads
  // (calls/dsp_pool.hpp), with the same results.
  int dsp_threads = 0;
};

// Fans call events out to several sinks, in order.
class CallEventFanout final : public calls::CallEventSink {
 public:
  void add(calls::CallEventSink& sink) { sinks_.push_back(&sink); }
  void on_call_event(const calls::CallEvent& event) override {
    for (auto* s : sinks_) s->on_call_event(event);
  }
  void on_decode_anomaly(const DecodeAnomaly& anomaly) override {
    for (auto* s : sinks_) s->on_decode_anomaly(anomaly);
  }

 private:
  std::vector<calls::CallEventSink*> sinks_;
};

class Pipeline final : public hal::SpanSink {
 public:
  Pipeline(PipelineOptions options, calls::CallEventSink& out);

  void on_frame(const hal::DFrame& frame) override;
  void on_line_event(const hal::LineEvent& event) override;
  void on_audio(const hal::AudioChunk& chunk) override;
  void on_tick(hal::Timestamp now) override;

  // Closes every open call (the source ended or the daemon stops).
  void close_all(hal::Timestamp now, calls::EndReason reason);

  struct SpanView {
    const hal::SpanInfo& info;
    const SpanStats& stats;
    const calls::CallTracker& tracker;
  };
  std::vector<SpanView> spans() const;
  SpanStats totals() const;
  calls::TrackerStats call_totals() const;
  hal::Timestamp last_time() const { return last_time_; }

 private:
  struct SpanState {
    SpanState(const hal::SpanInfo& i, calls::CallEventSink& sink, const calls::TrackerOptions& o)
        : info(i), tracker(info, sink, o) {}
    hal::SpanInfo info;
    SpanStats stats;
    q921::PassiveLink link;
    calls::CallTracker tracker;
    log::RateLimiter malformed_log{5, std::chrono::seconds(60)};
  };
  SpanState& span_state(int span);
  // Counts an anomaly, tells the sink, and logs a frame that could not be decoded.
  void anomaly(SpanState& s, const hal::DFrame& frame, AnomalyKind kind, const char* layer,
               const char* why);

  PipelineOptions options_;
  calls::CallEventSink& out_;
  // Stable addresses: trackers hold a reference to their SpanInfo.
  std::map<int, std::unique_ptr<SpanState>> spans_;
  // The per-frame lookup, for the span numbers cards and captures use (a capture stores the
  // span in one byte); others go through the map.
  std::array<SpanState*, 256> span_index_{};
  q931::Message message_;  // reused: a Message is a few hundred bytes of fixed storage
  void on_detection(int span, int channel, const calls::InbandEvent& e);
  // Before anything that reads or changes call state: the detections so far.
  void sync_dsp() { inband_->collect(); }
  // The detector banks, inline or on worker threads (PipelineOptions::dsp_threads).
  std::unique_ptr<calls::InbandBackend> inband_;
  hal::Timestamp last_time_{};
};

}  // namespace tw
