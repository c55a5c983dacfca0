// The engine on hand-built call records: what the simulator cannot produce yet (in-band
// digits, second dial tone, call types, redirecting numbers, line alarms) and the notice
// machinery (policy, suppression, digests, emergency calls, PIN masking, annotation, reload).
#include <gtest/gtest.h>

#include <algorithm>

#include "rules/engine.hpp"

namespace tw::rules {
namespace {

using namespace std::chrono_literals;
using calls::CallRecord;
using calls::Direction;

// Tuesday 2027-01-05 10:00 UTC: business hours for the default (UTC) calendar.
const Timestamp kT0 = *hal::parse_time("2027-01-05T10:00:00Z");

Timestamp t(double s) {
  return kT0 + std::chrono::microseconds(static_cast<std::int64_t>(s * 1e6));
}

struct Notices final : NoticeSink {
  std::vector<Notice> got;
  std::vector<Digest> digests;
  void on_notice(const Notice& n) override { got.push_back(n); }
  void on_digest(const Digest& d) override { digests.push_back(d); }
  std::vector<Notice> of(Category c) const {
    std::vector<Notice> out;
    std::copy_if(got.begin(), got.end(), std::back_inserter(out),
                 [&](const Notice& n) { return n.category == c; });
    return out;
  }
  std::string dump() const {
    std::string s;
    for (const Notice& n : got) s += format_notice_line(n) + "\n";
    return s;
  }
};

struct Records final : calls::CallEventSink {
  std::vector<CallRecord> ended;
  std::vector<CallRecord> seen;  // every event's record, as forwarded
  void on_call_event(const calls::CallEvent& e) override {
    seen.push_back(*e.call);
    if (e.type == calls::CallEventType::Ended) ended.push_back(*e.call);
  }
  const CallRecord& by_called(const std::string& called) const {
    for (const CallRecord& r : ended)
      if (r.called == called) return r;
    ADD_FAILURE() << "no record for " << called;
    return ended.front();
  }
};

std::shared_ptr<const Config> config(const std::string& toml, std::vector<std::string> sets = {}) {
  ConfigOptions o;
  o.overrides = std::move(sets);
  o.high_risk_search = {std::string(TW_SOURCE_DIR) + "/data/high-risk-destinations.toml"};
  ConfigResult r = parse_config(toml, "test.toml", o);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  return r.config;
}

std::uint16_t next_ref = 1;

// A call: times are seconds from kT0; answer < 0 = unanswered.
CallRecord call(Direction dir, std::string calling, std::string called, double start, double answer,
                double end, int channel = 0) {
  CallRecord r;
  r.span = 1;
  r.channel = channel ? channel : 1 + (next_ref % 23);
  r.direction = dir;
  r.calling = std::move(calling);
  r.called = std::move(called);
  r.start = t(start);
  if (answer >= 0) r.answer = t(answer);
  r.end = t(end);
  r.duration_s = answer >= 0 ? end - answer : 0;
  r.cause = 16;
  r.call_ref = next_ref++;
  return r;
}

CallRecord outbound(std::string calling, std::string called, double start, double answer,
                    double end) {
  return call(Direction::Outbound, std::move(calling), std::move(called), start, answer, end);
}
CallRecord inbound(std::string calling, std::string called, double start, double answer,
                   double end) {
  return call(Direction::Inbound, std::move(calling), std::move(called), start, answer, end);
}

// The record as the tracker would have shown it at each event.
CallRecord staged(const CallRecord& r, calls::CallEventType type) {
  CallRecord s = r;
  if (type == calls::CallEventType::Ended) return s;
  s.end.reset();
  s.duration_s = 0;
  s.cause.reset();
  if (type == calls::CallEventType::Answered) return s;
  s.answer.reset();
  s.digits.clear();
  s.digits_in.clear();
  s.keypad.clear();
  s.second_dial_tone.reset();
  s.call_type = "voice";
  return s;
}

struct Harness {
  explicit Harness(std::shared_ptr<const Config> c, EngineOptions o = {})
      : cfg(std::move(c)), engine(cfg, notices, &records, std::move(o)) {}
  std::shared_ptr<const Config> cfg;
  Notices notices;
  Records records;
  Engine engine;
  Timestamp clock = kT0;

