// The traffic simulator: real libpri stacks on both ends, frames tapped, ground truth, the
// [traffic] generator, scenario file errors. Cross-checked with tshark where it is installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "hal/sim/call_planner.hpp"
#include "hal/sim/run_state.hpp"
#include "hal/sim/scenario.hpp"
#include "hal/sim/scheduler.hpp"
#include "hal/sim/simulator.hpp"
#include "hal/sim/tap.hpp"

namespace {

using tw::hal::Side;
using tw::hal::Timestamp;
using tw::sim::Scenario;
using tw::sim::Simulator;
using tw::sim::TruthCall;
using namespace std::chrono_literals;

#ifdef TW_SOURCE_DIR
const std::filesystem::path kSourceDir = TW_SOURCE_DIR;
#else
const std::filesystem::path kSourceDir =
    std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
#endif

struct Frame {
  int span;
  Side from;
  Timestamp time;
  std::vector<std::uint8_t> bytes;
  bool operator==(const Frame&) const = default;
};

// Records everything a source hands over.
class RecordingSink : public tw::hal::SpanSink {
 public:
  void on_frame(const tw::hal::DFrame& f) override {
    frames.push_back({f.span, f.from, f.time, {f.bytes.begin(), f.bytes.end()}});
    EXPECT_FALSE(ended) << "frame after SourceEnd";
  }
  void on_line_event(const tw::hal::LineEvent& e) override {
    if (e.type == tw::hal::LineEventType::SourceEnd) ended = true;
  }
  void on_tick(Timestamp now) override { ticks.push_back(now); }

