// Toll-fraud patterns played by the simulator (real libpri stacks on both ends), decoded by
// the passive pipeline and judged by the rules engine with the default policy: each pattern
// raises its category, and an ordinary business day raises nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <sstream>

#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"
#include "monitor/app/monitor_chain.hpp"
#include "tests/support/sim_harness.hpp"

namespace tw {
namespace {

using rules::Category;
using rules::Severity;

struct Notices final : rules::NoticeSink {
  std::vector<rules::Notice> got;
  std::vector<rules::Digest> digests;
  void on_notice(const rules::Notice& n) override { got.push_back(n); }
  void on_digest(const rules::Digest& d) override { digests.push_back(d); }
};

using Records = test::EndedCalls;

// The monitor chain as every command runs it, and line events injected at given simulated
// times (a span alarm the simulator cannot make), each before the first tick at or after it.
class InjectingChain final : public hal::SpanSink {
 public:
  InjectingChain(app::MonitorChain& chain, std::vector<hal::LineEvent> inject)
      : chain_(chain), inject_(std::move(inject)) {}
  void on_frame(const hal::DFrame& f) override { chain_.on_frame(f); }
  void on_audio(const hal::AudioChunk& a) override { chain_.on_audio(a); }
  void on_line_event(const hal::LineEvent& ev) override { chain_.on_line_event(ev); }
  void on_tick(hal::Timestamp now) override {
    while (!inject_.empty() && inject_.front().time <= now) {
      chain_.on_line_event(inject_.front());
      inject_.erase(inject_.begin());
    }
    chain_.on_tick(now);
  }

 private:
  app::MonitorChain& chain_;
  std::vector<hal::LineEvent> inject_;
};

struct Outcome {
  std::vector<rules::Notice> notices;
  std::vector<rules::Digest> digests;
  std::vector<calls::CallRecord> records;
  std::size_t truth_calls = 0;