  void tick_to(Timestamp when) {
    while (clock + 1s <= when) {
      clock += 1s;
      engine.on_tick(clock);
    }
    if (when > clock) {
      clock = when;
      engine.on_tick(clock);
    }
  }
  void event(calls::CallEventType type, const CallRecord& r, Timestamp when) {
    tick_to(when);
    calls::CallEvent e;
    e.type = type;
    e.time = when;
    e.call = &r;
    engine.on_call_event(e);
  }
  // Plays calls as the tracker reports them: Started, Answered, Ended in time order.
  void play(const std::vector<CallRecord>& calls_in) {
    struct Ev {
      Timestamp time;
      calls::CallEventType type;
      CallRecord record;
    };
    std::vector<Ev> evs;
    for (const CallRecord& r : calls_in) {
      evs.push_back(
          {*r.start, calls::CallEventType::Started, staged(r, calls::CallEventType::Started)});
      if (r.answer)
        evs.push_back(
            {*r.answer, calls::CallEventType::Answered, staged(r, calls::CallEventType::Answered)});
      // RELEASE COMPLETE comes a moment after the first clearing message.
      evs.push_back({*r.end + 50ms, calls::CallEventType::Ended, r});
    }
    std::stable_sort(evs.begin(), evs.end(),
                     [](const Ev& a, const Ev& b) { return a.time < b.time; });
    for (const Ev& e : evs) event(e.type, e.record, e.time);
  }
  void line(hal::LineEventType type, double at_s, std::uint32_t alarms = 0) {
    tick_to(t(at_s));
    hal::LineEvent e;
    e.span = 1;
    e.time = t(at_s);
    e.type = type;
    e.alarms = alarms;
    engine.on_line_event(e);
  }
  void finish(double extra_s = 10) {
    tick_to(clock + std::chrono::seconds(static_cast<long>(extra_s)));
    engine.finish(clock);
  }
};

std::vector<std::string> alerts(const CallRecord& r) {
  return r.alerts;
}

// ---- call forward ----------------------------------------------------------------------

TEST(RulesEngine, CallForwardOutToInternationalRightAfterAnInboundCall) {
  Harness h(config(""));
  CallRecord in = inbound("3125550000", "2125550150", 0, 1, 120);
  CallRecord out = outbound("2125550150", "011442079460000", 2, 8, 100);
  out.redirecting = "2125550150";
  h.play({in, out});
  h.finish();
  const auto cf = h.notices.of(Category::CallForward);
  ASSERT_EQ(cf.size(), 1u) << h.notices.dump();
  EXPECT_EQ(cf[0].severity, Severity::Critical);
  EXPECT_EQ(cf[0].rule, "call-forward");
  EXPECT_EQ(cf[0].actions, std::vector<std::string>{"alert"});
  EXPECT_EQ(cf[0].call.called, "011442079460000");
  EXPECT_EQ(cf[0].identifier, "call_forward:2125550150:critical");
  // The odd international call in business hours is not a notice at all.
  EXPECT_EQ(h.notices.got.size(), 1u) << h.notices.dump();
  EXPECT_EQ(alerts(h.records.by_called("011442079460000")),
            std::vector<std::string>{"call_forward"});
  EXPECT_EQ(alerts(h.records.by_called("2125550150")), std::vector<std::string>{"call_forward"});
}

TEST(RulesEngine, CallForwardNeedsARedirectingNumberAndAnExpensiveDestination) {
  Harness h(config(""));
  CallRecord plain = outbound("2125550150", "011442079460000", 2, 8, 60);  // no redirecting
  CallRecord domestic = outbound("2125550151", "12125559999", 3, 8, 60);
  domestic.redirecting = "2125550151";
  CallRecord lone = outbound("2125550152", "011442079460001", 200, 205, 260);  // no inbound
  lone.redirecting = "2125550152";
  h.play({inbound("3125550000", "2125550150", 0, 1, 120), plain, domestic, lone});
  h.finish();
  const auto cf = h.notices.of(Category::CallForward);
  ASSERT_EQ(cf.size(), 1u) << h.notices.dump();
  EXPECT_EQ(cf[0].call.called, "011442079460001");
  EXPECT_EQ(cf[0].severity, Severity::Warning);
}

// ---- fax / modem on voice-only lines ---------------------------------------------------

TEST(RulesEngine, FaxAndModemOnVoiceOnlyLines) {
  Harness h(config("[lines]\nvoice_only = [\"1:1-12\"]\n"));
  CallRecord fax = call(Direction::Outbound, "2125550100", "12125557000", 0, 2, 60, 3);
  fax.call_type = "fax";
  CallRecord modem = call(Direction::Inbound, "3125550000", "2125550100", 0, 2, 60, 5);
  modem.call_type = "modem";
  CallRecord other_line = call(Direction::Outbound, "2125550100", "12125557001", 0, 2, 60, 13);
  other_line.call_type = "fax";
  CallRecord voice = call(Direction::Outbound, "2125550100", "12125557002", 0, 2, 60, 4);
  h.play({fax, modem, other_line, voice});
  h.finish();
  ASSERT_EQ(h.notices.got.size(), 2u) << h.notices.dump();
  const auto f = h.notices.of(Category::FaxOnVoiceLine);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].identifier, "fax_on_voice_line:span1:3");
  EXPECT_EQ(f[0].rule, "fax-modem-on-voice-line");
  EXPECT_EQ(f[0].actions, std::vector<std::string>{"alert"});
  EXPECT_EQ(h.notices.of(Category::ModemOnVoiceLine).size(), 1u);
}