  std::vector<Frame> frames;
  std::vector<Timestamp> ticks;
  bool ended = false;
};

Scenario parse_ok(const std::string& text) {
  std::string error;
  auto sc = tw::sim::parse_scenario(text, "test.toml", error);
  EXPECT_TRUE(sc.has_value()) << error;
  return sc ? *sc : Scenario{};
}

std::string parse_error(const std::string& text) {
  std::string error;
  auto sc = tw::sim::parse_scenario(text, "bad.toml", error);
  EXPECT_FALSE(sc.has_value());
  return error;
}

double secs(std::chrono::microseconds d) {
  return static_cast<double>(d.count()) / 1e6;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("tw_test_simulator_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

bool have_tshark() {
  return std::system("tshark --version >/dev/null 2>&1") == 0;
}

// Runs tshark on `pcap` and returns one vector of fields per packet.
std::vector<std::vector<std::string>> tshark_fields(const std::string& pcap,
                                                    const std::string& fields) {
  const std::string cmd = "tshark -r '" + pcap + "' -T fields " + fields + " 2>/dev/null";
  std::vector<std::vector<std::string>> rows;
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
  if (!p) return rows;
  std::string line;
  for (int c; (c = std::fgetc(p.get())) != EOF;) {
    if (c != '\n') {
      line += static_cast<char>(c);
      continue;
    }
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string col; std::getline(ss, col, '\t');) cols.push_back(col);
    while (cols.size() < 8) cols.emplace_back();
    rows.push_back(std::move(cols));
    line.clear();
  }
  return rows;
}

// Twenty calls on a T1 NI-2 span (PBX = user) and an E1 EuroISDN span (PBX = network):
// outbound, inbound, overlap both ways, keypad, busy / no answer / rejected / abandoned,
// a busy channel (cause 44), a RESTART cutting a call, a withheld calling number.
const char* const kTwenty = R"(
[scenario]
name = "twenty"
start = 2027-01-05T09:00:00Z
seed = 99

[[span]]
id = 1
type = "t1"
switchtype = "ni2"

[[span]]
id = 2
type = "e1"
pbx_side = "network"

[[call]]
at = 1.0
direction = "outbound"
calling = "2125550101"
called = "2125557788"
ring = 1
answer_after = 5
talk = 30

[[call]]
at = 1.5
direction = "inbound"
calling = "3125550147"
called = "2125550142"
ring = 0.5
answer_after = 4
talk = 20
cleared_by = "pbx"

[[call]]
at = 2.0
span = 2
calling = "3012345601"
called = "0891234567"
ring = 2
answer_after = 6
talk = 25

[[call]]
at = 2.5
span = 2
direction = "inbound"
calling = "01701234567"
called = "3012345655"
overlap = true
ring = 1
answer_after = 5
talk = 15

[[call]]
at = 30.0
direction = "outbound"
calling = "2125550107"
called = "011442079460000"
overlap = true
ring = 3
answer_after = 9
talk = 40

[[call]]
at = 45.0
span = 2
calling = "3012345602"
called = "00390612345678"
overlap = true
ring = 2
answer_after = 7
talk = 10

[[call]]
at = 4.0
calling = "2125550110"
called = "18005550199"
keypad = "4711#"
ring = 1
answer_after = 3
talk = 12

[[call]]
at = 5.0
calling = "2125550101"
called = "6175550123"
ring = 0.6
cause = 17
cleared_by = "carrier"

[[call]]
at = 6.0
calling = "2125550103"
called = "4155550188"
ring = 2
talk = 10

[[call]]
at = 7.0
span = 2
direction = "inbound"
calling = "0221987654"
called = "3012345600"
ring = 0.4
cause = 21
cleared_by = "pbx"

[[call]]
at = 8.0
span = 2
calling = "3012345620"
called = "21234567"
ring = 1
talk = 5
cause = 16
cleared_by = "pbx"

[[call]]
at = 9.0
direction = "inbound"
calling = "3055550100"
called = "2125550120"
channel = 7
ring = 1
answer_after = 2
talk = 30

[[call]]
at = 10.0
calling = "2125550120"
called = "3055550100"
channel = 7

[[call]]
at = 11.0
span = 2
direction = "inbound"
calling = "0401234567"
called = "3012345699"
channel = 17
ring = 1
answer_after = 1
talk = 100

[[restart]]
at = 15.0
span = 2
channel = 17
side = "carrier"

[[call]]
at = 12.0
span = 2
calling = "200"
called = "4711"
ring = 1
answer_after = 2
talk = 8
cleared_by = "carrier"

[[call]]
at = 13.0
direction = "inbound"
called = "2125550100"
ring = 1
answer_after = 3
talk = 6

[[call]]
at = 14.0
calling = "2125550111"
called = "2125554321"
ring = 5
answer_after = 2
talk = 9

[[call]]
at = 16.0
span = 2
direction = "inbound"
calling = "4750"
called = "299"
keypad = "1234#"
ring = 0.3
answer_after = 1
talk = 10

[[call]]
at = 17.0
calling = "2125550199"
called = "17135550123"
ring = 1
answer_after = 3
talk = 60

[[call]]
at = 18.0
span = 2
calling = "3012345603"
called = "21234568"
ring = 1
answer_after = 2
talk = 3
cleared_by = "carrier"
)";

// Runs a scenario to the end and checks the invariants every run must satisfy.
struct Run {
  Scenario scenario;
  RecordingSink sink;
  std::unique_ptr<Simulator> sim;
  std::string error;
};

std::unique_ptr<Run> run(const Scenario& sc, tw::sim::SimOptions opt = {}) {
  auto r = std::make_unique<Run>();
  r->scenario = sc;
  r->sim = std::make_unique<Simulator>(sc, opt);
  r->error = r->sim->run(r->sink).message;
  EXPECT_EQ(r->error, "");
  EXPECT_TRUE(r->sink.ended);
  for (std::size_t i = 1; i < r->sink.frames.size(); ++i)
    EXPECT_LT(r->sink.frames[i - 1].time, r->sink.frames[i].time) << "frame " << i;
  for (std::size_t i = 1; i < r->sink.ticks.size(); ++i) {
    EXPECT_LE(r->sink.ticks[i - 1], r->sink.ticks[i]);
    EXPECT_LE(r->sink.ticks[i] - r->sink.ticks[i - 1], 1s) << "tick gap at " << i;
  }
  return r;
}

std::vector<tw::sim::CallSpec> sorted_calls(const Scenario& sc) {
  auto calls = sc.calls;
  std::stable_sort(calls.begin(), calls.end(),
                   [](const auto& a, const auto& b) { return a.at_s < b.at_s; });
  return calls;
}

bool valid_channel(const Scenario& sc, int span, int ch) {
  for (const auto& s : sc.spans) {
    if (s.id != span) continue;
    if (s.type == tw::hal::SpanType::E1) return ch >= 1 && ch <= 31 && ch != 16;
    return ch >= 1 && ch <= 23;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------

TEST(Simulator, TwentyCallsGiveMatchingTruth) {
  const Scenario sc = parse_ok(kTwenty);
  ASSERT_EQ(sc.calls.size(), 20u);
  auto r = run(sc);
  const auto& truth = r->sim->truth();
  ASSERT_EQ(truth.size(), 20u);
  EXPECT_EQ(r->sim->calls_blocked(), 0u);
  const auto specs = sorted_calls(sc);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& s = specs[i];
    const TruthCall& t = truth[i];
    SCOPED_TRACE("call " + std::to_string(i) + " to " + s.called);
    EXPECT_EQ(t.span, s.span);
    EXPECT_EQ(t.direction, s.caller == Side::Pbx ? "outbound" : "inbound");
    EXPECT_EQ(t.calling, s.calling);
    EXPECT_EQ(t.called, s.called);
    EXPECT_FALSE(t.partial);
    EXPECT_EQ(t.keypad, s.keypad);
    ASSERT_TRUE(t.channel.has_value());
    EXPECT_TRUE(valid_channel(sc, s.span, *t.channel)) << *t.channel;
    if (s.channel) {
      EXPECT_EQ(*t.channel, s.channel);
    }
    ASSERT_TRUE(t.start && t.end);
    // The SETUP goes out at `at`, give or take the microseconds that order frames.
    const double start_off = secs(*t.start - sc.start);
    EXPECT_NEAR(start_off, s.at_s, 0.001);
    EXPECT_LT(*t.start, *t.end);
    if (s.answer_after_s) {
      ASSERT_TRUE(t.answer.has_value());
      EXPECT_LT(*t.start, *t.answer);
      EXPECT_LT(*t.answer, *t.end);
      if (s.overlap) {
        EXPECT_GT(secs(*t.answer - *t.start), *s.answer_after_s + 0.1);
      } else {
        EXPECT_NEAR(secs(*t.answer - *t.start), *s.answer_after_s, 0.001);
      }
      EXPECT_NEAR(t.duration_s, secs(*t.end - *t.answer), 1e-6);
    } else {
      EXPECT_FALSE(t.answer.has_value());
      EXPECT_EQ(t.duration_s, 0.0);
    }
  }
  // Special cases, by position in SETUP order.
  auto by_called = [&](const std::string& called, int channel = 0) -> const TruthCall& {
    for (const TruthCall& t : truth)
      if (t.called == called && (channel == 0 || t.channel == channel)) return t;
    ADD_FAILURE() << "no call to " << called;
    return truth.front();
  };
  // Answered calls last exactly `talk`.
  EXPECT_NEAR(by_called("2125557788").duration_s, 30.0, 0.001);
  EXPECT_NEAR(by_called("011442079460000").duration_s, 40.0, 0.001);
  // A busy channel is refused with RELEASE COMPLETE, cause 44.
  const TruthCall& refused = by_called("3055550100", 7);
  EXPECT_EQ(refused.cause, 44);
  EXPECT_EQ(refused.direction, "outbound");
  EXPECT_LT(secs(*refused.end - *refused.start), 0.1);
  // The RESTART at 15 s ends the call on E1 channel 17, with no cause.
  const TruthCall& restarted = by_called("3012345699");
  EXPECT_EQ(restarted.channel, 17);
  EXPECT_FALSE(restarted.cause.has_value());
  EXPECT_NEAR(secs(*restarted.end - sc.start), 15.0, 0.001);
  // Busy: cleared `ring` after the SETUP, cause 17. No answer: cause 19 by default.
  const TruthCall& busy = by_called("6175550123");
  EXPECT_EQ(busy.cause, 17);
  EXPECT_NEAR(secs(*busy.end - *busy.start), 0.6, 0.001);
  EXPECT_EQ(by_called("4155550188").cause, 19);
  EXPECT_NEAR(secs(*by_called("4155550188").end - *by_called("4155550188").start), 12.0, 0.001);
  EXPECT_EQ(by_called("3012345600").cause, 21);
  EXPECT_EQ(by_called("21234567").cause, 16);
  EXPECT_EQ(by_called("2125550100").calling, "");
  // Answered before it would have rung: no wait for `ring`.
  EXPECT_NEAR(secs(*by_called("2125554321").answer - *by_called("2125554321").start), 2.0, 0.001);
  // E1 channels: the carrier hunts from the top, skipping the D-channel timeslot.
  EXPECT_EQ(by_called("3012345655").channel, 31);
  EXPECT_EQ(by_called("0891234567").channel, 1);
}

TEST(Simulator, FramesComeFromBothStacksOfEverySpan) {
  const Scenario sc = parse_ok(kTwenty);
  auto r = run(sc);
  const auto& frames = r->sink.frames;
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(r->sim->frames_tapped(), frames.size());
  EXPECT_EQ(r->sim->frames_injected(), 0u);
  std::map<std::pair<int, Side>, int> count;
  for (const Frame& f : frames) ++count[{f.span, f.from}];
  for (int span : {1, 2})
    for (Side side : {Side::Pbx, Side::Carrier})
      EXPECT_GT((count[{span, side}]), 20) << "span " << span << " " << tw::hal::to_string(side);
  // The capture starts before the scenario: both ends' SABME, then UA, before anything else.
  std::set<std::pair<int, Side>> sabme, ua;
  for (std::size_t i = 0; i < 8; ++i) {
    ASSERT_EQ(frames[i].bytes.size(), 3u);
    EXPECT_LT(frames[i].time, sc.start);
    if ((frames[i].bytes[2] & 0xef) == 0x6f) sabme.insert({frames[i].span, frames[i].from});
    if ((frames[i].bytes[2] & 0xef) == 0x63) ua.insert({frames[i].span, frames[i].from});
  }
  EXPECT_EQ(sabme.size(), 4u);
  EXPECT_EQ(ua.size(), 4u);
  // The PBX is the user side on span 1 and the network side on span 2: the C/R bit of its
  // commands (I-frames) says so.
  for (const Frame& f : frames) {
    if (f.bytes.size() < 4 || (f.bytes[2] & 1) != 0) continue;
    const bool cr = (f.bytes[0] & 0x02) != 0;
    const bool pbx_is_network = f.span == 2;
    EXPECT_EQ(cr, (f.from == Side::Pbx) == pbx_is_network) << "span " << f.span;
  }
  // Ticks: at least one per simulated second across the whole run.
  ASSERT_FALSE(r->sink.ticks.empty());
  EXPECT_LE(r->sink.ticks.front(), sc.start + 1s);
  EXPECT_GE(r->sink.ticks.back() + 1s, frames.back().time);
}

TEST(Simulator, PcapAgreesWithTruthUnderTshark) {
  if (!have_tshark()) GTEST_FAIL() << "tshark not installed: scripts/setup.sh installs it";
  const Scenario sc = parse_ok(kTwenty);
  const std::string pcap = temp_path("twenty.pcap");
  auto r = run(sc, {.speed = 0, .pcap_path = pcap});
  const auto rows = tshark_fields(
      pcap, "-e q931.message_type -e q931.called_party_number.digits -e _ws.malformed");
  std::filesystem::remove(pcap);
  ASSERT_EQ(rows.size(), r->sink.frames.size());
  std::multiset<std::string> setup_called, expected_called;
  std::string info_digits;
  for (const auto& row : rows) {
    EXPECT_EQ(row[2], "") << "tshark calls a simulator frame malformed";
    if (row[0] == "0x05") setup_called.insert(row[1]);
    if (row[0] == "0x7b") info_digits += row[1];
  }
  std::string expected_info;
  for (const auto& c : sorted_calls(sc)) {
    expected_called.insert(c.overlap ? c.called.substr(0, 1) : c.called);
    if (c.overlap) expected_info += c.called.substr(1);  // the overlap calls do not interleave
  }
  EXPECT_EQ(setup_called.size(), sc.calls.size());
  EXPECT_EQ(setup_called, expected_called);
  EXPECT_EQ(info_digits, expected_info);
  // And the truth's called numbers are the SETUP prefix plus the INFORMATION digits.
  std::multiset<std::string> truth_called;
  for (const TruthCall& t : r->sim->truth()) truth_called.insert(t.called);
  std::multiset<std::string> spec_called;
  for (const auto& c : sc.calls) spec_called.insert(c.called);
  EXPECT_EQ(truth_called, spec_called);
}

TEST(Simulator, TrafficGeneratorMakesManyOverlappingCallsQuickly) {
  const Scenario sc = parse_ok(R"(
[scenario]
start = 2027-01-07T14:00:00Z
seed = 5
[[span]]
id = 1
[[span]]
id = 2
type = "e1"
[traffic]
calls = 300
duration_s = 1800
mean_talk_s = 200
overlap_share = 0.2
keypad_share = 0.05
)");
  ASSERT_EQ(sc.calls.size(), 300u);
  const auto wall = std::chrono::steady_clock::now();
  auto r = run(sc);
  const auto elapsed = std::chrono::steady_clock::now() - wall;
  EXPECT_LT(elapsed, 20s);
  const auto& truth = r->sim->truth();
  ASSERT_EQ(truth.size(), 300u);
  EXPECT_EQ(r->sim->calls_blocked(), 0u);
  std::map<int, int> per_span, causes;
  int answered = 0, inbound = 0, with_keypad = 0;
  std::vector<std::pair<Timestamp, int>> edges;
  for (const TruthCall& t : truth) {
    ++per_span[t.span];
    ++causes[t.cause.value_or(-1)];
    answered += t.answer.has_value();
    inbound += t.direction == "inbound";
    with_keypad += !t.keypad.empty();
    EXPECT_TRUE(valid_channel(sc, t.span, t.channel.value_or(0)));
    edges.push_back({*t.start, 1});
    edges.push_back({*t.end, -1});
  }
  std::sort(edges.begin(), edges.end());
  int now = 0, peak = 0;
  for (const auto& [time, d] : edges) peak = std::max(peak, now += d);
  EXPECT_GE(peak, 15) << "calls should overlap";
  EXPECT_GT(per_span[1], 100);
  EXPECT_GT(per_span[2], 100);
  EXPECT_GT(answered, 150);
  EXPECT_LT(answered, 290);
  EXPECT_GT(inbound, 60);
  EXPECT_LT(inbound, 200);
  EXPECT_GT(with_keypad, 0);
  for (const auto& [cause, n] : causes)
    EXPECT_TRUE(cause == 16 || cause == 17 || cause == 19 || cause == 21) << cause;
  EXPECT_GT(causes[17] + causes[19] + causes[21], 20);
  EXPECT_GT(
      std::count_if(sc.calls.begin(), sc.calls.end(), [](const auto& c) { return c.overlap; }), 20);
  // Same seed, same traffic.
  const Scenario again = parse_ok(R"(
[scenario]
start = 2027-01-07T14:00:00Z
seed = 5
[[span]]
id = 1
[[span]]
id = 2
type = "e1"
[traffic]
calls = 300
duration_s = 1800
mean_talk_s = 200
overlap_share = 0.2
keypad_share = 0.05
)");
  ASSERT_EQ(again.calls.size(), sc.calls.size());
  for (std::size_t i = 0; i < sc.calls.size(); ++i) {
    EXPECT_EQ(again.calls[i].called, sc.calls[i].called);
    EXPECT_EQ(again.calls[i].at_s, sc.calls[i].at_s);
  }
}

// Every libpri switch variant, on both span types, with the PBX on either side.
TEST(Simulator, EverySwitchTypeAndRole) {
  for (const char* sw : {"ni2", "4ess", "5ess", "dms100", "euroisdn", "qsig"}) {
    for (const char* type : {"t1", "e1"}) {
      for (const char* side : {"user", "network"}) {
        SCOPED_TRACE(std::string(sw) + " " + type + " " + side);
        const Scenario sc = parse_ok(std::string("[[span]]\ntype = \"") + type +
                                     "\"\nswitchtype = \"" + sw + "\"\npbx_side = \"" + side +
                                     R"("
[[call]]
at = 1
calling = "555"
called = "12345678"
overlap = true
answer_after = 2
talk = 5
keypad = "99#"
[[call]]
at = 2
direction = "inbound"
calling = "5556"
called = "4321"
cause = 17
[[restart]]
at = 20
channel = 3
)");
        auto r = run(sc);
        ASSERT_EQ(r->sim->truth().size(), 2u);
        EXPECT_EQ(r->sim->truth()[0].called, "12345678");
        EXPECT_EQ(r->sim->truth()[0].keypad, "99#");
        EXPECT_TRUE(r->sim->truth()[0].answer.has_value());
        EXPECT_EQ(r->sim->truth()[1].cause, 17);
      }
    }
  }
}

TEST(Simulator, RunsAreReproducible) {
  const Scenario sc = parse_ok(kTwenty);
  auto a = run(sc);
  auto b = run(sc);
  EXPECT_EQ(a->sink.frames, b->sink.frames);
}

TEST(Simulator, MidSessionCaptureWithGarbage) {
  std::string error;
  auto sc = tw::sim::load_scenario(
      (kSourceDir / "examples/scenarios/midsession-malformed.toml").string(), error);
  ASSERT_TRUE(sc) << error;
  const std::string pcap = temp_path("midsession.pcap");
  auto r = run(*sc, {.speed = 0, .pcap_path = pcap});
  const Timestamp capture = sc->start + std::chrono::seconds(90);
  ASSERT_FALSE(r->sink.frames.empty());
  for (const Frame& f : r->sink.frames) ASSERT_GE(f.time, capture);
  EXPECT_GT(r->sim->frames_injected(), 0u);
  EXPECT_EQ(r->sink.frames.size(), r->sim->frames_tapped() + r->sim->frames_injected());
  EXPECT_NEAR(
      static_cast<double>(r->sim->frames_tapped()) / static_cast<double>(r->sim->frames_injected()),
      5.0, 0.1);
  int partial = 0;
  for (const TruthCall& t : r->sim->truth()) {
    EXPECT_GE(*t.end, capture) << "a call over before the capture is not in the truth";
    EXPECT_EQ(t.partial, *t.start < capture);
    partial += t.partial;
  }
  EXPECT_GT(partial, 0);
  EXPECT_LT(r->sim->truth().size(), sc->calls.size());  // the first call ended before
  if (have_tshark()) {
    // Wireshark reads the salted capture; it flags some garbage, never a real frame.
    const auto rows = tshark_fields(pcap, "-e frame.number -e _ws.malformed");
    EXPECT_EQ(rows.size(), r->sink.frames.size());
  }
  std::filesystem::remove(pcap);
}

TEST(Simulator, ExampleScenariosRun) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSourceDir / "examples/scenarios")) {
    if (entry.path().extension() != ".toml") continue;
    SCOPED_TRACE(entry.path().string());
    std::string error;
    auto sc = tw::sim::load_scenario(entry.path().string(), error);
    ASSERT_TRUE(sc) << error;
    auto r = run(*sc);
    EXPECT_FALSE(r->sim->truth().empty());
    EXPECT_EQ(r->sim->calls_blocked(), 0u);
    ++n;
  }
  EXPECT_GE(n, 4);
}