  std::vector<rules::Notice> of(Category c) const {
    std::vector<rules::Notice> out;
    std::copy_if(notices.begin(), notices.end(), std::back_inserter(out),
                 [&](const rules::Notice& n) { return n.category == c; });
    return out;
  }
  std::string dump() const {
    std::string s;
    for (const auto& n : notices) s += rules::format_notice_line(n) + "\n";
    return s;
  }
  const calls::CallRecord* record_to(const std::string& called) const {
    for (const auto& r : records)
      if (r.called == called) return &r;
    return nullptr;
  }
};

std::shared_ptr<const rules::Config> config(const std::string& toml) {
  rules::ConfigOptions o;
  o.high_risk_search = {std::string(TW_SOURCE_DIR) + "/data/high-risk-destinations.toml"};
  auto r = rules::parse_config(toml, "site.toml", o);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  return r.config;
}

Outcome run(const sim::Scenario& s, const std::string& site = "",
            std::vector<hal::LineEvent> inject = {}) {
  Notices notices;
  Records records;
  sim::Simulator simulator(s);
  PipelineOptions po;
  po.spans = simulator.spans();
  po.span_defaults = po.spans.front();
  app::MonitorChain chain(po, config(site), notices, records);
  InjectingChain source_sink(chain, std::move(inject));
  const auto err = simulator.run(source_sink);
  EXPECT_FALSE(err) << err.message;
  Outcome o;
  o.notices = notices.got;
  o.digests = notices.digests;
  o.records = records.ended;
  o.truth_calls = simulator.truth().size();
  EXPECT_EQ(o.records.size(), o.truth_calls) << "every call reaches the stores, annotated";
  return o;
}

Outcome run(const std::string& calls, const std::string& site = "",
            const std::string& start = "2027-01-05T10:00:00Z") {
  const std::string text =
      "[scenario]\nname = \"rules\"\nstart = \"" + start +
      "\"\n[[span]]\nid = 1\ntype = \"t1\"\n[[span]]\nid = 2\ntype = \"t1\"\n" + calls;
  std::string error;
  auto s = sim::parse_scenario(text, "scenario.toml", error);
  EXPECT_TRUE(s.has_value()) << error;
  return run(s.value_or(sim::Scenario{}), site);
}

std::string outbound(double at, const std::string& calling, const std::string& called,
                     double talk = 60, int span = 1) {
  std::ostringstream o;
  o << "[[call]]\nat = " << at << "\nspan = " << span << "\ndirection = \"outbound\"\ncalling = \""
    << calling << "\"\ncalled = \"" << called << "\"\nanswer_after = 5\ntalk = " << talk << "\n";
  return o.str();
}

std::string inbound(double at, const std::string& calling, const std::string& called,
                    double talk = 60, const std::string& keypad = "", int span = 2) {
  std::ostringstream o;
  o << "[[call]]\nat = " << at << "\nspan = " << span << "\ndirection = \"inbound\"\ncalling = \""
    << calling << "\"\ncalled = \"" << called << "\"\nanswer_after = 1\ntalk = " << talk << "\n";
  if (!keypad.empty()) o << "keypad = \"" << keypad << "\"\n";
  return o.str();
}

const std::string kRemoteAccess = "[site]\nremote_access = [\"2125550199\"]\n";

// ---- ordinary traffic -------------------------------------------------------------------

TEST(RulesScenarios, OrdinaryBusinessDayRaisesNothing) {
  std::string error;
  auto s = sim::parse_scenario(R"(
[scenario]
name = "busy-tuesday"
start = "2027-01-05T09:00:00Z"
seed = 7
[[span]]
id = 1
type = "t1"
[[span]]
id = 2
type = "t1"
[traffic]
calls = 400
duration_s = 7200
keypad_share = 0.1
overlap_share = 0.2
international = 0.05
)",
                               "busy.toml", error);
  ASSERT_TRUE(s) << error;
  const Outcome o = run(*s);
  EXPECT_GT(o.truth_calls, 350u);
  EXPECT_TRUE(o.notices.empty()) << o.dump();
  EXPECT_TRUE(o.digests.empty());
  // Some international calls were placed: they were judged and allowed, not missed.
  const std::size_t intl = std::count_if(o.records.begin(), o.records.end(), [](const auto& r) {
    return r.direction == calls::Direction::Outbound && r.called.starts_with("011");
  });
  EXPECT_GT(intl, 3u);
  for (const auto& r : o.records) EXPECT_TRUE(r.alerts.empty()) << r.called;
}

TEST(RulesScenarios, TheDemoMorningRaisesOnlyItsAttack) {
  sim::Scenario demo = sim::demo_scenario();
  const Outcome o =
      run(demo, std::string("[site]\nremote_access = [\"") + sim::kDemoDisaNumber + "\"]\n");
  EXPECT_GT(o.truth_calls, 40u);
  // No audio here: a warning while both legs are up, critical when they end together.
  ASSERT_EQ(o.notices.size(), 3u) << o.dump();
  const auto td = o.of(Category::ThroughDial);
  ASSERT_EQ(td.size(), 2u) << o.dump();
  EXPECT_EQ(td[0].severity, Severity::Warning);
  EXPECT_EQ(td[1].severity, Severity::Critical);
  EXPECT_EQ(o.of(Category::HighRiskDestination).size(), 1u) << o.dump();
  for (const auto& n : o.notices) EXPECT_EQ(n.call.called, sim::kDemoFraudDestination);
  // The morning without the attack: silent.
  std::erase_if(demo.calls, [](const sim::CallSpec& c) {
    return c.called == sim::kDemoFraudDestination || c.called == sim::kDemoDisaNumber;
  });
  const Outcome quiet = run(demo);
  EXPECT_TRUE(quiet.notices.empty()) << quiet.dump();
}

TEST(RulesScenarios, OrdinaryCallsOneOfEachKindInBusinessHours) {
  const Outcome o = run(outbound(0, "2125550100", "2125557777") +        // local
                        outbound(10, "2125550101", "13125557777") +      // national
                        outbound(20, "2125550102", "18005551234") +      // toll-free
                        outbound(30, "2125550103", "011442079460000") +  // international
                        outbound(40, "2125550104", "12425551234") +      // Bahamas
                        inbound(50, "4435551234", "2125550100") +        // inbound
                        inbound(60, "442079460000", "2125550101") +      // from abroad, answered
                        outbound(70, "2125550105", "911", 30));          // emergency
  EXPECT_EQ(o.truth_calls, 8u);
  EXPECT_TRUE(o.notices.empty()) << o.dump();
}

// ---- destination classes ----------------------------------------------------------------

TEST(RulesScenarios, PremiumCallAlerts) {
  const Outcome o = run(outbound(0, "2125550100", "19005551234"));
  ASSERT_EQ(o.notices.size(), 1u) << o.dump();
  const rules::Notice& n = o.notices[0];
  EXPECT_EQ(n.category, Category::Premium);
  EXPECT_EQ(n.rule, "premium");
  EXPECT_EQ(n.actions, std::vector<std::string>{"alert"});
  EXPECT_EQ(n.call.calling, "2125550100");
  EXPECT_EQ(n.call.called, "19005551234");
  EXPECT_EQ(n.call.direction, calls::Direction::Outbound);
  ASSERT_TRUE(n.call.channel);
  EXPECT_EQ(o.records.at(0).alerts, std::vector<std::string>{"premium"});
}

TEST(RulesScenarios, HighRiskDestinationAlertsEvenInBusinessHours) {
  const Outcome o =
      run(outbound(0, "2125550100", "011537123456") + outbound(100, "2125550101", "18095551234"));
  ASSERT_EQ(o.notices.size(), 2u) << o.dump();
  EXPECT_EQ(o.notices[0].category, Category::HighRiskDestination);
  EXPECT_EQ(o.notices[0].rule, "high-risk-destination");
  EXPECT_NE(o.notices[0].message.find("Cuba"), std::string::npos);
  EXPECT_EQ(o.notices[1].category, Category::HighRiskDestination);
  EXPECT_NE(o.notices[1].message.find("Dominican Republic"), std::string::npos);
}

TEST(RulesScenarios, InternationalAfterHoursAlerts) {
  // Tuesday 22:00 UTC; the same calls at 10:00 are silent (OrdinaryCallsOneOfEachKind...).
  const Outcome o =
      run(outbound(0, "2125550100", "011442079460000") + outbound(60, "2125550101", "12425551234") +
              outbound(120, "2125550102", "13125557777"),
          "", "2027-01-05T22:00:00Z");
  ASSERT_EQ(o.notices.size(), 2u) << o.dump();
  for (const auto& n : o.notices) {
    EXPECT_EQ(n.category, Category::International);
    EXPECT_EQ(n.rule, "international-after-hours");
    EXPECT_EQ(n.actions, std::vector<std::string>{"alert"});
  }
  // Holidays count as closed.
  const Outcome h =
      run(outbound(0, "2125550100", "011442079460000"), "[site]\nholidays = [2027-01-05]\n");
  ASSERT_EQ(h.notices.size(), 1u) << h.dump();
  EXPECT_EQ(h.notices[0].rule, "international-after-hours");
}

// The destination detector calls an allowed international call "info"; at 2 a.m. on a
// Saturday the default policy's after-hours rule makes it at least a warning. In business
// hours nothing changes: a site rule alerting on it keeps the detector's "info".
TEST(RulesScenarios, InternationalAfterHoursIsAtLeastAWarning) {
  // 2027-01-09 is a Saturday.
  const Outcome night =
      run(outbound(0, "2125550100", "011442079460000"), "", "2027-01-09T02:00:00Z");
  ASSERT_EQ(night.notices.size(), 1u) << night.dump();
  EXPECT_EQ(night.notices[0].category, Category::International);
  EXPECT_EQ(night.notices[0].rule, "international-after-hours");
  EXPECT_EQ(night.notices[0].severity, Severity::Warning);
  const std::string alert_all =
      "[[policy]]\nname = \"international-seen\"\ncategory = \"international\"\n"
      "window = \"business_hours\"\naction = \"alert\"\n";
  const Outcome day =
      run(outbound(0, "2125550100", "011442079460000"), alert_all, "2027-01-05T10:00:00Z");
  ASSERT_EQ(day.notices.size(), 1u) << day.dump();
  EXPECT_EQ(day.notices[0].rule, "international-seen");
  EXPECT_EQ(day.notices[0].severity, Severity::Info);
}

// A site rule's `severity` raises a notice to at least that level, never lowers it.
TEST(RulesScenarios, PolicySeverityRaisesNeverLowers) {
  const std::string site =
      "[[policy]]\nname = \"international-matters\"\ncategory = \"international\"\n"
      "severity = \"warning\"\naction = \"alert\"\n"
      "[[policy]]\nname = \"premium-quiet\"\ncategory = \"premium\"\n"
      "severity = \"info\"\naction = \"alert\"\n";
  const Outcome o =
      run(outbound(0, "2125550100", "011442079460000") + outbound(60, "2125550101", "19005551234"),
          site);
  ASSERT_EQ(o.notices.size(), 2u) << o.dump();
  EXPECT_EQ(o.notices[0].rule, "international-matters");
  EXPECT_EQ(o.notices[0].severity, Severity::Warning);  // info from the detector, raised
  EXPECT_EQ(o.notices[1].rule, "premium-quiet");
  EXPECT_EQ(o.notices[1].severity, Severity::Critical);  // the detector's, not lowered
}

TEST(RulesScenarios, AfterHoursForAProfileThatKeepsOfficeHours) {
  const std::string site =
      "[[profile]]\nname = \"lobby\"\nnumbers = [\"2125550110-2125550119\"]\n"
      "hours = \"business_hours\"\n";
  const Outcome o =
      run(outbound(0, "2125550111", "2125557777") + outbound(30, "2125550120", "2125557778"), site,
          "2027-01-05T23:30:00Z");
  ASSERT_EQ(o.notices.size(), 1u) << o.dump();
  EXPECT_EQ(o.notices[0].category, Category::AfterHours);
  EXPECT_EQ(o.notices[0].call.calling, "2125550111");
}

// ---- counters ---------------------------------------------------------------------------

TEST(RulesScenarios, ConcurrentInternationalCalls) {
  std::string calls;
  for (int i = 0; i < 8; ++i)
    calls += outbound(i * 2, "21255501" + std::to_string(10 + i),
                      "01144207946000" + std::to_string(i), 300);
  const Outcome o = run(calls);
  const auto c = o.of(Category::Concurrency);
  ASSERT_EQ(c.size(), 2u) << o.dump();
  EXPECT_EQ(c[0].severity, Severity::Warning);
  EXPECT_EQ(c[0].rule, "capacity-warning");
  EXPECT_EQ(c[0].actions, std::vector<std::string>{"digest"});
  EXPECT_EQ(c[0].identifier, "concurrency:international:warning");
  EXPECT_EQ(c[0].call.called, "011442079460003");  // the fourth
  EXPECT_EQ(c[1].severity, Severity::Critical);
  EXPECT_EQ(c[1].rule, "capacity-critical");
  EXPECT_EQ(c[1].actions, std::vector<std::string>{"alert"});
  EXPECT_EQ(o.notices.size(), 2u) << o.dump();
  ASSERT_EQ(o.digests.size(), 1u);  // closed at the end of the source
  EXPECT_EQ(o.digests[0].notices.size(), 1u);
}

TEST(RulesScenarios, CallRatePerSourceAndPerPrefix) {
  std::string calls;
  // One extension dialing 32 numbers in 8 minutes.
  for (int i = 0; i < 32; ++i)
    calls += outbound(i * 15, "2125550100", "212555" + std::to_string(7000 + i), 5);
  // Ten calls to one foreign prefix from different extensions within the hour.
  for (int i = 0; i < 10; ++i)
    calls += outbound(600 + i * 60, "21255502" + std::to_string(10 + i),
                      "0114930123456" + std::to_string(i), 5, 2);
  const Outcome o = run(calls);
  const auto r = o.of(Category::CallRate);
  ASSERT_EQ(r.size(), 2u) << o.dump();
  EXPECT_EQ(r[0].identifier, "call_rate:source:2125550100:warning");
  EXPECT_EQ(r[0].call.called, "2125557029");  // the 30th call
  EXPECT_EQ(r[1].identifier, "call_rate:prefix:4930123:warning");
  EXPECT_EQ(r[1].rule, "capacity-warning");
  EXPECT_EQ(o.notices.size(), 2u) << o.dump();
}

TEST(RulesScenarios, DailyInternationalMinutes) {
  // Two long calls: 2 x 65 minutes passes the 120-minute warning while the second is up.
  const Outcome o = run(outbound(0, "2125550100", "011442079460000", 3900) +
                        outbound(4000, "2125550101", "011442079460001", 3900));
  const auto m = o.of(Category::MinutesCap);
  ASSERT_EQ(m.size(), 1u) << o.dump();
  EXPECT_EQ(m[0].severity, Severity::Warning);
  EXPECT_EQ(m[0].identifier, "minutes_cap:class:international:2027-01-05:warning");
  EXPECT_EQ(m[0].call.called, "011442079460001");
  const auto at = *hal::parse_time("2027-01-05T10:00:00Z");
  // 65 min of the first call; the second was answered at ~4005 s: 55 more minutes.
  EXPECT_GE(m[0].time, at + std::chrono::seconds(4005 + 55 * 60));
  EXPECT_LE(m[0].time, at + std::chrono::seconds(4005 + 55 * 60 + 12));
}

// ---- remote access ----------------------------------------------------------------------

TEST(RulesScenarios, CodeGuessingOnTheDisaNumber) {
  std::string calls;
  for (int i = 0; i < 10; ++i)
    calls += inbound(i * 15, "3125550000", "2125550199", 8, std::to_string(4000 + i) + "#");
  const Outcome o = run(calls, kRemoteAccess);
  const auto bf = o.of(Category::BruteForce);
  ASSERT_EQ(bf.size(), 2u) << o.dump();
  EXPECT_EQ(bf[0].severity, Severity::Warning);
  EXPECT_EQ(bf[1].severity, Severity::Critical);
  EXPECT_EQ(bf[1].rule, "remote-access-abuse");
  EXPECT_EQ(bf[1].identifier, "brute_force:2125550199:critical");
  EXPECT_NE(bf[1].message.find("keyed \"****#\""), std::string::npos) << bf[1].message;
  EXPECT_EQ(o.notices.size(), 2u) << o.dump();
  std::size_t flagged = 0;
  for (const auto& r : o.records) {
    EXPECT_EQ(r.keypad, "****#");  // the access codes never reach the stores
    if (r.alerts == std::vector<std::string>{"brute_force"}) ++flagged;
  }
  EXPECT_EQ(flagged, 2u);  // the calls that reached the warning and the critical level
  // The same calls to a number that is not remote access are ordinary.
  EXPECT_TRUE(run(calls).notices.empty());
}

TEST(RulesScenarios, BurstOfShortCallsToTheVoicemailNumber) {
  std::string calls;
  for (int i = 0; i < 25; ++i)
    calls += inbound(i * 20, "31255500" + std::to_string(10 + i), "2125550199", 5);
  const Outcome o = run(calls, kRemoteAccess);
  const auto s = o.of(Category::SequentialShortCalls);
  ASSERT_EQ(s.size(), 1u) << o.dump();
  EXPECT_EQ(s[0].severity, Severity::Warning);
  EXPECT_EQ(s[0].rule, "remote-access-abuse");
  EXPECT_EQ(s[0].identifier, "sequential_short_calls:2125550199:warning");
  EXPECT_EQ(o.notices.size(), 1u) << o.dump();
}

// With audio: the DISA plays a second dial tone and the caller keys the destination in-band.
// Only the outbound leg to that number is the through-dial; staff calls placed while the
// DISA call is up (one before the tone, one after it to another number) stay clean.
TEST(RulesScenarios, DialToneAndKeyedDigitsPickTheRightOutboundLeg) {
  const Outcome o = run(R"([audio]
enabled = true
[[call]]
at = 0
span = 2
direction = "inbound"
calling = "8095550147"
called = "2125550199"
answer_after = 1
talk = 90
dtmf_in = "4711#0112526123456#"
dial_tone_after_answer = true
[[call]]
at = 0.5
span = 1
direction = "outbound"
calling = "2125550101"
called = "2125557777"
answer_after = 3
talk = 60
[[call]]
at = 12
span = 1
direction = "outbound"
calling = "2125550199"
called = "0112526123456"
answer_after = 5
talk = 70
[[call]]
at = 20
span = 1
direction = "outbound"
calling = "2125550102"
called = "13125557777"
answer_after = 3
talk = 30
)",
                        kRemoteAccess);
  const auto td = o.of(Category::ThroughDial);
  ASSERT_EQ(td.size(), 1u) << o.dump();
  EXPECT_EQ(td[0].severity, Severity::Critical);
  EXPECT_EQ(td[0].call.called, "0112526123456");
  EXPECT_NE(td[0].message.find("the number was keyed on the inbound leg"), std::string::npos);
  EXPECT_NE(td[0].message.find("a dial tone was heard"), std::string::npos);
  for (const char* staff : {"2125557777", "13125557777"}) {
    ASSERT_NE(o.record_to(staff), nullptr) << staff;
    EXPECT_TRUE(o.record_to(staff)->alerts.empty()) << staff << " " << o.dump();
  }
}

