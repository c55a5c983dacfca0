// The rules engine: call events and line events in, notices out (docs/rules.md).
//
// It sits in the pipeline as a decorator in front of the record stores:
//
//   Pipeline -> Engine (a CallEventSink) -> downstream sink (stores, live table)
//                  \-> NoticeSink (JSON lines, syslog, email spool)
//
// so the Ended event's record reaches the stores already annotated: `alerts` lists the
// categories raised on the call, and digits keyed on remote-access numbers are masked. Ended
// records are held back for `through_dial.end_together_s` (plus a second) of source time,
// because "the two legs ended together" is only known when the second leg ends; the first
// leg's record then carries the category too.
//
// Line events and ticks do not travel through CallEventSink: whoever drives the pipeline
// hands them to the engine as well, after the pipeline (so calls closed by a SourceEnd reach
// the engine before it flushes).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>

#include "monitor/calls/call_record.hpp"
#include "rules/actions/exec_hook.hpp"
#include "rules/config.hpp"
#include "rules/detectors.hpp"
#include "rules/notice.hpp"

namespace tw::rules {

struct EngineOptions {
  // Hooks for an inline card mode, which no source provides yet: there `hangup` clears a call
  // and returns whether it did; elsewhere a hangup action is recorded as "would_hangup".
  bool inline_mode = false;
  std::function<bool(const NoticeCall&)> hangup;
  // false: exec actions are recorded as "would_exec" and nothing runs (backtest).
  bool run_hooks = true;
};

struct EngineStats {
  std::uint64_t calls = 0;       // Ended events seen
  std::uint64_t detections = 0;  // raised by the detectors
  std::uint64_t allowed = 0;     // dropped by an "allow" rule
  std::uint64_t suppressed = 0;  // held back (same identifier within notices.suppress_s)
  std::uint64_t notices = 0;     // handed to the NoticeSink
  std::uint64_t digests = 0;
  std::uint64_t hooks = 0;  // exec hooks started
  std::uint64_t hook_failures = 0;
  std::uint64_t hangups = 0;                                // done or would have been done
  std::array<std::uint64_t, kCategoryCount> by_category{};  // notices handed on
};

class Engine final : public calls::CallEventSink, private detail::Context {
 public:
  Engine(std::shared_ptr<const Config> config, NoticeSink& notices,
         calls::CallEventSink* downstream = nullptr, EngineOptions options = {});
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void on_call_event(const calls::CallEvent& event) override;
  // From the pipeline: the decode_anomaly_burst detector counts them per span.
  void on_decode_anomaly(const DecodeAnomaly& anomaly) override;
  void on_line_event(const hal::LineEvent& event);
  void on_tick(Timestamp now);
  // End of the source or shutdown: releases held records, closes the digest period. Called
  // by on_line_event(SourceEnd) too.
  void finish(Timestamp now);

  // A new configuration (SIGHUP): detector state and suppression memory are kept. The caller
  // validates first and keeps the old config on errors.
  void reload(std::shared_ptr<const Config> config);
  const Config& config() const override { return *config_; }

  // A call in progress as outputs may show it (the live call table): the categories raised
  // on it so far, digits masked on remote-access calls.
  calls::CallRecord live_view(const calls::CallRecord& r) const;

  const EngineStats& stats() const { return stats_; }
  std::size_t active_calls() const { return active_.size(); }
  // Inbound legs noted on the outbound calls up, over all of them (each notes at most
  // detail::kMaxInboundUp), and ended records held back: state that traffic must not grow
  // without bound (the hostile-traffic test reads them).
  std::size_t inbound_up_entries() const {
    std::size_t n = 0;
    for (const auto& [key, c] : active_) n += c.inbound_up.size();
    return n;
  }
  std::size_t held_records() const { return held_.size(); }
  // Waits for running exec hooks (tests, shutdown); false if some were still running.
  bool wait_for_hooks(std::chrono::milliseconds limit);

 private:
  // detail::Context
  Timestamp now() const override { return now_; }
  const detail::ActiveCalls& active() const override { return active_; }
  const std::multimap<Timestamp, detail::CallKey>& inbound_by_start() const override {
    return inbound_by_start_;
  }
  void raise(detail::Detection d) override;

  detail::CallState& start_call(const calls::CallRecord& r, Timestamp t);
  void update_call(detail::CallState& c, const calls::CallRecord& r);
  // Keeps the answered-inbound index and the outbound-leg flag of `c` current.
  void note_answer(detail::CallState& c);
  void end_call(const detail::CallState& c);
  std::vector<detail::CallKey> inbound_up_now() const;
  void destination(detail::CallState& c);
  void mark(const detail::CallKey& key, Category category);
  void forward(calls::CallEventType type, Timestamp time, const calls::CallRecord& r);
  void release_held(Timestamp now, bool all);
  void advance(Timestamp t);
  // Adds the categories raised on the call to `out`, and masks its digits on a remote-access
  // call when the config says so.
  void annotate(calls::CallRecord& out, std::uint32_t raised, bool remote_access) const;
  bool is_emergency(const NoticeCall& call) const;

  std::shared_ptr<const Config> config_;
  NoticeSink& notices_;
  calls::CallEventSink* downstream_;
  EngineOptions options_;
  std::vector<std::unique_ptr<detail::Detector>> detectors_;
  detail::ActiveCalls active_;
  // Indexes over active_, so that no event walks every call up.
  std::multimap<Timestamp, detail::CallKey> inbound_by_start_;
  // Answered inbound calls up, by answer order: remote-access ones and the others.
  std::map<std::uint64_t, detail::CallKey> answered_remote_, answered_other_;
  std::uint64_t answer_seq_ = 0;
  std::uint64_t outbound_starts_ = 0;
  struct Held {
    Timestamp release;
    Timestamp time;
    detail::CallKey key;
    calls::CallRecord record;
    std::uint64_t seq;
  };
  std::deque<Held> held_;
  std::uint64_t held_seq_ = 0;  // of the next Held
  // The held records by call key (hashed: looked up at every end and notice).
  std::unordered_multimap<detail::CallKey, std::uint64_t, detail::CallKeyHash> held_index_;
  Suppressor suppressor_;
  DigestBuffer digest_;
  HookRunner hooks_;
  Timestamp now_{};
  Timestamp last_prune_{};
  EngineStats stats_;
};

}  // namespace tw::rules