TEST(Simulator, DemoScenario) {
  const Scenario sc = tw::sim::demo_scenario();
  ASSERT_EQ(sc.spans.size(), 2u);
  for (const auto& s : sc.spans) {
    EXPECT_EQ(s.type, tw::hal::SpanType::T1);
    EXPECT_EQ(s.switch_type, tw::hal::SwitchType::Ni2);
    EXPECT_EQ(s.pbx_role, tw::hal::Role::User);
  }
  EXPECT_GE(sc.calls.size(), 50u);
  EXPECT_LE(sc.calls.size(), 70u);
  auto r = run(sc);
  const auto& truth = r->sim->truth();
  EXPECT_EQ(truth.size(), sc.calls.size());
  int international = 0;
  Timestamp last{};
  for (const TruthCall& t : truth) {
    if (t.direction == "outbound" && t.called.starts_with("011")) ++international;
    last = std::max(last, *t.end);
  }
  EXPECT_GE(international, 1);
  EXPECT_LE(international, 6);
  EXPECT_LE(last - sc.start, 12min);
  EXPECT_GE(last - sc.start, 8min);
  // Business hours (UTC), on a weekday.
  const auto day = std::chrono::floor<std::chrono::days>(sc.start);
  const std::chrono::weekday wd{day};
  EXPECT_TRUE(wd != std::chrono::Saturday && wd != std::chrono::Sunday);
  const auto hour = std::chrono::duration_cast<std::chrono::hours>(sc.start - day).count();
  EXPECT_GE(hour, 8);
  EXPECT_LT(hour, 17);
}