TEST(RulesScenarios, ThroughDialKeyedNumberIsCaughtWhileTheCallIsUp) {
  // The caller keys a PIN and the destination on the DISA, the PBX dials it out. The keypad
  // digits reach the engine with the inbound leg's record: the outbound leg is still up.
  const Outcome o = run(inbound(0, "3125550000", "2125550199", 60, "4711#0114420794600#") +
                            outbound(20, "2125550199", "0114420794600", 80),
                        kRemoteAccess);
  const auto td = o.of(Category::ThroughDial);
  ASSERT_EQ(td.size(), 1u) << o.dump();
  EXPECT_EQ(td[0].severity, Severity::Critical);
  EXPECT_EQ(td[0].rule, "through-dial");
  EXPECT_EQ(td[0].actions, (std::vector<std::string>{"alert", "would_hangup"}));
  EXPECT_EQ(td[0].call.called, "0114420794600");
  EXPECT_NE(td[0].message.find("\"****#*************#\""), std::string::npos) << td[0].message;
  EXPECT_EQ(td[0].message.find("4711"), std::string::npos);
  EXPECT_EQ(o.notices.size(), 1u) << o.dump();
  EXPECT_EQ(o.record_to("2125550199")->alerts, std::vector<std::string>{"through_dial"});
  EXPECT_EQ(o.record_to("0114420794600")->alerts, std::vector<std::string>{"through_dial"});
}

