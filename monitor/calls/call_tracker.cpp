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

// The B-channel a message names, if it names one.
std::optional<int> named_channel(const q931::Message& m) {
  if (!m.channel.present || m.channel.d_channel || m.channel.channel == 0) return std::nullopt;
  return m.channel.channel;
}

}  // namespace

CallTracker::CallTracker(const hal::SpanInfo& span, CallEventSink& sink, TrackerOptions options)
    : span_(span), sink_(sink), options_(options), channels_(kChannels) {}

void CallTracker::emit(CallEventType type, Timestamp time, const CallRecord& record) {
  sink_.on_call_event(CallEvent{.type = type, .time = time, .call = &record});
}

CallTracker::ChannelCalls* CallTracker::channel_calls(std::optional<int> channel) {
  if (!channel || *channel < 0 || *channel >= kChannels) return nullptr;
  return &channels_[static_cast<std::size_t>(*channel)];
}

// A RELEASE or RELEASE COMPLETE that tells nothing of a call: a stack clearing a call
// reference its peer does not know (after a restart, answering a STATUS), or the tail of a
// clearing whose DISCONNECT came before the capture. A DISCONNECT is different: it is only
// sent for a call that exists, with the cause the record needs, and the clearing that follows
// is seen whole, so it still opens a partial call.
bool CallTracker::is_stray_clearing(const q931::Message& m) {
  if (m.type != q931::msg::kRelease && m.type != q931::msg::kReleaseComplete) return false;
  return !named_channel(m) && m.calling.digits.view().empty() && m.called.digits.view().empty() &&
         m.connected.digits.view().empty();
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
  const auto found = index_.find(key);
  CallIt it = found == index_.end() ? calls_.end() : found->second;

  if (m.type == q931::msg::kSetup) {
    if (m.call_ref_flag) return;  // a SETUP always comes from the allocating side
    if (it != calls_.end()) finish(it, time, EndReason::Timeout);  // its end was lost
    recently_closed_.erase(key);
    guard_closed_.erase(key);
    it = open_call(key, m, time);
    emit(CallEventType::Started, time, it->second.record);
    return;
  }
  if (it == calls_.end()) {
    // The guard closed it: its clearing comes late, it is not a new call. Once cleared, the
    // call reference is free again.
    if (auto guarded = guard_closed_.find(key); guarded != guard_closed_.end()) {
      ++stats_.late_messages;
      if (m.type == q931::msg::kReleaseComplete) {
        guard_closed_.erase(guarded);
        remember_closed(key, Closed{.time = time});
      }
      return;
    }
    if (auto closed = recently_closed_.find(key);
        closed != recently_closed_.end() && time - closed->second.time <= options_.closed_memory) {
      ++(closed->second.stray ? stats_.stray_clearing : stats_.late_messages);
      return;
    }
    if (is_stray_clearing(m)) {
      ++stats_.stray_clearing;
      // The other side answers a RELEASE with RELEASE COMPLETE: swallow that too.
      if (m.type == q931::msg::kRelease) remember_closed(key, Closed{.time = time, .stray = true});
      return;
    }
    // A call that was up before the capture started: follow it from here as partial.
    it = open_call(key, m, time);
    it->second.record.partial = true;
    emit(CallEventType::Started, time, it->second.record);
  }
  apply(it, m, from, time);
  if (m.type == q931::msg::kReleaseComplete)
    finish(it, time, EndReason::Released);
  else
    arm(it);
}