TEST(Simulator, PacesToSpeedAndStops) {
  const Scenario sc = parse_ok(R"(
[[span]]
[[call]]
at = 0.5
called = "5551234"
answer_after = 1
talk = 1
)");
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run(sc, {.speed = 10, .pcap_path = ""});
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  // About 3 simulated seconds (link-up 0.5 s before the start) at 10x.
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 5s);
  ASSERT_EQ(r->sim->truth().size(), 1u);

  const Scenario long_call = parse_ok(R"(
[[span]]
[[call]]
at = 1
called = "5551234"
answer_after = 1
talk = 3600
)");
  Simulator sim(long_call, {.speed = 5, .pcap_path = ""});
  RecordingSink sink;
  std::thread stopper([&sim] {
    std::this_thread::sleep_for(700ms);  // about 3 simulated seconds: the call is up
    sim.stop();
  });
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(sim.run(sink).message, "");
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 3s);
  EXPECT_TRUE(sink.ended);
  ASSERT_EQ(sim.truth().size(), 1u);
  EXPECT_TRUE(sim.truth()[0].answer.has_value());
  EXPECT_FALSE(sim.truth()[0].end.has_value());
}

TEST(Simulator, RunsOnlyOnceAndReportsBadPcapPath) {
  const Scenario sc = parse_ok("[[span]]\n[[call]]\nat = 1\ncalled = \"1234\"\n");
  Simulator sim(sc, {.speed = 0, .pcap_path = "/nonexistent-dir/x.pcap"});
  RecordingSink sink;
  EXPECT_NE(sim.run(sink).message.find("/nonexistent-dir/x.pcap"), std::string::npos);
  EXPECT_NE(sim.run(sink).message, "");
}