TEST(RulesScenarios, ThroughDialLegsEndingTogether) {
  // No in-band evidence: the two legs clear within a second of each other.
  const Outcome o = run(
      inbound(0, "3125550000", "2125550199", 100) + outbound(20, "2125550199", "13125557777", 76),
      kRemoteAccess);
  const auto td = o.of(Category::ThroughDial);
  ASSERT_EQ(td.size(), 1u) << o.dump();
  EXPECT_EQ(td[0].severity, Severity::Critical);
  EXPECT_NE(td[0].message.find("ended together"), std::string::npos);
  EXPECT_EQ(td[0].actions, std::vector<std::string>{"alert"});  // over: nothing to hang up
  // Both records carry it: the first leg's was held until the second ended.
  EXPECT_EQ(o.record_to("2125550199")->alerts, std::vector<std::string>{"through_dial"});
  EXPECT_EQ(o.record_to("13125557777")->alerts, std::vector<std::string>{"through_dial"});
  // Ending 20 s apart is ordinary.
  const Outcome apart = run(
      inbound(0, "3125550000", "2125550199", 100) + outbound(20, "2125550120", "13125557777", 56),
      kRemoteAccess);
  EXPECT_TRUE(apart.notices.empty()) << apart.dump();
}

TEST(RulesScenarios, ThroughDialAfterHoursIsSuspectAtOnce) {
  const Outcome o = run(
      inbound(0, "3125550000", "2125550199", 300) + outbound(20, "2125550199", "12125557777", 30),
      kRemoteAccess, "2027-01-05T23:00:00Z");
  const auto td = o.of(Category::ThroughDial);
  ASSERT_EQ(td.size(), 1u) << o.dump();
  EXPECT_EQ(td[0].severity, Severity::Warning);
  EXPECT_EQ(td[0].rule, "through-dial-suspect");
  EXPECT_EQ(td[0].actions, std::vector<std::string>{"alert"});
}

