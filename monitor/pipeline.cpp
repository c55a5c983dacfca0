#include "monitor/pipeline.hpp"

#include <algorithm>
#include <sstream>

#include "monitor/calls/call_record.hpp"
#include "monitor/calls/inband_analyzer.hpp"

namespace tw {

// A digit pending when a call's audio stops is reported by the first sweep after kFlushAfter
// of silence (a chunk or a tick makes it); the tracker keeps the ended call open for it that
// long and more (the last chunk can run 20 ms past the clearing message; chunks and ticks
// come every 20-100 ms).
static_assert(calls::TrackerOptions{}.inband_grace >= calls::InbandAnalyzer::kFlushAfter +
                                                          calls::InbandAnalyzer::kSweepEvery +
                                                          std::chrono::milliseconds(200));

Pipeline::Pipeline(PipelineOptions options, calls::CallEventSink& out)
    : options_(std::move(options)),
      out_(out),
      inband_(
          calls::make_inband_backend(options_.dsp_threads, options_.inband,
                                     [this](int span, int channel, const calls::InbandEvent& e) {
                                       on_detection(span, channel, e);
                                     })) {
  for (const auto& info : options_.spans) span_state(info.id);
}

void Pipeline::on_detection(int span, int channel, const calls::InbandEvent& e) {
  SpanState& s = span_state(span);
  ++s.stats.inband_events;
  s.tracker.on_inband(channel, e);
}

Pipeline::SpanState& Pipeline::span_state(int span) {
  const bool indexed = span >= 0 && span < static_cast<int>(span_index_.size());
  if (indexed && span_index_[span]) return *span_index_[span];
  auto it = spans_.find(span);
  if (it != spans_.end()) return *it->second;
  hal::SpanInfo info = options_.span_defaults;
  for (const auto& configured : options_.spans)
    if (configured.id == span) info = configured;
  info.id = span;
  auto [pos, inserted] =
      spans_.emplace(span, std::make_unique<SpanState>(info, out_, options_.tracker));
  pos->second->tracker.set_audio_meter([this, span](int channel) -> std::optional<double> {
    // Called from the tracker, after sync_dsp(): a pool's workers are idle.
    const auto pbx = inband_->voice_seconds(span, channel, hal::Side::Pbx);
    const auto carrier = inband_->voice_seconds(span, channel, hal::Side::Carrier);
    if (!pbx && !carrier) return std::nullopt;
    return pbx.value_or(0) + carrier.value_or(0);
  });
  if (indexed) span_index_[span] = pos->second.get();
  return *pos->second;
}

namespace {

AnomalyKind kind_of(q921::ParseError e) {
  switch (e) {
    case q921::ParseError::BadAddressEa:
      return AnomalyKind::BadAddress;
    case q921::ParseError::BadControl:
      return AnomalyKind::BadControl;
    case q921::ParseError::TooShort:
    case q921::ParseError::None:
      break;
  }
  return AnomalyKind::FrameTooShort;
}

AnomalyKind kind_of(q931::DecodeError e) {
  switch (e) {
    case q931::DecodeError::UnknownProtocol:
      return AnomalyKind::UnknownProtocol;
    case q931::DecodeError::BadCallRefLength:
      return AnomalyKind::BadCallReference;
    case q931::DecodeError::UnknownMessageType:
      return AnomalyKind::UnknownMessage;
    case q931::DecodeError::TruncatedIe:
      return AnomalyKind::TruncatedIe;
    case q931::DecodeError::BadIeContent:
      return AnomalyKind::BadIeContent;
    case q931::DecodeError::TooShort:
    case q931::DecodeError::None:
      break;
  }
  return AnomalyKind::MessageTooShort;
}

}  // namespace

void Pipeline::anomaly(SpanState& s, const hal::DFrame& frame, AnomalyKind kind, const char* layer,
                       const char* why) {
  ++s.stats.anomalies[kind];
  out_.on_decode_anomaly(DecodeAnomaly{frame.time, s.info.id, frame.from, kind});
  if (!is_malformed(kind)) return;
  ++s.stats.malformed;
  if (s.malformed_log.allow(frame.time)) {
    std::ostringstream rec;
    rec << "span " << s.info.id << ": malformed " << layer << " frame from "
        << hal::to_string(frame.from) << " (" << why << ", " << frame.bytes.size() << " bytes) at "
        << calls::format_time(frame.time);
    if (s.malformed_log.suppressed() > 0)
      rec << "; " << s.malformed_log.suppressed() << " more not logged";
    TW_LOG(warning) << rec.str();
  }
}

// link -> Q.931 -> tracker.
void Pipeline::on_frame(const hal::DFrame& frame) {
  sync_dsp();
  last_time_ = std::max(last_time_, frame.time);
  SpanState& s = span_state(frame.span);
  ++s.stats.frames;
  q931::DecodeError decode_error = q931::DecodeError::None;
  const q921::LinkStep step =
      s.link.on_frame(frame.from, frame.bytes, [&](std::span<const std::uint8_t> info) {
        decode_error = q931::decode(info, s.info.switch_type, message_);
        return decode_error == q931::DecodeError::None;
      });
  if (step.shows_up) s.stats.dchan_up = *step.shows_up;
  if (step.use == q921::FrameUse::Malformed) {
    anomaly(s, frame, kind_of(step.error), "Q.921", q921::to_string(step.error));
    return;
  }
  if (step.frame.kind == q921::FrameKind::I)
    ++s.stats.i_frames;
  else if (step.frame.kind == q921::FrameKind::U && step.frame.u_type == q921::UType::UI)
    ++s.stats.ui_frames;
  switch (step.use) {
    case q921::FrameUse::Payload:
      break;
    case q921::FrameUse::Retransmission:
      ++s.stats.retransmissions;
      return;
    case q921::FrameUse::SequenceConflict:
      anomaly(s, frame, AnomalyKind::SequenceConflict, "Q.921",
              "N(S) of a recent I-frame with other content");
      return;
    case q921::FrameUse::Malformed:
    case q921::FrameUse::LinkControl:
    case q921::FrameUse::OtherSapi:
      return;
  }
  if (!step.delivered) {
    anomaly(s, frame, kind_of(decode_error), "Q.931", q931::to_string(decode_error));
    return;
  }
  if (step.missed > 0) anomaly(s, frame, AnomalyKind::SequenceGap, "Q.921", "N(S) gap");
  ++s.stats.messages;
  s.tracker.on_message(message_, frame.from, frame.time);
}

void Pipeline::on_line_event(const hal::LineEvent& event) {
  sync_dsp();
  last_time_ = std::max(last_time_, event.time);
  if (event.type == hal::LineEventType::SourceEnd) {
    close_all(event.time, calls::EndReason::CaptureEnd);
    return;
  }
  SpanState& s = span_state(event.span);
  switch (event.type) {
    case hal::LineEventType::Alarm:
      s.stats.alarms = event.alarms;
      TW_LOG(warning) << "span " << event.span << ": alarm 0x" << std::hex << event.alarms;
      break;
    case hal::LineEventType::NoAlarm:
      s.stats.alarms = 0;
      TW_LOG(info) << "span " << event.span << ": alarm cleared";
      break;
    case hal::LineEventType::BadFcs:
      ++s.stats.bad_fcs;
      break;
    case hal::LineEventType::Overrun:
      ++s.stats.overruns;
      break;
    case hal::LineEventType::DChanUp:
      s.stats.dchan_up = true;
      break;
    case hal::LineEventType::DChanDown:
      s.stats.dchan_up = false;
      break;
    case hal::LineEventType::LineErrors:
      s.stats.line_errors += event.errors;
      break;
    case hal::LineEventType::SourceEnd:
      break;
  }
}

void Pipeline::on_audio(const hal::AudioChunk& chunk) {
  SpanState& s = span_state(chunk.span);
  ++s.stats.audio_chunks;
  s.tracker.on_audio(chunk.channel, chunk.time);  // a call with audio is alive
  inband_->submit(s.info, chunk);
}

void Pipeline::on_tick(hal::Timestamp now) {
  // The detectors' clock moves with the audio; a tick moves it where none flows, so that a
  // stream that stopped is flushed (its pending digit reported) while its call can take it.
  inband_->tick(now);
  sync_dsp();
  last_time_ = std::max(last_time_, now);
  for (auto& [id, s] : spans_) s->tracker.on_tick(now);
}

void Pipeline::close_all(hal::Timestamp now, calls::EndReason reason) {
  sync_dsp();
  for (auto& [id, s] : spans_) s->tracker.close_all(now, reason);
}

std::vector<Pipeline::SpanView> Pipeline::spans() const {
  std::vector<SpanView> out;
  for (const auto& [id, s] : spans_) out.push_back({s->info, s->stats, s->tracker});
  return out;
}

SpanStats Pipeline::totals() const {
  SpanStats t;
  for (const auto& [id, s] : spans_) {
    t.frames += s->stats.frames;
    t.i_frames += s->stats.i_frames;
    t.ui_frames += s->stats.ui_frames;
    t.retransmissions += s->stats.retransmissions;
    t.messages += s->stats.messages;
    t.malformed += s->stats.malformed;
    t.anomalies += s->stats.anomalies;
    t.bad_fcs += s->stats.bad_fcs;
    t.overruns += s->stats.overruns;
    t.audio_chunks += s->stats.audio_chunks;
    t.inband_events += s->stats.inband_events;
  }
  return t;
}

calls::TrackerStats Pipeline::call_totals() const {
  calls::TrackerStats t;
  for (const auto& [id, s] : spans_) {
    const auto& c = s->tracker.stats();
    t.messages += c.messages;
    t.calls += c.calls;
    t.partial_calls += c.partial_calls;
    t.restarts += c.restarts;
    t.late_messages += c.late_messages;
    t.stray_clearing += c.stray_clearing;
    t.evicted += c.evicted;
  }
  return t;
}

}  // namespace tw