TEST(Simulator, TruthJsonLines) {
  TruthCall a;
  a.span = 2;
  a.channel = 17;
  a.direction = "outbound";
  a.calling = "2125550101";
  a.called = "011442079460000";
  const Timestamp t0 = *tw::hal::parse_time("2027-01-05T09:14:03.125Z");
  a.start = t0;
  a.answer = t0 + 5s;
  a.end = t0 + 65s + 250ms;
  a.duration_s = 60.25;
  a.cause = 16;
  TruthCall b;
  b.span = 1;
  b.direction = "inbound";
  b.called = "2125550100";
  b.start = t0 + 1ms;
  b.partial = true;
  b.keypad = "12#";
  std::ostringstream out;
  tw::sim::write_truth_jsonl(out, {a, b});
  EXPECT_EQ(out.str(), R"({"span":2,"channel":17,"direction":"outbound","calling":"2125550101",)"
                       R"("called":"011442079460000","start":"2027-01-05T09:14:03.125Z",)"
                       R"("answer":"2027-01-05T09:14:08.125Z","end":"2027-01-05T09:15:08.375Z",)"
                       R"("duration_s":60.25,"cause":16,"partial":false})"
                       "\n"
                       R"({"span":1,"channel":null,"direction":"inbound","calling":"",)"
                       R"("called":"2125550100","start":"2027-01-05T09:14:03.126Z","answer":null,)"
                       R"("end":null,"duration_s":0.0,"cause":null,"partial":true,"keypad":"12#"})"
                       "\n");
}

