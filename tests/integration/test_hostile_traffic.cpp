// Hostile D-channel traffic: random but well-formed Q.931 (bench/random_q931.hpp) on 255
// spans through the whole monitor chain with the default policy. Nothing crashes, every
// frame decodes, and the state kept stays bounded: the calls up are the trackers', and no
// outbound call notes more than detail::kMaxInboundUp inbound legs, however many are up.
// Speed is measured by `trunkwatch bench decode --random N`, never here.
#include <gtest/gtest.h>

#include "bench/random_q931.hpp"
#include "monitor/app/monitor_chain.hpp"
#include "rules/config.hpp"

namespace tw {
namespace {

struct Counter final : calls::CallEventSink, rules::NoticeSink {
  std::uint64_t ended = 0, notices = 0;
  void on_call_event(const calls::CallEvent& e) override {
    if (e.type == calls::CallEventType::Ended) ++ended;
  }
  void on_notice(const rules::Notice&) override { ++notices; }
};

TEST(HostileTraffic, RandomQ931On255SpansKeepsStateBounded) {
  rules::ConfigOptions co;
  auto loaded = rules::load_config("", co);
  ASSERT_TRUE(loaded.config);
  bench::RandomQ931Options ro;
  ro.spans = 255;
  ro.seed = 7;
  const bench::FrameBatch batch = bench::generate_random_q931(20'000, ro);
  Counter out;
  PipelineOptions po;
  po.spans = bench::RandomQ931Generator(ro).spans();
  app::MonitorChain chain(po, loaded.config, out, out);
  hal::Timestamp last_tick = batch.frames.front().time;
  std::size_t most_up = 0, most_inbound_up = 0;
  for (const hal::DFrame& f : batch.frames) {
    if (f.time - last_tick >= std::chrono::seconds(1)) {
      chain.on_tick(f.time);
      last_tick = f.time;
      const std::size_t up = chain.engine().active_calls();
      most_up = std::max(most_up, up);
      // Every outbound call up notes at most kMaxInboundUp inbound legs.
      const std::size_t noted = chain.engine().inbound_up_entries();
      most_inbound_up = std::max(most_inbound_up, noted);
      ASSERT_LE(noted, up * rules::detail::kMaxInboundUp);
      // The engine follows exactly the calls the trackers have up.
      std::size_t tracked = 0;
      for (const auto& s : chain.pipeline().spans()) tracked += s.tracker.active_calls();
      ASSERT_EQ(up, tracked);
    }
    chain.on_frame(f);
  }
  chain.finish(batch.frames.back().time, calls::EndReason::CaptureEnd);
  const SpanStats t = chain.pipeline().totals();
  EXPECT_EQ(t.frames, 20'000u);
  EXPECT_EQ(t.malformed, 0u);
  EXPECT_EQ(t.retransmissions, 0u);
  EXPECT_EQ(t.messages, 20'000u);
  EXPECT_EQ(chain.engine().active_calls(), 0u);
  EXPECT_EQ(chain.engine().held_records(), 0u);
  EXPECT_EQ(out.ended, chain.engine().stats().calls);
  // Fixed by the seed: the same traffic gives the same calls and notices.
  EXPECT_EQ(out.ended, 9'106u) << "calls";
  EXPECT_EQ(out.notices, 480u) << "notices";
  EXPECT_EQ(most_up, 5'822u);
  EXPECT_EQ(most_inbound_up, 46'154u);
}

}  // namespace
}  // namespace tw