CallTracker::CallIt CallTracker::open_call(Key key, const q931::Message& m, Timestamp time) {
  if (calls_.size() >= options_.max_open_calls) evict_nearest_timer();
  const CallIt it = calls_.try_emplace(key).first;
  index_.insert_or_assign(key, it);
  Call& call = it->second;
  call.deadline = deadlines_.emplace(time + options_.setup_timeout, it);
  CallRecord& r = call.record;
  r.span = span_.id;
  r.switch_type = std::string(hal::to_string(span_.switch_type));
  r.direction = originator(key) == hal::Side::Pbx ? Direction::Outbound : Direction::Inbound;
  r.call_ref = call_ref(key);
  r.start = time;
  call.last_message = time;
  if (m.type == q931::msg::kSetup) {
    r.calling = wire_text(m.calling.digits.view());
    add_called_digits(call, wire_text(m.called.digits.view()), m.sending_complete);
    if (m.calling.present && m.calling.has_presentation)
      r.calling_presentation = m.calling.presentation;
    r.calling_name = wire_text(m.display.view());
    r.redirecting = wire_text(m.redirecting.digits.view());
    r.numbers_truncated =
        m.calling.digits.truncated || m.called.digits.truncated || m.redirecting.digits.truncated;
    r.bearer = std::string(bearer_name(m.bearer));
    if (m.bearer.present && m.bearer.transfer_capability == 0x08) r.call_type = "data";
    if (const auto channel = named_channel(m)) {
      hold_channel(it, *channel);
      mark_audio(call);
    }
  }
  return it;
}

// A '#' ending the called number is the end-of-dialing mark, not a digit of the number
// (Q.931 5.1.1, 5.1.3: the sending complete indication is the Sending Complete IE or a
// network-dependent character such as '#'). Should more digits follow all the same, it was
// one of them and goes back in.
void CallTracker::add_called_digits(Call& call, std::string_view digits, bool sending_complete) {
  CallRecord& r = call.record;
  if (!digits.empty()) {
    if (call.dialing_closed_by_hash) r.called += '#';
    r.called += digits;
    call.dialing_closed_by_hash = r.called.ends_with('#');
    if (call.dialing_closed_by_hash) r.called.pop_back();
  }
  call.sending_complete = call.sending_complete || sending_complete;
  r.dialing_complete = call.sending_complete || call.dialing_closed_by_hash;
}

void CallTracker::hold_channel(CallIt it, std::optional<int> channel) {
  Call& call = it->second;
  if (ChannelCalls* held = channel_calls(call.record.channel)) std::erase(held->open, it);
  call.record.channel = channel;
  if (ChannelCalls* now = channel_calls(channel)) {
    const auto at = std::lower_bound(now->open.begin(), now->open.end(), it->first,
                                     [](CallIt a, Key k) { return a->first < k; });
    now->open.insert(at, it);
  }
}

void CallTracker::set_channel(CallIt it, const q931::Message& m, Timestamp time) {
  const auto named = named_channel(m);
  if (!named) return;
  const int channel = *named;
  Call& call = it->second;
  if (call.channel_confirmed && call.record.channel == channel) return;  // nothing new
  if (call.record.channel != channel) {
    call.voice_mark.reset();
    hold_channel(it, channel);
  }
  mark_audio(call);
  // The responder confirmed the channel: a different call still holding it must have ended
  // without our seeing it, at the last time it was seen alive. Calls never confirmed on the
  // channel (the loser of a glare) stay.
  call.channel_confirmed = true;
  std::vector<CallIt> reused;
  for (CallIt other : channels_[static_cast<std::size_t>(channel)].open)
    if (other != it && other->second.channel_confirmed) reused.push_back(other);
  for (CallIt other : reused) finish(other, other->second.last_alive(), EndReason::ChannelReused);
  (void)time;
}