TEST(Simulator, Rfc3339) {
  const auto t = tw::hal::parse_time("2027-01-05T10:14:03.1259+01:00");
  ASSERT_TRUE(t);
  EXPECT_EQ(tw::hal::format_time(*t), "2027-01-05T09:14:03.125Z");
  EXPECT_FALSE(tw::hal::parse_time("2027-01-05T09:14:03"));
  EXPECT_FALSE(tw::hal::parse_time("2027-02-30T09:14:03Z"));
  EXPECT_FALSE(tw::hal::parse_time("yesterday"));
}

// ---------------------------------------------------------------------------------------------

TEST(ScenarioFile, Defaults) {
  const Scenario sc = parse_ok(R"(
[[span]]
[[span]]
id = 4
type = "e1"
[[call]]
at = 3
called = "123"
[[call]]
at = 4
span = 4
direction = "inbound"
called = "456"
answer_after = 2
)");
  ASSERT_EQ(sc.spans.size(), 2u);
  EXPECT_EQ(sc.spans[0].id, 1);
  EXPECT_EQ(sc.spans[0].switch_type, tw::hal::SwitchType::Ni2);
  EXPECT_EQ(sc.spans[1].switch_type, tw::hal::SwitchType::EuroIsdn);
  EXPECT_EQ(sc.spans[1].pbx_role, tw::hal::Role::User);
  ASSERT_EQ(sc.calls.size(), 2u);
  EXPECT_EQ(sc.calls[0].span, 1);
  EXPECT_EQ(sc.calls[0].caller, Side::Pbx);
  EXPECT_FALSE(sc.calls[0].answer_after_s);
  EXPECT_EQ(sc.calls[0].cause, 19);               // unanswered
  EXPECT_EQ(sc.calls[0].clearer, Side::Carrier);  // the called side gives up
  EXPECT_EQ(sc.calls[1].cause, 16);
  EXPECT_EQ(sc.calls[1].clearer, Side::Carrier);  // answered: the caller hangs up
  EXPECT_EQ(tw::hal::format_time(sc.start), "2027-01-05T09:00:00.000Z");
}

TEST(ScenarioFile, TimesPastThirtyOneDaysAreRefused) {
  const std::string head = "[[span]]\n[[call]]\ncalled = \"1\"\n";
  EXPECT_EQ(parse_error(head + "at = 1e12\n"),
            "bad.toml:4:6: 'at' must be between 0 and 2678400 seconds (31 days, the longest a "
            "scenario runs)");
  EXPECT_EQ(parse_error(head + "at = 2678400\nring = 0\ntalk = 1\n"),
            "bad.toml:4:6: the call ends 2678401 s after the start (at + answer_after + ring + "
            "talk): past 31 days, the longest a scenario runs");
  EXPECT_EQ(parse_error(head + "at = 1\ntalk = inf\n"),
            "bad.toml:5:8: 'talk' must be between 0 and 2678400 seconds (31 days, the longest a "
            "scenario runs)");
  EXPECT_EQ(parse_error("[[span]]\n[[restart]]\nat = 3e6\nchannel = 1\n"),
            "bad.toml:3:6: 'at' must be between 0 and 2678400 seconds (31 days, the longest a "
            "scenario runs)");
  EXPECT_EQ(
      parse_error("[[span]]\n[traffic]\ncalls = 1\nstart_at = 2000000\nduration_s = 700000\n"),
      "bad.toml:4:12: [traffic] start_at + duration_s is past 31 days, the longest a "
      "scenario runs");
  EXPECT_EQ(parse_error("[[span]]\n[capture]\nstart_after_s = 1e9\n"),
            "bad.toml:3:17: 'start_after_s' must be between 0 and 2678400 seconds (31 days, the "
            "longest a scenario runs)");
  // Up to the limit is fine.
  const Scenario sc = parse_ok(head + "at = 2678370\nring = 0\n");
  ASSERT_EQ(sc.calls.size(), 1u);
  EXPECT_EQ(sc.calls[0].at_s, 2678370);
}

