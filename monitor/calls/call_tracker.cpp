#include "monitor/calls/call_tracker.hpp"

#include "dsp/call_type.hpp"

namespace tw::calls {

namespace {

std::string_view bearer_name(const q931::BearerCapability& b) {
  if (!b.present) return "";
  switch (b.transfer_capability) {
    case 0x00:
      return "speech";
    case 0x08:
      return "digital";
    case 0x09:
      return "restricted-digital";
    case 0x10:
      return "3.1khz-audio";
    case 0x11:
      return "7khz-audio";
    case 0x18:
      return "video";
    default:
      return "other";
  }
}

std::string wire_text(std::string_view bytes) {
  return sanitize_wire_text(bytes);
}

}  // namespace

CallTracker::CallTracker(const hal::SpanInfo& span, CallEventSink& sink, TrackerOptions options)
    : span_(span), sink_(sink), options_(options) {}

void CallTracker::emit(CallEventType type, Timestamp time, const CallRecord& record) {
  sink_.on_call_event(CallEvent{.type = type, .time = time, .call = &record});
}

void CallTracker::on_message(const q931::Message& m, hal::Side from, Timestamp time) {
  ++stats_.messages;
  emit_final(time);
  if (m.protocol != q931::kPdQ931) return;  // maintenance (SERVICE) messages name no call
  if (m.call_ref_len == 0 || m.is_global_call_ref()) {
    if (m.type == q931::msg::kRestart) on_restart(m, time);
    return;
  }
  // The flag is 0 in messages sent by the side that allocated the call reference.
  const hal::Side originator = m.call_ref_flag ? hal::other(from) : from;
  const Key key = make_key(m.call_ref, originator);
  auto it = calls_.find(key);

  if (m.type == q931::msg::kSetup) {
    if (m.call_ref_flag) return;  // a SETUP always comes from the allocating side
    if (it != calls_.end()) finish(it, time, EndReason::Timeout);  // its end was lost
    recently_closed_.erase(key);
    Call& call = open_call(key, m, time);
    emit(CallEventType::Started, time, call.record);
    return;
  }
  if (it == calls_.end()) {
    if (auto closed = recently_closed_.find(key);
        closed != recently_closed_.end() && time - closed->second <= options_.closed_memory) {
      ++stats_.late_messages;
      return;
    }
    // A call that was up before the capture started: follow it from here as partial.
    Call& call = open_call(key, m, time);
    call.record.partial = true;
    emit(CallEventType::Started, time, call.record);
    it = calls_.find(key);
  }
  apply(it->second, m, from, time);
  if (m.type == q931::msg::kReleaseComplete) finish(it, time, EndReason::Released);
}

CallTracker::Call& CallTracker::open_call(Key key, const q931::Message& m, Timestamp time) {
  Call& call = calls_[key];
  CallRecord& r = call.record;
  r.span = span_.id;
  r.switch_type = std::string(hal::to_string(span_.switch_type));
  r.direction = originator(key) == hal::Side::Pbx ? Direction::Outbound : Direction::Inbound;
  r.call_ref = call_ref(key);
  r.start = time;
  call.last_message = time;
  if (m.type == q931::msg::kSetup) {
    r.calling = wire_text(m.calling.digits.view());
    r.called = wire_text(m.called.digits.view());
    if (m.calling.present && m.calling.has_presentation)
      r.calling_presentation = m.calling.presentation;
    r.calling_name = wire_text(m.display.view());
    r.redirecting = wire_text(m.redirecting.digits.view());
    r.numbers_truncated =
        m.calling.digits.truncated || m.called.digits.truncated || m.redirecting.digits.truncated;
    r.bearer = std::string(bearer_name(m.bearer));
    if (m.bearer.present && m.bearer.transfer_capability == 0x08) r.call_type = "data";
    if (m.channel.present && !m.channel.d_channel && m.channel.channel != 0) {
      r.channel = m.channel.channel;
      mark_audio(call);
    }
  }
  return call;
}

void CallTracker::set_channel(Call& call, const q931::Message& m, Timestamp time) {
  if (!m.channel.present || m.channel.d_channel || m.channel.channel == 0) return;
  const int channel = m.channel.channel;
  if (call.channel_confirmed && call.record.channel == channel) return;  // nothing new
  if (call.record.channel != channel) call.voice_mark.reset();
  call.record.channel = channel;
  mark_audio(call);
  // The responder confirmed the channel: a different call still holding it must have ended
  // without our seeing it. Calls never confirmed on the channel (the loser of a glare) stay.
  call.channel_confirmed = true;
  for (auto it = calls_.begin(); it != calls_.end();) {
    Call& other = it->second;
    if (&other != &call && other.channel_confirmed && other.record.channel == channel) {
      auto next = std::next(it);
      finish(it, other.last_message, EndReason::ChannelReused);
      it = next;
    } else {
      ++it;
    }
  }
  (void)time;
}

void CallTracker::apply(Call& call, const q931::Message& m, hal::Side from, Timestamp time) {
  CallRecord& r = call.record;
  call.last_message = time;
  const hal::Side originator =
      r.direction == Direction::Outbound ? hal::Side::Pbx : hal::Side::Carrier;
  switch (m.type) {
    case q931::msg::kCallProceeding:
    case q931::msg::kAlerting:
    case q931::msg::kProgress:
    case q931::msg::kSetupAck:
      if (from != originator) set_channel(call, m, time);
      break;
    case q931::msg::kConnect:
      if (from != originator) set_channel(call, m, time);
      call.channel_confirmed = call.channel_confirmed || r.channel.has_value();
      if (!r.answer && call.state == State::Setup) {
        r.answer = time;
        r.connected = wire_text(m.connected.digits.view());
        r.numbers_truncated = r.numbers_truncated || m.connected.digits.truncated;
        call.state = State::Answered;
        emit(CallEventType::Answered, time, r);
      }
      break;
    case q931::msg::kInformation:
      // Overlap dialing: before answer, digits extend the called number.
      if (call.state == State::Setup && !r.partial) {
        r.called += wire_text(m.called.digits.view());
        r.numbers_truncated = r.numbers_truncated || m.called.digits.truncated;
        r.called += wire_text(m.keypad.view());
      } else {
        r.keypad += wire_text(m.keypad.view());
      }
      break;
    case q931::msg::kDisconnect:
    case q931::msg::kRelease:
    case q931::msg::kReleaseComplete:
      mark_end(call, m, from, time);
      break;
    default:
      break;
  }
}

void CallTracker::mark_end(Call& call, const q931::Message& m, hal::Side from, Timestamp time) {
  call.state = State::Clearing;
  CallRecord& r = call.record;
  if (r.end) return;  // only the first clearing message counts
  r.end = time;
  r.cleared_by = from;
  if (m.cause.present) {
    r.cause = m.cause.value;
    r.cause_location = m.cause.location;
  }
}

void CallTracker::mark_audio(Call& call) {
  if (audio_meter_ && call.record.channel && !call.voice_mark)
    call.voice_mark = audio_meter_(*call.record.channel);
}

void CallTracker::classify(Call& call) {
  CallRecord& r = call.record;
  if (!audio_meter_ || !r.channel) return;
  const std::optional<double> voice_now = audio_meter_(*r.channel);
  if (!voice_now) return;  // no audio on the channel: nothing to judge by
  call.had_audio = true;
  std::vector<dsp::Event> events;
  events.reserve(r.inband.size());
  for (const InbandEvent& e : r.inband) {
    dsp::Event d;
    d.kind = e.kind == InbandEvent::Kind::Dtmf ? dsp::EventKind::dtmf
             : e.kind == InbandEvent::Kind::Mf ? dsp::EventKind::mf
                                               : dsp::EventKind::tone;
    d.digit = e.digit;
    if (auto tone = dsp::parse_tone_name(e.tone)) d.tone = *tone;
    events.push_back(d);
  }
  dsp::CallEvidence evidence;
  evidence.clear_channel = r.bearer == "digital";
  evidence.voice_s = *voice_now - call.voice_mark.value_or(0.0);
  r.call_type = std::string(dsp::to_string(dsp::classify_call(events, evidence)));
}

void CallTracker::on_inband(int channel, const InbandEvent& e) {
  // The call that held the channel when the signal was heard: open, or ended with its record
  // not final yet (what the detectors flush when a call's audio stops comes after its end).
  // If two did (a glare loser not yet released), the newest.
  Call* owner = nullptr;
  auto consider = [&](Call& call) {
    const CallRecord& r = call.record;
    if (r.channel != channel || (r.end && *r.end < e.time)) return;
    // Begun after the signal: not its call (a partial call began before we saw it).
    if (!r.partial && r.start && e.time < *r.start) return;
    if (!owner || r.start > owner->record.start) owner = &call;
  };
  for (auto& [key, call] : calls_) consider(call);
  for (Ending& ended : ending_) consider(ended.call);
  if (!owner) {
    ++stats_.inband_without_call;
    return;
  }
  CallRecord& r = owner->record;
  r.inband.push_back(e);
  if (e.kind != InbandEvent::Kind::Tone && (!owner->last_keyed || *owner->last_keyed < e.time))
    owner->last_keyed = e.time;
  if (e.kind == InbandEvent::Kind::Dtmf) {
    (e.from == hal::Side::Carrier ? r.digits_in : r.digits_out) += e.digit;
    r.digits.clear();
    if (!r.digits_in.empty()) r.digits = "in:" + r.digits_in;
    if (!r.digits_out.empty()) r.digits += (r.digits.empty() ? "out:" : " out:") + r.digits_out;
  }
  // A dial tone from the PBX after it answered an outside caller: the caller has a line.
  if (e.kind == InbandEvent::Kind::Tone && e.tone == "dial" && e.from == hal::Side::Pbx &&
      r.direction == Direction::Inbound && r.answer && e.time >= *r.answer && !r.second_dial_tone)
    r.second_dial_tone = e.time;
  emit(CallEventType::Inband, e.time, r);
}

void CallTracker::finish(std::map<Key, Call>::iterator it, Timestamp time, EndReason reason) {
  Call& call = it->second;
  classify(call);
  CallRecord& r = call.record;
  r.end_reason = reason;
  if (!r.end) r.end = time;
  if (r.answer && *r.end > *r.answer) {
    r.duration_s = std::chrono::duration<double>(*r.end - *r.answer).count();
  } else {
    r.duration_s = 0;
  }
  recently_closed_[it->first] = time;
  // Digits keyed up to the end: the last one may still be in the detectors.
  const bool keying =
      call.had_audio && call.last_keyed && *r.end - *call.last_keyed <= options_.keying_window;
  const Timestamp final_at = keying ? *r.end + options_.inband_grace : time;
  ending_.push_back(Ending{std::move(call), time, final_at});
  calls_.erase(it);
  emit_final(time);
}

// In end order: a record final early waits for those of calls that ended before it.
void CallTracker::emit_final(Timestamp now) {
  while (!ending_.empty() && ending_.front().final_at <= now) {
    const Ending done = std::move(ending_.front());
    ending_.pop_front();
    ++stats_.calls;
    if (done.call.record.partial) ++stats_.partial_calls;
    emit(CallEventType::Ended, done.time, done.call.record);
  }
}

void CallTracker::on_restart(const q931::Message& m, Timestamp time) {
  ++stats_.restarts;
  const bool whole_interface = m.restart.present && m.restart.restart_class != 0;
  const int channel = m.channel.present ? m.channel.channel : 0;
  for (auto it = calls_.begin(); it != calls_.end();) {
    auto next = std::next(it);
    if (whole_interface || (channel != 0 && it->second.record.channel == channel))
      finish(it, time, EndReason::Restart);
    it = next;
  }
}

void CallTracker::on_tick(Timestamp now) {
  for (auto it = calls_.begin(); it != calls_.end();) {
    auto next = std::next(it);
    const Call& call = it->second;
    const auto idle = now - call.last_message;
    switch (call.state) {
      case State::Setup:
        if (idle > options_.setup_timeout) finish(it, call.last_message, EndReason::Timeout);
        break;
      case State::Answered:
        if (idle > options_.active_timeout) finish(it, call.last_message, EndReason::Timeout);
        break;
      case State::Clearing:
        if (idle > options_.clearing_timeout) finish(it, call.last_message, EndReason::Released);
        break;
    }
    it = next;
  }
  emit_final(now);
  std::erase_if(recently_closed_,
                [&](const auto& kv) { return now - kv.second > options_.closed_memory; });
}

void CallTracker::close_all(Timestamp now, EndReason reason) {
  while (!calls_.empty()) finish(calls_.begin(), now, reason);
  emit_final(Timestamp::max());
}

void CallTracker::for_each_active(const std::function<void(const CallRecord&)>& fn) const {
  for (const auto& [key, call] : calls_) fn(call.record);
}

}  // namespace tw::calls