void CallTracker::apply(CallIt it, const q931::Message& m, hal::Side from, Timestamp time) {
  Call& call = it->second;
  CallRecord& r = call.record;
  call.last_message = time;
  const hal::Side originator =
      r.direction == Direction::Outbound ? hal::Side::Pbx : hal::Side::Carrier;
  switch (m.type) {
    case q931::msg::kCallProceeding:
    case q931::msg::kAlerting:
    case q931::msg::kProgress:
    case q931::msg::kSetupAck:
      if (from != originator) set_channel(it, m, time);
      break;
    case q931::msg::kConnect:
      if (from != originator) set_channel(it, m, time);
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
        r.numbers_truncated = r.numbers_truncated || m.called.digits.truncated;
        add_called_digits(call, wire_text(m.called.digits.view()) + wire_text(m.keypad.view()),
                          m.sending_complete);
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

// When the call's timer runs out, by its state: from its last message, or for an answered
// call from the last time it was seen alive.
Timestamp CallTracker::due(const Call& call) const {
  switch (call.state) {
    case State::Answered:
      return call.last_alive() + options_.answered_idle_timeout;
    case State::Clearing:
      return call.last_message + options_.clearing_timeout;
    case State::Setup:
      break;
  }
  return call.last_message + options_.setup_timeout;
}

// A call's entry in deadlines_ is never later than its due time: a message that only puts
// the due time off leaves the entry (on_tick moves it on when it comes), so most messages cost
// no map operation; one that brings it nearer (clearing began) moves it now.
void CallTracker::arm(CallIt it) {
  const Timestamp at = due(it->second);
  if (at < it->second.deadline->first) move_deadline(it, at);
}

void CallTracker::move_deadline(CallIt it, Timestamp at) {
  Call& call = it->second;
  auto node = deadlines_.extract(call.deadline);  // no allocation: the node is reused
  node.key() = at;
  call.deadline = deadlines_.insert(std::move(node));
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

void CallTracker::on_audio(int channel, Timestamp time) {
  ChannelCalls* held = channel_calls(channel);
  if (!held || held->open.empty()) return;
  // The newest call on the channel is the one using it (as for in-band events).
  Call* newest = &held->open.front()->second;
  for (CallIt it : held->open)
    if (it->second.record.start > newest->record.start) newest = &it->second;
  if (newest->state == State::Answered && newest->last_heard < time) newest->last_heard = time;
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
  if (ChannelCalls* held = channel_calls(channel)) {
    for (CallIt it : held->open) consider(it->second);
    for (const std::uint64_t seq : held->ending) consider(ending_[seq - ending_front_].call);
  }
  if (!owner) {
    ++stats_.inband_without_call;
    return;
  }
  if (owner->state == State::Answered && owner->last_heard < e.time) owner->last_heard = e.time;
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

void CallTracker::finish(CallIt it, Timestamp time, EndReason reason) {
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
  remember_closed(it->first, Closed{.time = time});
  deadlines_.erase(call.deadline);
  if (ChannelCalls* held = channel_calls(r.channel)) {
    std::erase(held->open, it);
    held->ending.push_back(ending_front_ + ending_.size());
  }
  // Digits keyed up to the end: the last one may still be in the detectors.
  const bool keying =
      call.had_audio && call.last_keyed && *r.end - *call.last_keyed <= options_.keying_window;
  const Timestamp final_at = keying ? *r.end + options_.inband_grace : time;
  ending_.push_back(Ending{std::move(call), time, final_at});
  index_.erase(it->first);
  calls_.erase(it);
  emit_final(time);
}

// In end order: a record final early waits for those of calls that ended before it.
void CallTracker::emit_final(Timestamp now) {
  while (!ending_.empty() && ending_.front().final_at <= now) {
    const Ending done = std::move(ending_.front());
    ending_.pop_front();
    if (ChannelCalls* held = channel_calls(done.call.record.channel);
        held && !held->ending.empty() && held->ending.front() == ending_front_)
      held->ending.erase(held->ending.begin());
    ++ending_front_;
    ++stats_.calls;
    if (done.call.record.partial) ++stats_.partial_calls;
    emit(CallEventType::Ended, done.time, done.call.record);
  }
}

void CallTracker::on_restart(const q931::Message& m, Timestamp time) {
  ++stats_.restarts;
  const bool whole_interface = m.restart.present && m.restart.restart_class != 0;
  if (whole_interface) {
    while (!calls_.empty()) finish(calls_.begin(), time, EndReason::Restart);
    return;
  }
  const int channel = m.channel.present ? m.channel.channel : 0;
  if (channel == 0) return;
  const std::vector<CallIt> victims = channels_[static_cast<std::size_t>(channel)].open;
  for (CallIt it : victims) finish(it, time, EndReason::Restart);
}

void CallTracker::remember_closed(Key key, Closed closed) {
  recently_closed_[key] = closed;
  closed_order_.emplace_back(closed.time, key);
  while (closed_order_.size() > options_.closed_memory_calls) {
    const auto [time, oldest] = closed_order_.front();
    closed_order_.pop_front();
    // Not if the call reference closed again since: that entry is further back.
    if (auto c = recently_closed_.find(oldest);
        c != recently_closed_.end() && c->second.time == time)
      recently_closed_.erase(c);
  }
}

void CallTracker::remember_guard_closed(Key key, Timestamp time) {
  guard_closed_[key] = time;
  guard_order_.emplace_back(time, key);
  while (guard_order_.size() > options_.guard_memory_calls) {
    const auto [when, oldest] = guard_order_.front();
    guard_order_.pop_front();
    if (auto g = guard_closed_.find(oldest); g != guard_closed_.end() && g->second == when)
      guard_closed_.erase(g);
  }
}

// Entries are in the order they were made, not quite in time order (a timed-out call is
// remembered from its last message): one that expired behind a younger one goes when that
// one does, at most closed_memory later; lookups check the time anyway.
void CallTracker::forget_expired(Timestamp now) {
  while (!closed_order_.empty() && now - closed_order_.front().first > options_.closed_memory) {
    const auto [time, key] = closed_order_.front();
    closed_order_.pop_front();
    if (auto c = recently_closed_.find(key); c != recently_closed_.end() && c->second.time == time)
      recently_closed_.erase(c);
  }
}

void CallTracker::on_tick(Timestamp now) {
  // The calls whose deadline entry passed; one due later (a message or, when answered, audio
  // or a detection since the entry was set) moves on.
  expired_.clear();
  for (auto d = deadlines_.begin(); d != deadlines_.end() && d->first < now;) {
    const CallIt it = d->second;
    ++d;  // before this entry moves (to a time not before now: the walk ends before it)
    if (const Timestamp at = due(it->second); at >= now) {
      move_deadline(it, at);
      continue;
    }
    expired_.push_back(it);
  }
  // In call-reference order, as records came when every call was walked.
  std::sort(expired_.begin(), expired_.end(),
            [](CallIt a, CallIt b) { return a->first < b->first; });
  for (const CallIt it : expired_) give_up(it);
  emit_final(now);
  forget_expired(now);
}

// The call whose timer runs out first: entries that only lag their call's due time move on
// (each move is a real postponement, so this ends), the first one due at its entry goes.
void CallTracker::evict_nearest_timer() {
  while (!deadlines_.empty()) {
    const auto first = deadlines_.begin();
    const CallIt it = first->second;
    if (const Timestamp at = due(it->second); at > first->first) {
      move_deadline(it, at);
      continue;
    }
    ++stats_.evicted;
    give_up(it);
    return;
  }
}

void CallTracker::give_up(CallIt it) {
  const Call& call = it->second;
  switch (call.state) {
    case State::Setup:
      finish(it, call.last_message, EndReason::Timeout);
      break;
    case State::Answered: {
      // The guard: the call went silent long ago and its end was missed. It ended when it
      // was last seen alive; its clearing, should it come, is late, not a new call.
      const Key key = it->first;
      const Timestamp alive = call.last_alive();
      finish(it, alive, EndReason::Timeout);
      remember_guard_closed(key, alive);
      break;
    }
    case State::Clearing:
      finish(it, call.last_message, EndReason::Released);
      break;
  }
}

void CallTracker::close_all(Timestamp now, EndReason reason) {
  while (!calls_.empty()) finish(calls_.begin(), now, reason);
  emit_final(Timestamp::max());
}

void CallTracker::for_each_active(const std::function<void(const CallRecord&)>& fn) const {
  for (const auto& [key, call] : calls_) fn(call.record);
}

}  // namespace tw::calls