TEST(ScenarioFile, EveryErrorIsReportedInFileOrder) {
  const std::string error = parse_error(
      "[scenario]\n"           // 1
      "seed = -1\n"            // 2
      "[[span]]\n"             // 3
      "type = \"j1\"\n"        // 4
      "[[call]]\n"             // 5
      "at = \"soon\"\n"        // 6
      "called = \"12x\"\n"     // 7
      "colour = \"red\"\n"     // 8
      "[[call]]\n"             // 9
      "span = 9\n"             // 10
      "[[restart]]\n"          // 11
      "channel = 0\n"          // 12
      "[traffic]\n"            // 13
      "calls = 0\n"            // 14
      "fax_share = 0.7\n"      // 15
      "modem_share = 0.7\n");  // 16
  EXPECT_EQ(error,
            "bad.toml:2:8: 'seed' must be between 0 and 4294967295\n"
            "bad.toml:4:8: 'type' must be one of \"t1\", \"e1\"\n"
            "bad.toml:6:6: 'at' must be a number\n"
            "bad.toml:7:10: 'called' may hold only 0-9, * and #\n"
            "bad.toml:8:1: unknown key 'colour' in [[call]]\n"
            "bad.toml:9:1: [[call]] needs 'at' (seconds from the start)\n"
            "bad.toml:9:1: [[call]] needs 'called'\n"
            "bad.toml:10:8: no [[span]] with id 9\n"
            "bad.toml:11:1: [[restart]] needs 'at'\n"
            "bad.toml:12:11: 'channel' must be between 1 and 31\n"
            "bad.toml:13:1: [traffic] fax_share + modem_share + silence_share is more than 1\n"
            "bad.toml:14:9: 'calls' must be between 1 and 1000000");
}

TEST(ScenarioFile, ErrorsCarryFileLineColumn) {
  const std::regex shape(R"(^bad\.toml:\d+:\d+: .+)");
  const std::vector<std::string> bad = {
      "[scenario]\nname = \n",
      "[[span]]\n[[call]]\nat = 1\ncalled = \"1\"\ncolour = \"red\"\n",
      "[[span]]\n[[call]]\nat = 1\ncalled = 12345\n",
      "[[span]]\ntype = \"e1\"\n[[call]]\nat = 1\ncalled = \"1\"\nchannel = 16\n",
      "[[span]]\n[[call]]\nat = 1\nspan = 3\ncalled = \"1\"\n",
      "[[span]]\n[[call]]\nat = 1\n",
      "[scenario]\nname = \"x\"\n",
      "[scenario]\nstart = 2027-01-05T09:00:00\n[[span]]\n",
      "[[span]]\n[[call]]\nat = 1\ncalled = \"1\"\ndirection = \"sideways\"\n",
      "[[span]]\nswitchtype = \"ess5\"\n",
      "[[span]]\n[[call]]\nat = -1\ncalled = \"1\"\n",
      "[[span]]\n[traffic]\nduration_s = 60\n",
      "[[span]]\n[traffic]\ncalls = 10\nspans = [2]\n",
      "[[span]]\n[[restart]]\nat = 1\nchannel = 24\n",
      "[[span]]\nid = 1\n[[span]]\nid = 1\n",
  };
  for (const std::string& text : bad) {
    const std::string err = parse_error(text);
    EXPECT_TRUE(std::regex_match(err, shape)) << "'" << err << "' for:\n" << text;
  }
  // Positions point at the offending value or key.
  EXPECT_EQ(parse_error(bad[1]), "bad.toml:5:1: unknown key 'colour' in [[call]]");
  EXPECT_EQ(parse_error(bad[3]).substr(0, 15), "bad.toml:6:11: ");
  EXPECT_NE(parse_error(bad[3]).find("no B-channel 16"), std::string::npos);
  EXPECT_EQ(parse_error(bad[4]), "bad.toml:4:8: no [[span]] with id 3");
  EXPECT_EQ(parse_error(bad[2]).substr(0, 14), "bad.toml:4:10:");
  EXPECT_NE(parse_error(bad[7]).find("UTC offset"), std::string::npos);
  EXPECT_EQ(parse_error(bad[6]), "bad.toml:1:1: no [[span]]: a scenario needs at least one span");

  std::string error;
  EXPECT_FALSE(tw::sim::load_scenario("/nonexistent/x.toml", error));
  EXPECT_EQ(error, "/nonexistent/x.toml: cannot open the scenario file");
  // A file's errors name the file.
  const std::string path = temp_path("bad.toml");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("[[span]]\ntype = \"j1\"\n", f);
    std::fclose(f);
  }
  EXPECT_FALSE(tw::sim::load_scenario(path, error));
  std::filesystem::remove(path);
  EXPECT_EQ(error.substr(0, path.size() + 7), path + ":2:8: '");
}

// ---- the simulator's parts ------------------------------------------------------------------