TEST(RulesScenarios, TrunkToTrunkWithoutRemoteAccessNumbers) {
  // The caller hangs up at ~101 s; half a second later the PBX clears the outbound leg.
  const Outcome o = run(inbound(0, "3125550000", "2125550100", 100) +
                        outbound(20, "2125550100", "011442079460000", 76.5));
  const auto t = o.of(Category::TrunkToTrunk);
  ASSERT_EQ(t.size(), 1u) << o.dump();
  EXPECT_EQ(t[0].severity, Severity::Critical);
  EXPECT_EQ(t[0].rule, "through-dial");
  EXPECT_EQ(t[0].call.called, "011442079460000");
  EXPECT_EQ(t[0].actions, std::vector<std::string>{"alert"});  // both legs are over by now
  EXPECT_EQ(o.notices.size(), 1u) << o.dump();
  EXPECT_EQ(o.record_to("2125550100")->alerts, std::vector<std::string>{"trunk_to_trunk"});
  EXPECT_EQ(o.record_to("011442079460000")->alerts, std::vector<std::string>{"trunk_to_trunk"});
  // Not a bridge: a domestic outbound leg; the second leg to end cleared by the carrier; an
  // outbound call placed long after the inbound answer.
  EXPECT_TRUE(run(inbound(0, "3125550000", "2125550100", 100) +
                  outbound(20, "2125550100", "13125557777", 76.5))
                  .notices.empty());
  EXPECT_TRUE(run(inbound(0, "3125550000", "2125550100", 100) +
                  outbound(20, "2125550100", "011442079460000", 75.5))
                  .notices.empty());
  EXPECT_TRUE(run(inbound(0, "3125550000", "2125550100", 200) +
                  outbound(100, "2125550100", "011442079460000", 96.5))
                  .notices.empty());
}

