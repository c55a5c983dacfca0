// End to end: real libpri stacks (the simulator) -> tap -> passive decoder -> call records,
// compared field by field with what the simulator says really happened. Each scenario runs
// twice: live through the pipeline, and through the pcap it wrote (the replay path).
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "hal/replay/replay_source.hpp"
#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"
#include "monitor/pipeline.hpp"
#include "tests/support/sim_harness.hpp"
#include "tests/support/temp_dir.hpp"

namespace tw {
namespace {

std::string temp_path(const std::string& name) {
  return (test::temp_dir("simdecode") / name).string();
}

using test::ms;
using test::scenario;

struct RunResult {
  std::vector<calls::CallRecord> records;
  SpanStats totals;
};

RunResult decode(hal::SpanSource& source, const std::vector<hal::SpanInfo>& spans) {
  RunResult r;
  r.records = test::decode(source, spans, &r.totals);
  return r;
}

// Every truth call has exactly one decoded record with the same fields, and nothing else was
// decoded. `capture_from` marks where a mid-session capture starts.
void compare(const std::vector<sim::TruthCall>& truth, const std::vector<calls::CallRecord>& got,
             std::optional<hal::Timestamp> capture_from = std::nullopt) {
  ASSERT_FALSE(truth.empty());
  EXPECT_EQ(got.size(), truth.size()) << "decoded calls vs simulated calls";
  // Complete calls are matched by span, direction and SETUP time; partial ones by span,
  // direction and the time their clearing started.
  std::multimap<std::string, const calls::CallRecord*> by_key;
  for (const auto& r : got) {
    const std::string key = std::to_string(r.span) + std::string(calls::to_string(r.direction)) +
                            (r.partial ? "P" + ms(r.end) : ms(r.start));
    by_key.emplace(key, &r);
  }
  std::size_t checked = 0;
  for (const auto& t : truth) {
    SCOPED_TRACE("truth call span " + std::to_string(t.span) + " " + t.direction + " " + t.calling +
                 " -> " + t.called + " start " + ms(t.start));
    const std::string key =
        std::to_string(t.span) + t.direction + (t.partial ? "P" + ms(t.end) : ms(t.start));
    if (t.partial && capture_from && t.end && *t.end < *capture_from) continue;  // unknowable
    auto [lo, hi] = by_key.equal_range(key);
    ASSERT_EQ(std::distance(lo, hi), 1) << "no unique decoded record for key " << key;
    const calls::CallRecord& r = *lo->second;
    EXPECT_EQ(r.partial, t.partial);
    EXPECT_EQ(ms(r.end), ms(t.end));
    EXPECT_EQ(r.cause, t.cause);
    if (!t.partial) {
      EXPECT_EQ(r.channel, t.channel);
      EXPECT_EQ(r.calling, t.calling);
      EXPECT_EQ(r.called, t.called);
      EXPECT_EQ(ms(r.start), ms(t.start));
      EXPECT_EQ(ms(r.answer), ms(t.answer));
      EXPECT_NEAR(r.duration_s, t.duration_s, 0.002);
      EXPECT_EQ(r.keypad, t.keypad);
    } else if (t.answer && capture_from && *t.answer >= *capture_from) {
      EXPECT_EQ(ms(r.answer), ms(t.answer));
    }
    ++checked;
  }
  EXPECT_GT(checked, truth.size() / 2);
}

void run_both_ways(const sim::Scenario& s, std::size_t min_calls,
                   std::optional<hal::Timestamp> capture_from = std::nullopt) {
  const std::string pcap = temp_path(s.name + ".pcap");
  sim::Simulator simulator(s, sim::SimOptions{.speed = 0, .pcap_path = pcap});
  const auto spans = simulator.spans();
  const RunResult live = decode(simulator, spans);
  ASSERT_GE(simulator.truth().size(), min_calls);
  {
    SCOPED_TRACE("live");
    compare(simulator.truth(), live.records, capture_from);
    // Frames exactly as libpri wrote them: nothing may be called malformed.
    if (simulator.frames_injected() == 0) {
      EXPECT_EQ(live.totals.malformed, 0u);
    }
  }
  hal::ReplaySource replay(hal::ReplayOptions{.path = pcap, .realtime = false, .pbx_role = {}});
  ASSERT_EQ(replay.open(), "");
  const RunResult replayed = decode(replay, spans);
  {
    SCOPED_TRACE("replay");
    compare(simulator.truth(), replayed.records, capture_from);
    EXPECT_EQ(replayed.totals.frames, live.totals.frames);
    EXPECT_EQ(replayed.totals.messages, live.totals.messages);
  }
}

TEST(SimDecode, Ni2TwoSpansHundredsOfOverlappingCallsWithOverlapDialing) {
  const auto s = scenario(R"(
[scenario]
name = "ni2-busy"
start = "2027-01-05T08:00:00Z"
seed = 11
[[span]]
id = 1
type = "t1"
switchtype = "ni2"
[[span]]
id = 2
type = "t1"
switchtype = "ni2"
[traffic]
calls = 400
duration_s = 3600
overlap_share = 0.25
keypad_share = 0.1
)");
  run_both_ways(s, 300);
}

TEST(SimDecode, EuroIsdnE1WithALaw) {
  const auto s = scenario(R"(
[scenario]
name = "euroisdn"
start = "2027-01-05T09:00:00Z"
seed = 5
[[span]]
id = 1
type = "e1"
switchtype = "euroisdn"
[traffic]
calls = 250
duration_s = 1800
overlap_share = 0.3
)");
  run_both_ways(s, 200);
}

TEST(SimDecode, OtherSwitchTypes) {
  for (const char* type : {"4ess", "5ess", "dms100", "qsig"}) {
    SCOPED_TRACE(type);
    const auto s = scenario(std::string(R"(
[scenario]
name = "variant-)") + type + R"("
start = "2027-01-05T10:00:00Z"
seed = 3
[[span]]
id = 1
type = "t1"
switchtype = ")" + type + R"("
[traffic]
calls = 60
duration_s = 900
)");
    run_both_ways(s, 50);
  }
}

TEST(SimDecode, CaptureStartingMidSessionSaltedWithMalformedFrames) {
  const auto s = scenario(R"(
[scenario]
name = "midsession"
start = "2027-01-05T08:00:00Z"
seed = 23
[[span]]
id = 1
type = "t1"
[[span]]
id = 2
type = "e1"
[capture]
start_after_s = 600
malformed_every = 5
[traffic]
calls = 300
duration_s = 2400
overlap_share = 0.2
)");
  const std::string pcap = temp_path("midsession.pcap");
  sim::Simulator simulator(s, sim::SimOptions{.speed = 0, .pcap_path = pcap});
  const RunResult live = decode(simulator, simulator.spans());
  const auto capture_from = s.start + std::chrono::seconds(600);
  compare(simulator.truth(), live.records, capture_from);
  std::size_t partial = 0;
  for (const auto& r : live.records) partial += r.partial;
  EXPECT_GT(partial, 5u) << "calls up when the capture started must show as partial";
  ASSERT_GT(simulator.frames_injected(), 100u);
  // Garbage that happens to be well-formed link control (an RR, a UA) is not malformed;
  // everything else is counted.
  EXPECT_GT(live.totals.malformed, simulator.frames_injected() / 2);
  EXPECT_LE(live.totals.malformed, simulator.frames_injected());

  hal::ReplaySource replay(hal::ReplayOptions{.path = pcap, .realtime = false, .pbx_role = {}});
  ASSERT_EQ(replay.open(), "");
  const RunResult replayed = decode(replay, simulator.spans());
  compare(simulator.truth(), replayed.records, capture_from);
  EXPECT_EQ(replayed.totals.malformed, live.totals.malformed);
}

TEST(SimDecode, RestartEndsTheCallOnItsChannel) {
  const auto s = scenario(R"(
[scenario]
name = "restart"
start = "2027-01-05T08:00:00Z"
[[span]]
id = 1
type = "t1"
[[call]]
at = 1
direction = "outbound"
calling = "2125551000"
called = "3125550000"
answer_after = 2
talk = 600
channel = 4
[[call]]
at = 2
direction = "inbound"
calling = "3125550001"
called = "2125551001"
answer_after = 1
talk = 30
channel = 9
[[restart]]
at = 60
channel = 4
side = "carrier"
)");
  sim::Simulator simulator(s);
  const RunResult live = decode(simulator, simulator.spans());
  compare(simulator.truth(), live.records);
  ASSERT_EQ(live.records.size(), 2u);
  const auto& restarted = live.records[0].channel == 4 ? live.records[0] : live.records[1];
  EXPECT_EQ(restarted.end_reason, calls::EndReason::Restart);
}

// LINKTYPE_LAPD (203) has no pseudo-header: the direction comes from the C/R bit and the
// PBX's role, and the records must come out the same.
TEST(SimDecode, CaptureWithoutDirectionUsesTheCrBit) {
  for (const char* pbx_side : {"user", "network"}) {
    SCOPED_TRACE(pbx_side);
    const auto s = scenario(std::string(R"(
[scenario]
name = "lapd203"
start = "2027-01-05T08:00:00Z"
seed = 9
[[span]]
id = 1
type = "t1"
pbx_side = ")") + pbx_side + R"("
[traffic]
calls = 80
duration_s = 900
overlap_share = 0.2
)");
    const std::string with_direction = temp_path("lapd177.pcap");
    const std::string without = temp_path("lapd203.pcap");
    sim::Simulator simulator(s, sim::SimOptions{.speed = 0, .pcap_path = with_direction});
    const RunResult live = decode(simulator, simulator.spans());
    ASSERT_GE(live.records.size(), 60u);

    // Strip the pseudo-headers with libpcap itself.
    std::array<char, PCAP_ERRBUF_SIZE> err{};
    pcap_t* in = pcap_open_offline(with_direction.c_str(), err.data());
    ASSERT_NE(in, nullptr) << err.data();
    pcap_t* dead = pcap_open_dead(hal::kLinktypeLapd, 65535);
    pcap_dumper_t* out = pcap_dump_open(dead, without.c_str());
    ASSERT_NE(out, nullptr);
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(in, &h, &data) == 1) {
      pcap_pkthdr stripped = *h;
      stripped.caplen -= hal::kLapdPseudoHeaderLen;
      stripped.len -= hal::kLapdPseudoHeaderLen;
      pcap_dump(reinterpret_cast<u_char*>(out), &stripped, data + hal::kLapdPseudoHeaderLen);
    }
    pcap_dump_close(out);
    pcap_close(dead);
    pcap_close(in);

    const auto role = std::string(pbx_side) == "network" ? hal::Role::Network : hal::Role::User;
    hal::ReplaySource replay(
        hal::ReplayOptions{.path = without, .realtime = false, .pbx_role = role});
    ASSERT_EQ(replay.open(), "");
    const RunResult replayed = decode(replay, simulator.spans());
    compare(simulator.truth(), replayed.records);
  }
}

}  // namespace
}  // namespace tw
