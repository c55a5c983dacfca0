// Decode anomalies by kind, per span, and the decode_anomaly_burst notice: frames built by
// hand through the whole monitor chain (pipeline, rules engine with the default policy).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"
#include "monitor/app/monitor_chain.hpp"
#include "rules/config.hpp"

namespace tw {
namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;

struct Collect final : calls::CallEventSink, rules::NoticeSink {
  std::vector<rules::Notice> notices;
  std::vector<DecodeAnomaly>
      anomalies;  // as a downstream sink sees them (none: the engine keeps them)
  void on_call_event(const calls::CallEvent&) override {}
  void on_decode_anomaly(const DecodeAnomaly& a) override { anomalies.push_back(a); }
  void on_notice(const rules::Notice& n) override { notices.push_back(n); }
};

const hal::Timestamp kStart = hal::Timestamp{} + std::chrono::hours(24 * 365 * 57);

// SAPI 0 / TEI 0 I-frame with N(S) `ns` carrying `q931`.
Bytes iframe(std::uint8_t ns, const Bytes& q931) {
  // Sized up front: g++ 12 misreads an insert after a 4-byte list as out of bounds.
  Bytes b(4 + q931.size());
  b[1] = 0x01;
  b[2] = static_cast<std::uint8_t>(ns << 1);
  std::copy(q931.begin(), q931.end(), b.begin() + 4);
  return b;
}

// A SETUP naming channel 1 and called number 5551234, call reference `cr`.
Bytes setup(std::uint8_t cr) {
  return {0x08, 0x02, 0x00, cr,   0x05, 0x04, 0x03, 0x80, 0x90, 0xa2, 0x18, 0x03, 0xa9,
          0x83, 0x81, 0x70, 0x08, 0x81, '5',  '5',  '5',  '1',  '2',  '3',  '4'};
}

class DecodeAnomalies : public ::testing::Test {
 protected:
  DecodeAnomalies() {
    rules::ConfigOptions co;
    auto loaded = rules::load_config("", co);
    EXPECT_TRUE(loaded.config);
    config_ = loaded.config;
  }
  std::unique_ptr<app::MonitorChain> chain(std::shared_ptr<const rules::Config> config) {
    PipelineOptions po;
    hal::SpanInfo s;
    s.id = 3;
    po.spans.push_back(s);
    return std::make_unique<app::MonitorChain>(po, std::move(config), out_, out_);
  }
  static hal::DFrame frame(hal::Timestamp t, Bytes bytes, hal::Side from = hal::Side::Pbx) {
    hal::DFrame f;
    f.span = 3;
    f.from = from;
    f.time = t;
    f.bytes = std::move(bytes);
    return f;
  }
  std::shared_ptr<const rules::Config> config_;
  Collect out_;
};

TEST_F(DecodeAnomalies, CountedPerSpanByKind) {
  auto c = chain(config_);
  hal::Timestamp t = kStart;
  auto feed = [&](Bytes b, hal::Side from = hal::Side::Pbx) {
    c->on_frame(frame(t, std::move(b), from));
    t += 10s;
  };
  feed({0x00, 0x01});                                                      // frame_too_short
  feed({0x01, 0x01, 0x03});                                                // bad_address
  feed({0x00, 0x01, 0x0d, 0x00});                                          // bad_control
  feed(iframe(0, setup(1)));                                               // decodes
  feed(iframe(0, setup(2)));                                               // sequence_conflict
  feed(iframe(1, {0x08, 0x02}));                                           // message_too_short
  feed(iframe(2, {0x09, 0x02, 0x00, 0x01, 0x05}));                         // unknown_protocol
  feed(iframe(3, {0x08, 0x03, 0x00, 0x01, 0x01, 0x05}));                   // bad_call_reference
  feed(iframe(4, {0x08, 0x02, 0x00, 0x01, 0x7f}));                         // unknown_message
  feed(iframe(5, {0x08, 0x02, 0x00, 0x01, 0x05, 0x70, 0x09, 0x81, '5'}));  // truncated_ie
  feed(iframe(6, {0x08, 0x02, 0x00, 0x01, 0x05, 0x18, 0x00}));             // bad_ie_content
  feed(iframe(10, setup(3)));  // decodes after a gap: sequence_gap
  feed(iframe(10, setup(3)));  // a retransmission: no anomaly
  const SpanStats& s = c->pipeline().spans().at(0).stats;
  EXPECT_EQ(s.frames, 13u);
  EXPECT_EQ(s.messages, 2u);
  EXPECT_EQ(s.retransmissions, 1u);
  EXPECT_EQ(s.malformed, 10u);
  for (AnomalyKind k : kAllAnomalyKinds) EXPECT_EQ(s.anomalies[k], 1u) << to_string(k);
  EXPECT_EQ(s.anomalies.total(), 11u);
  EXPECT_EQ(c->pipeline().totals().anomalies[AnomalyKind::SequenceGap], 1u);
  // Eleven anomalies in two minutes: under the default 20 per 60 s, no notice.
  EXPECT_TRUE(out_.notices.empty());
  // The engine takes them, it does not pass them downstream.
  EXPECT_TRUE(out_.anomalies.empty());
}

TEST_F(DecodeAnomalies, ABurstRaisesOneNoticeWithTheSpanAndCounts) {
  auto c = chain(config_);
  hal::Timestamp t = kStart;
  // 30 truncated frames and 15 with bad address bits in 45 s, then the line recovers.
  for (int i = 0; i < 45; ++i) {
    c->on_frame(frame(t, i % 3 == 2 ? Bytes{0x01, 0x01, 0x03} : Bytes{0x00}));
    t += 1s;
  }
  c->on_tick(t);
  ASSERT_EQ(out_.notices.size(), 1u);
  const rules::Notice& n = out_.notices[0];
  EXPECT_EQ(n.category, rules::Category::DecodeAnomalyBurst);
  EXPECT_EQ(n.severity, rules::Severity::Warning);
  EXPECT_EQ(n.identifier, "decode_anomaly_burst:span3");
  EXPECT_EQ(n.call.span, 3);
  EXPECT_EQ(n.time, kStart + 19s);  // the 20th within 60 s
  EXPECT_EQ(n.message,
            "span 3 sent 20 D-channel frames that could not be decoded within 19 s "
            "(frame_too_short 14, bad_address 6), since " +
                hal::format_time(kStart));
  EXPECT_EQ(c->pipeline().spans().at(0).stats.malformed, 45u);
}

TEST_F(DecodeAnomalies, StrayOnesRaiseNone) {
  auto c = chain(config_);
  hal::Timestamp t = kStart;
  // One bad frame every 4 s for an hour: 15 per minute, never 20 within 60 s.
  for (int i = 0; i < 900; ++i) {
    c->on_frame(frame(t, {0x00}));
    t += 4s;
  }
  c->on_tick(t);
  EXPECT_TRUE(out_.notices.empty());
  EXPECT_EQ(c->pipeline().spans().at(0).stats.malformed, 900u);
}

TEST_F(DecodeAnomalies, AQuietSpellEndsTheBurstAndTheSettingsApply) {
  auto config = std::make_shared<rules::Config>(*config_);
  config->detectors.decode_anomaly_burst.anomalies = 5;
  config->detectors.decode_anomaly_burst.window_s = 10;
  config->notices.suppress_s = 0;
  auto c = chain(config);
  hal::Timestamp t = kStart;
  auto burst = [&] {
    for (int i = 0; i < 12; ++i) {
      c->on_frame(frame(t, {0x00}));
      t += 500ms;
    }
  };
  burst();
  EXPECT_EQ(out_.notices.size(), 1u);
  t += 30s;  // quiet
  burst();
  EXPECT_EQ(out_.notices.size(), 2u);
  // Gaps are frames the tap missed, not frames the span sent: never a burst. (INFORMATION on
  // the dummy call reference: no call.)
  for (int i = 0; i < 20; ++i) {
    c->on_frame(frame(t, iframe(static_cast<std::uint8_t>(2 * i), {0x08, 0x00, 0x7b})));
    t += 100ms;
  }
  EXPECT_EQ(c->pipeline().spans().at(0).stats.anomalies[AnomalyKind::SequenceGap], 19u);
  EXPECT_EQ(out_.notices.size(), 2u);
  // Disabled: nothing.
  config->detectors.decode_anomaly_burst.enabled = false;
  t += 30s;
  burst();
  EXPECT_EQ(out_.notices.size(), 2u);
}

// A tap on a damaged line (examples/scenarios/midsession-malformed.toml: after every 5th real
// frame a garbage one, on both spans): span 1's traffic is dense enough for a burst, span 2's
// is not. Exactly one notice, for span 1, whatever the burst goes on to do.
TEST_F(DecodeAnomalies, SimulatedDamagedLineRaisesOneNotice) {
  std::string error;
  auto sc = sim::load_scenario(
      std::string(TW_SOURCE_DIR) + "/examples/scenarios/midsession-malformed.toml", error);
  ASSERT_TRUE(sc) << error;
  sim::Simulator simulator(*sc);
  PipelineOptions po;
  po.spans = simulator.spans();
  po.span_defaults = po.spans.front();
  app::MonitorChain chain(po, config_, out_, out_);
  const auto err = simulator.run(chain);
  EXPECT_FALSE(err) << err.message;
  ASSERT_EQ(out_.notices.size(), 1u);
  const rules::Notice& n = out_.notices[0];
  EXPECT_EQ(n.category, rules::Category::DecodeAnomalyBurst);
  EXPECT_EQ(n.identifier, "decode_anomaly_burst:span1");
  EXPECT_EQ(n.call.span, 1);
  EXPECT_EQ(n.message.rfind("span 1 sent 20 D-channel frames that could not be decoded within ", 0),
            0u)
      << n.message;
  for (const auto& span : chain.pipeline().spans()) {
    std::uint64_t malformed = 0;
    for (AnomalyKind k : kAllAnomalyKinds)
      if (is_malformed(k)) malformed += span.stats.anomalies[k];
    EXPECT_EQ(span.stats.malformed, malformed) << "span " << span.info.id;
    EXPECT_GT(span.stats.malformed, 0u) << "span " << span.info.id;
  }
}

}  // namespace
}  // namespace tw