// ---- wangiri ----------------------------------------------------------------------------

TEST(RulesScenarios, WangiriCallback) {
  // One ring from the Bahamas, unanswered; someone calls back two hours later.
  const std::string missed =
      "[[call]]\nat = 0\nspan = 2\ndirection = \"inbound\"\ncalling = \"2425551234\"\n"
      "called = \"2125550100\"\nring = 1\ntalk = 3\ncause = 16\ncleared_by = \"carrier\"\n";
  const Outcome o = run(missed + outbound(7200, "2125550100", "12425551234", 120) +
                        outbound(7400, "2125550101", "12425550000", 60));
  const auto w = o.of(Category::WangiriCallback);
  ASSERT_EQ(w.size(), 1u) << o.dump();
  EXPECT_EQ(w[0].severity, Severity::Critical);
  EXPECT_EQ(w[0].rule, "wangiri-callback");
  EXPECT_EQ(w[0].identifier, "wangiri_callback:12425551234");
  EXPECT_EQ(o.notices.size(), 1u) << o.dump();  // international in business hours: allowed
  // An answered call from the same number makes the callback ordinary.
  const std::string answered =
      "[[call]]\nat = 0\nspan = 2\ndirection = \"inbound\"\ncalling = \"2425551234\"\n"
      "called = \"2125550100\"\nanswer_after = 1\ntalk = 60\n";
  EXPECT_TRUE(run(answered + outbound(7200, "2125550100", "12425551234", 120)).notices.empty());
}

