#include "rules/engine.hpp"

#include <algorithm>
#include <boost/log/trivial.hpp>
#include <cmath>

namespace tw::rules {

namespace {

using namespace std::chrono_literals;

std::chrono::microseconds micros(double s) {
  return std::chrono::microseconds(static_cast<std::int64_t>(std::llround(s * 1e6)));
}

std::chrono::seconds whole_seconds(double s) {
  return std::chrono::seconds(static_cast<std::int64_t>(std::llround(s)));
}

// "in:4711# out:12" -> "in:***** out:**": the labels stay readable.
std::string mask_labelled(const std::string& digits) {
  std::string out;
  std::size_t i = 0;
  while (i < digits.size()) {
    const std::size_t colon = digits.find(':', i);
    if (colon == std::string::npos) {
      out += mask_digits(std::string_view(digits).substr(i));
      break;
    }
    out += digits.substr(i, colon + 1 - i);
    const std::size_t space = digits.find(' ', colon);
    const std::size_t end = space == std::string::npos ? digits.size() : space;
    out += mask_digits(std::string_view(digits).substr(colon + 1, end - colon - 1));
    i = end;
    if (space != std::string::npos) {
      out += ' ';
      ++i;
    }
  }
  return out;
}

void mask_record(calls::CallRecord& r) {
  r.digits = mask_labelled(r.digits);
  r.digits_in = mask_digits(r.digits_in);
  r.digits_out = mask_digits(r.digits_out);
  r.keypad = mask_digits(r.keypad);
  for (calls::InbandEvent& e : r.inband)
    if (e.kind != calls::InbandEvent::Kind::Tone && e.digit != '#') e.digit = '*';
}

HookRunner::Limits hook_limits(const NoticeSettings& n) {
  return {std::chrono::milliseconds(static_cast<std::int64_t>(n.exec_timeout_s * 1000)),
          static_cast<std::size_t>(n.exec_max_running),
          static_cast<std::size_t>(n.exec_max_queued)};
}

}  // namespace

Engine::Engine(std::shared_ptr<const Config> config, NoticeSink& notices,
               calls::CallEventSink* downstream, EngineOptions options)
    : config_(std::move(config)),
      notices_(notices),
      downstream_(downstream),
      options_(std::move(options)),
      detectors_(detail::make_detectors()),
      suppressor_(whole_seconds(config_->notices.suppress_s)),
      digest_(whole_seconds(config_->notices.digest_s),
              static_cast<std::size_t>(config_->notices.digest_max)),
      hooks_(hook_limits(config_->notices)) {}

Engine::~Engine() = default;

void Engine::reload(std::shared_ptr<const Config> config) {
  config_ = std::move(config);
  suppressor_.set_interval(whole_seconds(config_->notices.suppress_s));
  digest_.set_interval(whole_seconds(config_->notices.digest_s));
  hooks_.set_limits(hook_limits(config_->notices));
}

bool Engine::wait_for_hooks(std::chrono::milliseconds limit) {
  return hooks_.wait_all(limit);
}

void Engine::advance(Timestamp t) {
  if (t > now_) now_ = t;
}

detail::CallState& Engine::start_call(const calls::CallRecord& r, Timestamp t) {
  const detail::CallKey key = detail::key_of(r);
  auto [it, fresh] = active_.try_emplace(key);
  detail::CallState& c = it->second;
  if (!fresh) return c;
  const Config& cfg = *config_;
  c.key = key;
  c.record = r;
  c.far =
      c.outbound() ? cfg.classifier.classify(r.called) : cfg.classifier.classify_caller(r.calling);
  c.profile = cfg.profile_for(c.outbound() ? r.calling : r.called).name;
  c.window = cfg.calendar.window(r.start.value_or(t));
  c.remote_access = !c.outbound() && cfg.is_remote_access(r.called);
  if (!c.outbound() && r.start) inbound_by_start_.emplace(*r.start, key);
  if (c.outbound()) {
    // Candidates for through-dialing: answered inbound calls up at this seizure. Each of
    // them now has an outbound leg (note_answer() reads that off the count).
    c.inbound_up = inbound_up_now();
    ++outbound_starts_;
  }
  note_answer(c);
  for (auto& d : detectors_) d->on_start(c, *this);
  return c;
}

// The latest answered remote-access legs (through-dialing) first, then the latest others.
std::vector<detail::CallKey> Engine::inbound_up_now() const {
  std::vector<detail::CallKey> out;
  for (auto it = answered_remote_.rbegin();
       it != answered_remote_.rend() && out.size() < detail::kMaxInboundUp; ++it)
    out.push_back(it->second);
  for (auto it = answered_other_.rbegin();
       it != answered_other_.rend() && out.size() < detail::kMaxInboundUp; ++it)
    out.push_back(it->second);
  std::sort(out.begin(), out.end());  // the order of active_, as the detectors expect
  return out;
}

void Engine::note_answer(detail::CallState& c) {
  if (c.outbound() || !c.answered()) return;
  if (c.answer_seq == 0 && !c.ended) {
    c.answer_seq = ++answer_seq_;
    c.outbound_mark = outbound_starts_;
    (c.remote_access ? answered_remote_ : answered_other_).emplace(c.answer_seq, c.key);
  }
  if (c.answer_seq != 0 && outbound_starts_ > c.outbound_mark) c.outbound_leg = true;
}

void Engine::end_call(const detail::CallState& c) {
  if (c.outbound()) return;
  if (c.answer_seq != 0) (c.remote_access ? answered_remote_ : answered_other_).erase(c.answer_seq);
  if (c.record.start) {
    auto [lo, hi] = inbound_by_start_.equal_range(*c.record.start);
    for (auto it = lo; it != hi; ++it) {
      if (it->second == c.key) {
        inbound_by_start_.erase(it);
        break;
      }
    }
  }
}

void Engine::update_call(detail::CallState& c, const calls::CallRecord& r) {
  const bool renumbered = r.called != c.record.called || r.calling != c.record.calling;
  c.record = r;
  // Overlap dialing: the called number grows after the SETUP.
  if (renumbered)
    c.far = c.outbound() ? config_->classifier.classify(r.called)
                         : config_->classifier.classify_caller(r.calling);
}

void Engine::destination(detail::CallState& c) {
  if (c.destination_done) return;
  c.destination_done = true;
  for (auto& d : detectors_) d->on_destination(c, *this);
}

void Engine::on_call_event(const calls::CallEvent& e) {
  if (!e.call) return;
  advance(e.time);
  release_held(now_, false);
  const calls::CallRecord& r = *e.call;
  const detail::CallState* up = nullptr;  // the call, for the masking below
  switch (e.type) {
    case calls::CallEventType::Started: {
      up = &start_call(r, e.time);
      break;
    }
    case calls::CallEventType::Answered: {
      detail::CallState& c = start_call(r, e.time);
      up = &c;
      update_call(c, r);
      note_answer(c);
      destination(c);
      for (auto& d : detectors_) d->on_update(c, *this);
      break;
    }
    case calls::CallEventType::Inband: {
      detail::CallState& c = start_call(r, e.time);
      up = &c;
      update_call(c, r);
      note_answer(c);
      for (auto& d : detectors_) d->on_update(c, *this);
      break;
    }
    case calls::CallEventType::Ended: {
      detail::CallState& c = start_call(r, e.time);
      update_call(c, r);
      c.ended = true;
      note_answer(c);
      destination(c);
      for (auto& d : detectors_) d->on_update(c, *this);
      for (auto& d : detectors_) d->on_end(c, *this);
      ++stats_.calls;
      const detail::CallKey key = c.key;
      end_call(c);
      // The state goes: its record becomes the stored one without a copy.
      calls::CallRecord out = std::move(c.record);
      annotate(out, c.raised, c.remote_access);
      active_.erase(key);
      if (downstream_) {
        const double hold = config_->detectors.through_dial.end_together_s + 1;
        held_index_.emplace(key, held_seq_);
        held_.push_back(Held{e.time + micros(hold), e.time, key, std::move(out), held_seq_++});
      }
      return;
    }
  }
  if (up && up->remote_access && config_->notices.mask_digits) {
    calls::CallRecord masked = r;
    mask_record(masked);
    forward(e.type, e.time, masked);
  } else {
    forward(e.type, e.time, r);
  }
}

void Engine::annotate(calls::CallRecord& out, std::uint32_t raised, bool remote_access) const {
  for (Category cat : all_categories()) {
    if (!(raised & (1u << static_cast<unsigned>(cat)))) continue;
    const std::string name(to_string(cat));
    if (std::find(out.alerts.begin(), out.alerts.end(), name) == out.alerts.end())
      out.alerts.push_back(name);
  }
  if (remote_access && config_->notices.mask_digits) mask_record(out);
}

calls::CallRecord Engine::live_view(const calls::CallRecord& r) const {
  calls::CallRecord out = r;  // the tracker's copy is the newer one
  const auto it = active_.find(detail::key_of(r));
  if (it == active_.end()) {
    if (config_->notices.mask_digits && config_->is_remote_access(r.called)) mask_record(out);
    return out;
  }
  annotate(out, it->second.raised, it->second.remote_access);
  return out;
}

void Engine::forward(calls::CallEventType type, Timestamp time, const calls::CallRecord& r) {
  if (!downstream_) return;
  calls::CallEvent ev;
  ev.type = type;
  ev.time = time;
  ev.call = &r;
  downstream_->on_call_event(ev);
}

void Engine::release_held(Timestamp now, bool all) {
  while (!held_.empty() && (all || held_.front().release <= now)) {
    Held h = std::move(held_.front());
    held_.pop_front();
    auto [lo, hi] = held_index_.equal_range(h.key);
    for (auto it = lo; it != hi; ++it) {
      if (it->second == h.seq) {
        held_index_.erase(it);
        break;
      }
    }
    forward(calls::CallEventType::Ended, h.time, h.record);
  }
}

void Engine::mark(const detail::CallKey& key, Category category) {
  if (auto it = active_.find(key); it != active_.end()) {
    it->second.raised |= 1u << static_cast<unsigned>(category);
    return;
  }
  // Ended already and waiting in the hold queue: the first held record of that call.
  auto [lo, hi] = held_index_.equal_range(key);
  if (lo != hi) {
    std::uint64_t first = lo->second;
    for (auto it = lo; it != hi; ++it) first = std::min(first, it->second);
    Held& h = held_[static_cast<std::size_t>(first - held_.front().seq)];
    const std::string name(to_string(category));
    if (std::find(h.record.alerts.begin(), h.record.alerts.end(), name) == h.record.alerts.end())
      h.record.alerts.push_back(name);
    std::stable_sort(h.record.alerts.begin(), h.record.alerts.end(),
                     [](const std::string& a, const std::string& b) {
                       const auto ca = parse_category(a), cb = parse_category(b);
                       return ca && cb && *ca < *cb;
                     });
    return;
  }
}

bool Engine::is_emergency(const NoticeCall& call) const {
  const Classifier& cl = config_->classifier;
  return (!call.called.empty() && cl.classify(call.called).is(NumberClass::Emergency)) ||
         (!call.calling.empty() && cl.classify(call.calling).is(NumberClass::Emergency));
}

void Engine::raise(detail::Detection d) {
  ++stats_.detections;
  const Config& cfg = *config_;
  Notice n;
  n.time = d.time;
  n.category = d.category;
  n.severity = d.severity;
  n.identifier = std::move(d.identifier);
  n.message = std::move(d.message);
  PolicyInput in;
  in.category = d.category;
  in.severity = d.severity;
  in.window = cfg.calendar.window(d.time);
  if (d.call) {
    const calls::CallRecord& r = d.call->record;
    n.call.span = r.span;
    n.call.channel = r.channel;
    n.call.start = r.start;
    n.call.calling = r.calling;
    n.call.called = r.called;
    n.call.calling_name = r.calling_name;
    n.call.direction = r.direction;
    in.has_call = true;
    in.direction = r.direction;
    in.profile = d.call->profile;
    in.far_classes = d.call->far.classes;
    in.window = d.call->window;
    in.call_type = r.call_type.empty() ? std::string_view("voice") : std::string_view(r.call_type);
  } else {
    n.call.span = d.span;
  }
  const PolicyRule* rule = decide(cfg.rules, in);
  const std::vector<Action> log_only = {Action::Log};
  const std::vector<Action>& actions = rule ? rule->actions : log_only;
  n.rule = rule ? rule->name : "(no rule)";
  n.severity = decided_severity(rule, d.severity);
  if (std::find(actions.begin(), actions.end(), Action::Allow) != actions.end()) {
    ++stats_.allowed;
    return;
  }
  if (d.call) {
    mark(d.call->key, d.category);
    for (const detail::CallKey& k : d.also) mark(k, d.category);
  }
  // Hangup is per call and happens even when the notice itself is suppressed.
  std::string hangup_action;
  // Only a call that is still up can be hung up (an Ended event means it is over).
  if (std::find(actions.begin(), actions.end(), Action::Hangup) != actions.end() && d.call &&
      !d.call->ended && active_.count(d.call->key)) {
    if (is_emergency(n.call)) {
      hangup_action = "hangup_refused_emergency";  // never, whatever a rule says
    } else if (options_.inline_mode && options_.hangup) {
      hangup_action = options_.hangup(n.call) ? "hangup" : "hangup_failed";
      ++stats_.hangups;
    } else {
      hangup_action = "would_hangup";
      ++stats_.hangups;
    }
  }
  if (!suppressor_.allow(n.identifier, d.time, n.repeats)) {
    ++stats_.suppressed;
    return;
  }
  if (d.started_local) {
    n.message += cfg.calendar.format_local(*d.started_local);
    n.message += " (";
    n.message += to_string(d.started_window);
    n.message += ')';
  }
  bool digest = false;
  for (Action a : actions) {
    switch (a) {
      case Action::Allow:
        break;
      case Action::Log:
        n.actions.push_back("log");
        break;
      case Action::Alert:
        n.actions.push_back("alert");
        break;
      case Action::Digest:
        n.actions.push_back("digest");
        digest = true;
        break;
      case Action::Hangup:
        if (!hangup_action.empty()) n.actions.push_back(hangup_action);
        break;
      case Action::Exec: {
        if (!options_.run_hooks) {
          n.actions.push_back("would_exec");
          break;
        }
        const std::string err = hooks_.spawn(hook_argv(rule->exec, n), hook_env(n));
        if (err.empty()) {
          ++stats_.hooks;
          n.actions.push_back("exec");
        } else {
          ++stats_.hook_failures;
          n.actions.push_back("exec_failed");
          BOOST_LOG_TRIVIAL(error) << "exec hook of rule " << n.rule << ": " << err;
        }
        break;
      }
    }
  }
  if (digest) digest_.add(n);
  ++stats_.notices;
  ++stats_.by_category[static_cast<std::size_t>(n.category)];
  notices_.on_notice(n);
}

void Engine::on_line_event(const hal::LineEvent& e) {
  advance(e.time);
  for (auto& d : detectors_) d->on_line_event(e, *this);
  if (e.type == hal::LineEventType::SourceEnd) finish(e.time);
}

void Engine::on_decode_anomaly(const DecodeAnomaly& a) {
  advance(a.time);
  for (auto& d : detectors_) d->on_decode_anomaly(a, *this);
}

void Engine::on_tick(Timestamp now) {
  advance(now);
  release_held(now_, false);
  for (auto& d : detectors_) d->on_tick(now_, *this);
  if (auto dg = digest_.due(now_)) {
    ++stats_.digests;
    notices_.on_digest(*dg);
  }
  notices_.on_tick(now_);
  if (now_ - last_prune_ >= 60s) {
    last_prune_ = now_;
    suppressor_.prune(now_);
    stats_.hook_failures += hooks_.reap();
  }
}

void Engine::finish(Timestamp now) {
  advance(now);
  for (auto& d : detectors_) d->on_tick(now_, *this);
  release_held(now_, true);
  if (auto dg = digest_.flush(now_)) {
    ++stats_.digests;
    notices_.on_digest(*dg);
  }
  notices_.on_finish(now_);
  stats_.hook_failures += hooks_.reap();
}

}  // namespace tw::rules