TEST(RulesEngine, CallTypeLearnedMidCallIsReportedAtOnce) {
  Harness h(config("[lines]\nvoice_only = [\"1\"]\n"));
  CallRecord r = call(Direction::Outbound, "2125550100", "12125557000", 0, 2, 300, 7);
  h.event(calls::CallEventType::Started, staged(r, calls::CallEventType::Started), t(0));
  h.event(calls::CallEventType::Answered, staged(r, calls::CallEventType::Answered), t(2));
  CallRecord during = staged(r, calls::CallEventType::Answered);
  during.call_type = "modem";
  h.event(calls::CallEventType::Inband, during, t(20));
  ASSERT_EQ(h.notices.got.size(), 1u);
  EXPECT_EQ(h.notices.got[0].category, Category::ModemOnVoiceLine);
  EXPECT_EQ(h.notices.got[0].time, t(20));
}

// ---- span / D-channel down -------------------------------------------------------------

TEST(RulesEngine, SpanDownOnlyAfterAMinute) {
  Harness h(config(""));
  h.line(hal::LineEventType::DChanDown, 0);
  h.tick_to(t(59));
  EXPECT_TRUE(h.notices.got.empty());
  h.tick_to(t(61));
  ASSERT_EQ(h.notices.got.size(), 1u);
  const Notice& n = h.notices.got[0];
  EXPECT_EQ(n.category, Category::SpanDown);
  EXPECT_EQ(n.severity, Severity::Critical);
  EXPECT_EQ(n.identifier, "span_down:span1");
  EXPECT_EQ(n.rule, "span-down");
  EXPECT_EQ(n.call.span, 1);
  EXPECT_FALSE(n.call.direction);
  EXPECT_NE(n.message.find("D-channel down"), std::string::npos) << n.message;
  h.line(hal::LineEventType::DChanUp, 100);
  // A 30-second red alarm is a blip; a long one is reported (suppression is per identifier:
  // the second outage comes after the interval).
  h.line(hal::LineEventType::Alarm, 200, hal::alarm::kRed);
  h.line(hal::LineEventType::NoAlarm, 230);
  h.tick_to(t(400));
  EXPECT_EQ(h.notices.got.size(), 1u);
  h.line(hal::LineEventType::Alarm, 4000, hal::alarm::kRed | hal::alarm::kLos);
  h.tick_to(t(4070));
  ASSERT_EQ(h.notices.got.size(), 2u) << h.notices.dump();
  EXPECT_NE(h.notices.got[1].message.find("red alarm"), std::string::npos);
  EXPECT_NE(h.notices.got[1].message.find("loss of signal"), std::string::npos);
}

// ---- through-dialing evidence that only in-band detection gives ------------------------

const char* kRemote = "[site]\nremote_access = [\"2125550199\"]\n";

TEST(RulesEngine, ThroughDialWhenTheDialedNumberWasKeyedOnTheInboundLeg) {
  Harness h(config(kRemote));
  CallRecord in = inbound("3125550000", "2125550199", 0, 2, 300);
  in.digits_in = "4711#0114420794600#";
  in.digits = "in:4711#0114420794600#";
  CallRecord out = outbound("2125550199", "0114420794600", 30, 40, 200);
  h.play({in, out});
  h.finish();
  const auto td = h.notices.of(Category::ThroughDial);
  ASSERT_EQ(td.size(), 1u) << h.notices.dump();
  EXPECT_EQ(td[0].severity, Severity::Critical);
  EXPECT_EQ(td[0].rule, "through-dial");
  EXPECT_EQ(td[0].actions, (std::vector<std::string>{"alert", "would_hangup"}));
  EXPECT_EQ(td[0].identifier, "through_dial:span1:2125550199:critical");
  EXPECT_EQ(td[0].time, t(40));  // at the outbound answer, while both calls are up
  // The access code and the keyed number are masked, their length kept.
  EXPECT_NE(td[0].message.find("\"****#*************#\""), std::string::npos) << td[0].message;
  EXPECT_EQ(td[0].message.find("4711"), std::string::npos);
  const CallRecord& rin = h.records.by_called("2125550199");
  EXPECT_EQ(rin.digits_in, "****#*************#");
  EXPECT_EQ(rin.digits, "in:****#*************#");
  EXPECT_EQ(alerts(rin), std::vector<std::string>{"through_dial"});
  // The international call itself was allowed (business hours): not an alert of the call.
  EXPECT_EQ(alerts(h.records.by_called("0114420794600")), std::vector<std::string>{"through_dial"});
  // No forwarded event ever carried the PIN.
  for (const CallRecord& r : h.records.seen) EXPECT_EQ(r.digits_in.find("4711"), std::string::npos);
}

TEST(RulesEngine, ThroughDialOnASecondDialTone) {
  Harness h(config(kRemote));
  CallRecord in = inbound("3125550000", "2125550199", 0, 2, 300);
  in.second_dial_tone = t(10);
  h.play({in, outbound("2125550199", "12125557777", 30, 40, 100)});
  h.finish();
  const auto td = h.notices.of(Category::ThroughDial);
  ASSERT_EQ(td.size(), 1u) << h.notices.dump();
  EXPECT_EQ(td[0].severity, Severity::Critical);
  EXPECT_NE(td[0].message.find("dial tone"), std::string::npos);
}