TEST(SimScheduler, StepsRunInTimeThenQueueOrderAndNeverInThePast) {
  using tw::sim::detail::Kind;
  tw::sim::detail::RunState state;
  tw::sim::detail::Scheduler clock(0, state);
  const Timestamp t0 = Timestamp{} + std::chrono::seconds(1'800'000'000);
  clock.start(t0, t0 + 1s);
  clock.schedule(t0 + 2s, Kind::Answer, 1);
  clock.schedule(t0 + 1s, Kind::Alert, 2);
  clock.schedule(t0 + 1s, Kind::Place, 3);
  clock.advance(t0 + 500ms);
  clock.schedule(t0, Kind::Clear, 4);  // in the past: runs now
  std::vector<std::pair<Timestamp, int>> order;
  while (!clock.idle()) {
    const auto a = clock.next();
    order.emplace_back(a.at, a.index);
  }
  const std::vector<std::pair<Timestamp, int>> want = {
      {t0 + 500ms, 4}, {t0 + 1s, 2}, {t0 + 1s, 3}, {t0 + 2s, 1}};
  EXPECT_EQ(order, want);
  EXPECT_TRUE(clock.tick_due(t0 + 1s));
  EXPECT_FALSE(clock.tick_due(t0 + 999ms));
  clock.tick_done();
  EXPECT_EQ(clock.next_tick(), t0 + 2s);
}

TEST(SimScheduler, FramesOfOneInstantAreStampedOneMicrosecondApart) {
  tw::sim::detail::RunState state;
  tw::sim::detail::Scheduler clock(0, state);
  const Timestamp t0 = Timestamp{} + std::chrono::seconds(1'800'000'000);
  clock.start(t0, t0);
  EXPECT_EQ(clock.stamp(), t0);
  EXPECT_EQ(clock.stamp(), t0 + 1us);
  clock.advance(t0 + 1ms);
  EXPECT_EQ(clock.stamp(), t0 + 1ms);
  clock.advance(t0);  // never back
  EXPECT_EQ(clock.now(), t0 + 1ms);
}

TEST(SimCallPlanner, PbxHuntsUpCarrierDownSkippingTheEOneDChannel) {
  using tw::sim::detail::CallPlanner;
  tw::hal::SpanInfo e1;
  e1.type = tw::hal::SpanType::E1;
  tw::sim::detail::ChannelOwners owner;
  owner.fill(-1);
  EXPECT_EQ(CallPlanner::pick_channel(e1, owner, Side::Pbx), 1);
  EXPECT_EQ(CallPlanner::pick_channel(e1, owner, Side::Carrier), 31);
  for (int ch = 1; ch <= 15; ++ch) owner[static_cast<std::size_t>(ch)] = 0;
  EXPECT_EQ(CallPlanner::pick_channel(e1, owner, Side::Pbx), 17);
  for (int ch = 17; ch <= 31; ++ch) owner[static_cast<std::size_t>(ch)] = 0;
  EXPECT_EQ(CallPlanner::pick_channel(e1, owner, Side::Carrier), 0);
  tw::hal::SpanInfo t1;
  t1.type = tw::hal::SpanType::T1;
  owner.fill(-1);
  EXPECT_EQ(CallPlanner::pick_channel(t1, owner, Side::Carrier), 23);
}

TEST(SimCallPlanner, OrdersCallsBySetupTimeAndRefusesAnUnknownSpan) {
  Scenario sc;
  sc.spans.resize(2);
  sc.spans[0].id = 4;
  sc.spans[1].id = 7;
  auto call = [](double at, int span, const char* called) {
    tw::sim::CallSpec c;
    c.at_s = at;
    c.span = span;
    c.called = called;
    return c;
  };
  sc.calls = {call(9, 7, "3"), call(2, 4, "1"), call(9, 4, "4"), call(5, 7, "2")};
  tw::sim::detail::RunState state;
  const tw::sim::detail::CallPlanner planner(1);
  const auto planned = planner.order_calls(sc, state);
  ASSERT_TRUE(planned) << state.error;
  std::vector<std::pair<std::string, int>> got;
  for (const auto& p : *planned) got.emplace_back(p.spec.called, p.span);
  const std::vector<std::pair<std::string, int>> want = {{"1", 0}, {"2", 1}, {"3", 1}, {"4", 0}};
  EXPECT_EQ(got, want);

  sc.calls.push_back(call(12.5, 5, "5"));
  EXPECT_FALSE(planner.order_calls(sc, state));
  EXPECT_EQ(state.error, "call at 12.5s: no span 5");
}

TEST(SimTap, KeepsFramesFromCaptureStartAndAddsGarbageEveryNth) {
  tw::sim::detail::RunState state;
  tw::sim::detail::Scheduler clock(0, state);
  const Timestamp t0 = Timestamp{} + std::chrono::seconds(1'800'000'000);
  clock.start(t0, t0);
  std::vector<tw::hal::SpanInfo> spans(1);
  spans[0].id = 3;
  tw::sim::detail::Tap tap(spans, 2, 1, clock, state);
  tap.start(t0 + 2us);
  const std::vector<std::uint8_t> frame = {0x00, 0x01, 0x01, 0x01};
  EXPECT_EQ(tap.record(3, Side::Pbx, frame), t0);        // before the capture: dropped
  EXPECT_EQ(tap.record(3, Side::Pbx, frame), t0 + 1us);  // dropped
  EXPECT_EQ(tap.record(3, Side::Carrier, frame), t0 + 2us);
  EXPECT_EQ(tap.record(3, Side::Pbx, frame), t0 + 3us);  // 2nd kept: garbage after it
  ASSERT_EQ(tap.pending().size(), 3u);
  EXPECT_EQ(tap.pending()[0].time, t0 + 2us);
  EXPECT_EQ(tap.pending()[0].from, Side::Carrier);
  EXPECT_EQ(tap.pending()[1].bytes, frame);
  EXPECT_EQ(tap.pending()[2].time, t0 + 4us);
  EXPECT_EQ(tap.pending()[2].from, Side::Pbx);
  EXPECT_EQ(tap.frames_tapped(), 2u);
  EXPECT_EQ(tap.frames_injected(), 1u);
  RecordingSink sink;
  for (const auto& f : tap.pending()) tap.deliver(f, sink);
  tap.clear();
  EXPECT_TRUE(tap.pending().empty());
  ASSERT_EQ(sink.frames.size(), 3u);
  EXPECT_EQ(sink.frames[1], (Frame{3, Side::Pbx, t0 + 3us, frame}));
}

}  // namespace