// ---- span down (the alarm is injected: the simulator has no line faults) ----------------

TEST(RulesScenarios, SpanDownForMoreThanAMinute) {
  std::string error;
  auto s = sim::parse_scenario("[scenario]\nstart = \"2027-01-05T10:00:00Z\"\n[[span]]\nid = 1\n" +
                                   outbound(0, "2125550100", "2125557777", 200),
                               "down.toml", error);
  ASSERT_TRUE(s) << error;
  const auto t0 = *hal::parse_time("2027-01-05T10:00:00Z");
  hal::LineEvent down{1, t0 + std::chrono::seconds(10), hal::LineEventType::DChanDown,
                      hal::Side::Pbx, 0};
  hal::LineEvent up{1, t0 + std::chrono::seconds(150), hal::LineEventType::DChanUp, hal::Side::Pbx,
                    0};
  const Outcome o = run(*s, "", {down, up});
  ASSERT_EQ(o.notices.size(), 1u) << o.dump();
  EXPECT_EQ(o.notices[0].category, Category::SpanDown);
  EXPECT_EQ(o.notices[0].rule, "span-down");
  EXPECT_GE(o.notices[0].time, t0 + std::chrono::seconds(70));
  EXPECT_LE(o.notices[0].time, t0 + std::chrono::seconds(71));
}

}  // namespace
}  // namespace tw