TEST(RulesEngine, OutboundCallDuringAVoicemailSessionIsNotThroughDialing) {
  Harness h(config(kRemote));
  // Someone leaves a voicemail while a colleague makes an ordinary call that ends later.
  h.play({inbound("3125550000", "2125550199", 0, 2, 60),
          outbound("2125550120", "12125557777", 10, 15, 200)});
  h.finish();
  EXPECT_TRUE(h.notices.got.empty()) << h.notices.dump();
}

// One remote-access call with more outbound legs riding on it than are remembered (the latest
// 64): digits keyed later judge only those, so a flood of seizures under one answered call
// cannot make each of its digits re-judge every leg, nor keep every leg.
void play_many_riders(Harness& h, const std::string& keyed) {
  const CallRecord in = inbound("3125550000", "2125550199", 0, 2, 3000);
  h.event(calls::CallEventType::Started, staged(in, calls::CallEventType::Started), t(0));
  h.event(calls::CallEventType::Answered, staged(in, calls::CallEventType::Answered), t(2));
  std::vector<CallRecord> legs;
  for (int i = 0; i < 70; ++i)
    legs.push_back(outbound("21255502" + std::to_string(10 + i),
                            "1212555" + std::to_string(1000 + i), 10 + 10 * i, 12 + 10 * i,
                            15 + 10 * i));
  h.play(legs);
  CallRecord live = staged(in, calls::CallEventType::Answered);
  live.digits_in = keyed;
  h.event(calls::CallEventType::Inband, live, t(800));
  CallRecord ended = in;
  ended.digits_in = keyed;
  h.event(calls::CallEventType::Ended, ended, t(3000));
  h.finish();
}

TEST(RulesEngine, ThroughDialJudgesTheLatest64LegsRidingOnOneInboundCall) {
  Harness h(config(kRemote));
  play_many_riders(h, "4711#12125551069#");  // the 70th leg's number
  const auto td = h.notices.of(Category::ThroughDial);
  ASSERT_EQ(td.size(), 1u) << h.notices.dump();
  EXPECT_EQ(td[0].severity, Severity::Critical);
  EXPECT_EQ(td[0].call.called, "12125551069");
  EXPECT_EQ(td[0].time, t(800));
}

TEST(RulesEngine, ThroughDialForgetsLegsPastTheLatest64) {
  Harness h(config(kRemote));
  play_many_riders(h, "4711#12125551005#");  // the 6th leg: 64 legs started after it
  EXPECT_TRUE(h.notices.of(Category::ThroughDial).empty()) << h.notices.dump();
}

// A flood of made-up caller IDs ringing briefly: the numbers remembered for a callback stay at
// the latest 65,536; the earliest is forgotten.
TEST(RulesEngine, WangiriRemembersTheLatest65536NumbersThatRang) {
  Harness h(config(""));
  std::vector<CallRecord> rang;
  for (int i = 0; i <= 65'536; ++i) {
    const double at = i * 0.01;
    rang.push_back(inbound("242" + std::to_string(1'000'000 + i), "2125550100", at, -1, at + 1));
  }
  h.play(rang);
  h.play({outbound("2125550100", "12421000000", 700, 705, 760),    // the first: forgotten
          outbound("2125550101", "12421000001", 800, 805, 860),    // the second: remembered
          outbound("2125550102", "12421065536", 900, 905, 960)});  // the last
  h.finish();
  const auto w = h.notices.of(Category::WangiriCallback);
  ASSERT_EQ(w.size(), 2u) << h.notices.dump();
  EXPECT_EQ(w[0].identifier, "wangiri_callback:12421000001");
  EXPECT_EQ(w[1].identifier, "wangiri_callback:12421065536");
}

// Daily minutes are kept for at most 65,536 calling numbers: past it the earliest seen is
// forgotten (its minutes start again from zero), so a flood of made-up calling numbers cannot
// grow the totals for the rest of the day.
TEST(RulesEngine, DailyMinutesKeepTheLatest65536CallingNumbers) {
  const std::string cfg = "[detectors.minutes_cap]\nper_source = { warning = 60 }\n";
  const auto run = [&](int others) {
    Harness h(config(cfg));
    std::vector<CallRecord> calls = {outbound("2125550100", "12125557777", 0, 5, 2405)};
    for (int i = 0; i < others; ++i) {
      const double at = 2500 + i * 0.01;
      calls.push_back(
          outbound("3" + std::to_string(100'000'000 + i), "12125557777", at, at + 0.5, at + 1.5));
    }
    calls.push_back(outbound("2125550100", "12125557777", 3200, 3205, 5005));
    h.play(calls);
    h.finish();
    return h.notices.of(Category::MinutesCap);
  };
  // 40 + 30 minutes from 2125550100: the warning at 60.
  const auto kept = run(65'535);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].identifier, "minutes_cap:source:2125550100:2027-01-05:warning");
  // One more calling number in between: its first 40 minutes are forgotten.
  EXPECT_TRUE(run(65'536).empty());
}

// ---- emergency calls and hangup --------------------------------------------------------

const char* kHangupOnSpanLoad = R"(
[detectors.concurrency]
per_span = { critical = 1 }
[[policy]]
name = "cut"
category = "concurrency"
action = ["alert", "hangup"]
)";

TEST(RulesEngine, EmergencyCallsAreNeverHungUp) {
  std::vector<NoticeCall> hung;
  EngineOptions o;
  o.inline_mode = true;
  o.hangup = [&](const NoticeCall& c) {
    hung.push_back(c);
    return true;
  };
  Harness h(config(kHangupOnSpanLoad, {"notices.suppress_s=0"}), o);
  h.play({outbound("2125550100", "911", 0, 1, 60)});
  h.play({outbound("2125550100", "12125557777", 100, 101, 160)});
  h.finish();
  const auto c = h.notices.of(Category::Concurrency);
  ASSERT_EQ(c.size(), 2u) << h.notices.dump();
  EXPECT_EQ(c[0].call.called, "911");
  EXPECT_EQ(c[0].actions, (std::vector<std::string>{"alert", "hangup_refused_emergency"}));
  EXPECT_EQ(c[1].actions, (std::vector<std::string>{"alert", "hangup"}));
  ASSERT_EQ(hung.size(), 1u);
  EXPECT_EQ(hung[0].called, "12125557777");
}

TEST(RulesEngine, HangupIsOnlyRecordedWhenNotInline) {
  Harness h(config(kHangupOnSpanLoad, {"notices.suppress_s=0"}));
  h.play({outbound("2125550100", "9911", 0, 1, 60),
          outbound("2125550101", "12125557777", 100, 101, 160)});
  h.finish();
  const auto c = h.notices.of(Category::Concurrency);
  ASSERT_EQ(c.size(), 2u) << h.notices.dump();
  EXPECT_EQ(c[0].actions, (std::vector<std::string>{"alert", "hangup_refused_emergency"}));
  EXPECT_EQ(c[1].actions, (std::vector<std::string>{"alert", "would_hangup"}));
}

// ---- policy, suppression, digest -------------------------------------------------------

TEST(RulesEngine, SameIdentifierIsSuppressedForTheInterval) {
  Harness h(config("", {"notices.suppress_s=600"}));
  h.play({outbound("2125550100", "19005551234", 0, 2, 30),
          outbound("2125550100", "19005551234", 60, 62, 90),       // same: suppressed
          outbound("2125550100", "19005550000", 120, 122, 150),    // another number
          outbound("2125550100", "19005551234", 300, 302, 330),    // suppressed
          outbound("2125550100", "19005551234", 700, 702, 730)});  // after the interval
  h.finish();
  const auto p = h.notices.of(Category::Premium);
  ASSERT_EQ(p.size(), 3u) << h.notices.dump();
  EXPECT_EQ(p[0].identifier, "premium:2125550100:19005551234");
  EXPECT_EQ(p[0].repeats, 0u);
  EXPECT_EQ(p[1].call.called, "19005550000");
  EXPECT_EQ(p[2].time, t(702));
  EXPECT_EQ(p[2].repeats, 2u);
  EXPECT_EQ(h.engine.stats().suppressed, 2u);
  EXPECT_EQ(p[0].rule, "premium");
  EXPECT_EQ(p[0].severity, Severity::Critical);  // the default profile does not allow premium
  // Suppressed or not, every call records what was raised on it.
  for (const CallRecord& r : h.records.ended)
    EXPECT_EQ(r.alerts, std::vector<std::string>{"premium"});
}

TEST(RulesEngine, LowSeverityNoticesGoToAPeriodicDigest) {
  Harness h(config("", {"detectors.call_rate.per_source.warning=3",
                        "detectors.call_rate.per_source.critical=0", "notices.digest_s=600"}));
  std::vector<CallRecord> calls;
  for (int i = 0; i < 4; ++i)
    calls.push_back(
        outbound("2125550100", "1212555700" + std::to_string(i), i * 10, i * 10 + 2, i * 10 + 5));
  h.play(calls);
  ASSERT_EQ(h.notices.got.size(), 1u) << h.notices.dump();
  const Notice& n = h.notices.got[0];
  EXPECT_EQ(n.category, Category::CallRate);
  EXPECT_EQ(n.severity, Severity::Warning);
  EXPECT_EQ(n.rule, "capacity-warning");
  EXPECT_EQ(n.actions, std::vector<std::string>{"digest"});
  EXPECT_EQ(n.identifier, "call_rate:source:2125550100:warning");
  EXPECT_TRUE(h.notices.digests.empty());
  h.tick_to(n.time + 599s);
  EXPECT_TRUE(h.notices.digests.empty());
  h.tick_to(n.time + 600s);
  ASSERT_EQ(h.notices.digests.size(), 1u);
  const Digest& d = h.notices.digests[0];
  EXPECT_EQ(d.from, n.time);
  ASSERT_EQ(d.notices.size(), 1u);
  EXPECT_EQ(d.counts.at(Category::CallRate), 1u);
  const std::string text = render_digest(d);
  EXPECT_NE(text.find("call_rate: 1"), std::string::npos) << text;
  EXPECT_NE(text.find("3 outbound calls from 2125550100"), std::string::npos) << text;
  // finish() closes a period that is still open.
  h.play({outbound("2125550101", "19005551234", 2000, 2001, 2010)});  // premium: alert, no digest
  h.finish();
  EXPECT_EQ(h.notices.digests.size(), 1u);
}

TEST(RulesEngine, SiteRulesComeFirstAndAllowIsSilent) {
  Harness h(config(R"(
[[profile]]
name = "psychic-line-buyers"
numbers = ["2125550100"]
[[policy]]
category = "premium"
profile = "psychic-line-buyers"
action = "allow"
[[policy]]
name = "intl-log"
category = "international"
action = "log"
)"));
  h.play({outbound("2125550100", "19005551234", 0, 2, 30),
          outbound("2125550101", "19005551234", 40, 42, 70),
          outbound("2125550101", "011442079460000", 80, 82, 90)});
  h.finish();
  ASSERT_EQ(h.notices.got.size(), 2u) << h.notices.dump();
  EXPECT_EQ(h.notices.got[0].call.calling, "2125550101");
  EXPECT_EQ(h.notices.got[0].rule, "premium");
  EXPECT_EQ(h.notices.got[1].rule, "intl-log");
  EXPECT_EQ(h.notices.got[1].actions, std::vector<std::string>{"log"});
  EXPECT_EQ(h.engine.stats().allowed, 1u);
  // An allowed notice is not an alert of the call.
  EXPECT_TRUE(h.records.ended.front().alerts.empty());
}

TEST(RulesEngine, ProfilesAllowlistsAndAfterHours) {
  Harness h(config(R"(
[[profile]]
name = "lobby"
numbers = ["2125550110-2125550119"]
allowed_classes = ["emergency", "local", "national", "toll_free"]
hours = "business_hours"
allowlist = ["0114420794*"]
)"));
  h.play({outbound("2125550111", "011331234567", 0, 2, 30),      // not allowed: critical
          outbound("2125550111", "0114420794600", 40, 42, 50),   // allowlisted
          outbound("2125550120", "011331234567", 60, 62, 70)});  // default profile: silent
  h.play({outbound("2125550112", "12125557777", 9 * 3600, 9 * 3600 + 2, 9 * 3600 + 30)});  // 19:00
  h.play({outbound("2125550112", "911", 9 * 3600 + 60, 9 * 3600 + 62, 9 * 3600 + 90)});
  h.finish();
  ASSERT_EQ(h.notices.got.size(), 2u) << h.notices.dump();
  EXPECT_EQ(h.notices.got[0].category, Category::International);
  EXPECT_EQ(h.notices.got[0].severity, Severity::Critical);
  EXPECT_EQ(h.notices.got[0].rule, "international-not-allowed");
  // The start in the site's local time and its window close the text (the engine adds them
  // only to a notice it hands on). The channel depends on the calls played before.
  const auto on = [&](std::size_t i) {
    return "on span 1/" + std::to_string(h.notices.got[i].call.channel.value_or(0));
  };
  EXPECT_EQ(h.notices.got[0].message,
            "outbound call to an international number 011331234567 from 2125550111 " + on(0) +
                " (profile lobby, class not allowed), started 2027-01-05 10:00 UTC "
                "(business_hours)");
  EXPECT_EQ(h.notices.got[1].category, Category::AfterHours);
  EXPECT_EQ(h.notices.got[1].message,
            "outbound call to 12125557777 from 2125550112 " + on(1) +
                " outside the hours of profile lobby (business_hours), started 2027-01-05 19:00 "
                "UTC (after_hours)");
  EXPECT_EQ(h.notices.got[1].call.called, "12125557777");
  EXPECT_EQ(h.notices.got[1].rule, "after-hours");
}

// ---- PIN masking and code guessing -----------------------------------------------------

std::vector<CallRecord> guesses(int n) {
  std::vector<CallRecord> out;
  for (int i = 0; i < n; ++i) {
    CallRecord r = inbound("3125550000", "2125550199", i * 15, i * 15 + 1, i * 15 + 12);
    r.digits_in = "12" + std::to_string(10 + i) + "#";
    r.digits = "in:" + r.digits_in;
    out.push_back(r);
  }
  return out;
}

TEST(RulesEngine, CodeGuessingIsCountedAndItsDigitsMasked) {
  Harness h(config(kRemote));
  h.play(guesses(10));
  h.finish();
  const auto bf = h.notices.of(Category::BruteForce);
  ASSERT_EQ(bf.size(), 2u) << h.notices.dump();
  EXPECT_EQ(bf[0].severity, Severity::Warning);
  EXPECT_EQ(bf[0].time, t(4 * 15 + 12) + 50ms);  // the fifth attempt
  EXPECT_EQ(bf[1].severity, Severity::Critical);
  EXPECT_EQ(bf[1].rule, "remote-access-abuse");
  EXPECT_NE(bf[1].message.find("keyed \"****#\""), std::string::npos) << bf[1].message;
  for (const Notice& n : h.notices.got) EXPECT_EQ(n.message.find("1219"), std::string::npos);
  for (const CallRecord& r : h.records.ended) {
    EXPECT_EQ(r.digits_in, "****#");
    EXPECT_EQ(r.digits, "in:****#");
  }
  // Every 12-second call is also a short call, but 10 stay under the burst levels.
  EXPECT_TRUE(h.notices.of(Category::SequentialShortCalls).empty());
}

TEST(RulesEngine, MaskingCanBeTurnedOff) {
  Harness h(config(kRemote, {"notices.mask_digits=false"}));
  h.play(guesses(5));
  h.finish();
  const auto bf = h.notices.of(Category::BruteForce);
  ASSERT_EQ(bf.size(), 1u);
  EXPECT_NE(bf[0].message.find("keyed \"1214#\""), std::string::npos) << bf[0].message;
  EXPECT_EQ(h.records.ended.back().digits_in, "1214#");
}

TEST(RulesEngine, SeveralAttemptsInOneCallCountEach) {
  Harness h(config(kRemote));
  CallRecord r = inbound("3125550000", "2125550199", 0, 1, 40);
  r.keypad = "1111#2222#3333#4444#5555#";  // five tries before the PBX drops the caller
  h.play({r});
  h.finish();
  ASSERT_EQ(h.notices.of(Category::BruteForce).size(), 1u) << h.notices.dump();
  EXPECT_EQ(h.records.ended[0].keypad, "****#****#****#****#****#");
}

TEST(RulesEngine, ReloadKeepsCountersAndAppliesNewThresholds) {
  Harness h(config(kRemote));
  h.play(guesses(3));
  EXPECT_TRUE(h.notices.got.empty());
  h.engine.reload(config(kRemote, {"detectors.brute_force.warning=4"}));
  auto more = guesses(5);
  h.play({more[3]});  // the fourth attempt in the window
  ASSERT_EQ(h.notices.of(Category::BruteForce).size(), 1u) << h.notices.dump();
  EXPECT_NE(h.notices.got[0].message.find("warning at 4"), std::string::npos);
}

// ---- minutes per local day -------------------------------------------------------------

TEST(RulesEngine, DailyMinutesResetAtLocalMidnight) {
  Harness h(config("[site]\ntimezone = \"America/New_York\"\n",
                   {"detectors.minutes_cap.classes.international.warning=10",
                    "detectors.minutes_cap.classes.international.critical=20"}));
  // 2027-01-05 23:40 EST is 2027-01-06T04:40Z: the same UTC day as everything below.
  const double base = 18 * 3600 + 40 * 60;  // kT0 + 18:40 = 04:40Z next day
  h.play({outbound("2125550100", "011442079460000", base, base, base + 15 * 60)});
  h.play(
      {outbound("2125550100", "011442079460001", base + 18 * 60, base + 18 * 60, base + 26 * 60)});
  h.play(
      {outbound("2125550100", "011442079460002", base + 30 * 60, base + 30 * 60, base + 40 * 60)});
  h.finish();
  const auto m = h.notices.of(Category::MinutesCap);
  ASSERT_EQ(m.size(), 2u) << h.notices.dump();
  EXPECT_EQ(m[0].identifier, "minutes_cap:class:international:2027-01-05:warning");
  EXPECT_EQ(m[1].identifier, "minutes_cap:class:international:2027-01-06:warning");
  EXPECT_EQ(m[0].rule, "capacity-warning");
}

TEST(RulesEngine, RunningCallsReachTheCapBeforeTheyEnd) {
  Harness h(config("", {"detectors.minutes_cap.classes.international.warning=0",
                        "detectors.minutes_cap.classes.international.critical=20"}));
  CallRecord r = outbound("2125550100", "011442079460000", 0, 5, 3600);
  h.event(calls::CallEventType::Started, staged(r, calls::CallEventType::Started), t(0));
  h.event(calls::CallEventType::Answered, staged(r, calls::CallEventType::Answered), t(5));
  h.tick_to(t(5 + 20 * 60 + 15));
  const auto m = h.notices.of(Category::MinutesCap);
  ASSERT_EQ(m.size(), 1u) << h.notices.dump();
  EXPECT_EQ(m[0].severity, Severity::Critical);
  EXPECT_EQ(m[0].rule, "capacity-critical");
  EXPECT_LE(m[0].time, t(5 + 20 * 60 + 10));
  EXPECT_GE(m[0].time, t(5 + 20 * 60));
}

// The default policy table, rule by rule: which notices alert, which are silent.
TEST(RulesPolicy, DefaultTable) {
  const auto rules = default_policy();
  struct Row {
    Category category;
    Severity severity;
    TimeWindow window;
    const char* rule;
    std::vector<Action> actions;
  };
  using C = Category;
  using S = Severity;
  using W = TimeWindow;
  const Row rows[] = {
      {C::HighRiskDestination,
       S::Warning,
       W::BusinessHours,
       "high-risk-destination",
       {Action::Alert}},
      {C::Premium, S::Warning, W::BusinessHours, "premium", {Action::Alert}},
      {C::International,
       S::Critical,
       W::BusinessHours,
       "international-not-allowed",
       {Action::Alert}},
      {C::International, S::Info, W::AfterHours, "international-after-hours", {Action::Alert}},
      {C::International, S::Info, W::Holiday, "international-after-hours", {Action::Alert}},
      {C::International,
       S::Info,
       W::BusinessHours,
       "international-business-hours",
       {Action::Allow}},
      {C::ThroughDial,
       S::Critical,
       W::BusinessHours,
       "through-dial",
       {Action::Alert, Action::Hangup}},
      {C::TrunkToTrunk,
       S::Critical,
       W::BusinessHours,
       "through-dial",
       {Action::Alert, Action::Hangup}},
      {C::ThroughDial, S::Warning, W::AfterHours, "through-dial-suspect", {Action::Alert}},
      {C::BruteForce, S::Warning, W::BusinessHours, "remote-access-abuse", {Action::Alert}},
      {C::SequentialShortCalls,
       S::Critical,
       W::BusinessHours,
       "remote-access-abuse",
       {Action::Alert}},
      {C::CallForward, S::Warning, W::BusinessHours, "call-forward", {Action::Alert}},
      {C::WangiriCallback, S::Critical, W::BusinessHours, "wangiri-callback", {Action::Alert}},
      {C::FaxOnVoiceLine, S::Warning, W::BusinessHours, "fax-modem-on-voice-line", {Action::Alert}},
      {C::ModemOnVoiceLine,
       S::Warning,
       W::BusinessHours,
       "fax-modem-on-voice-line",
       {Action::Alert}},
      {C::AfterHours, S::Warning, W::AfterHours, "after-hours", {Action::Alert}},
      {C::Concurrency, S::Critical, W::BusinessHours, "capacity-critical", {Action::Alert}},
      {C::MinutesCap, S::Critical, W::BusinessHours, "capacity-critical", {Action::Alert}},
      {C::CallRate, S::Warning, W::BusinessHours, "capacity-warning", {Action::Digest}},
      {C::SpanDown, S::Critical, W::BusinessHours, "span-down", {Action::Alert}},
      {C::CallForward, S::Info, W::BusinessHours, "log-the-rest", {Action::Log}},
      {C::AfterHours, S::Info, W::BusinessHours, "log-the-rest", {Action::Log}},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(std::string(to_string(row.category)) + " " + std::string(to_string(row.severity)));
    PolicyInput in;
    in.category = row.category;
    in.severity = row.severity;
    in.window = row.window;
    in.has_call = true;
    const PolicyRule* r = decide(rules, in);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->name, row.rule);
    EXPECT_EQ(r->actions, row.actions);
  }
}

TEST(RulesEngine, WithoutTheDefaultTableUnmatchedNoticesAreLogged) {
  Harness h(config("[notices]\ndefault_policy = false\n"));
  h.play({outbound("2125550100", "19005551234", 0, 2, 30)});
  ASSERT_EQ(h.notices.got.size(), 1u);
  EXPECT_EQ(h.notices.got[0].rule, "(no rule)");
  EXPECT_EQ(h.notices.got[0].actions, std::vector<std::string>{"log"});
}

TEST(RulesEngine, NoticeJsonLine) {
  Notice n;
  n.time = t(1.5);
  n.category = Category::ThroughDial;
  n.severity = Severity::Critical;
  n.identifier = "through_dial:span1:2125550199:critical";
  n.rule = "through-dial";
  n.actions = {"alert", "would_hangup"};
  n.message = "say \"hi\"\\ \x01";
  n.call.span = 1;
  n.call.channel = 4;
  n.call.start = t(0);
  n.call.calling = "2125550199";
  n.call.called = "0114420794600";
  n.call.direction = Direction::Outbound;
  EXPECT_EQ(
      to_json_line(n),
      R"({"time":"2027-01-05T10:00:01.500Z","category":"through_dial","severity":"critical",)"
      R"("rule":"through-dial","actions":["alert","would_hangup"],"message":"say \"hi\"\\ \u0001",)"
      R"("identifier":"through_dial:span1:2125550199:critical","span":1,"channel":4,)"
      R"("start":"2027-01-05T10:00:00.000Z","calling":"2125550199","called":"0114420794600",)"
      R"("direction":"outbound","repeats":0})");
  Notice span_down;
  span_down.category = Category::SpanDown;
  span_down.call.span = 2;
  const auto j = to_json(span_down);
  EXPECT_TRUE(j["channel"].is_null());
  EXPECT_TRUE(j["start"].is_null());
  EXPECT_TRUE(j["direction"].is_null());
  EXPECT_EQ(mask_digits("4711#0114#"), "****#****#");
}

}  // namespace
}  // namespace tw::rules
