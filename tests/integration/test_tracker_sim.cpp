// The call tracker on real libpri signaling (the simulator through the pipeline): calls that
// last longer than a day, and overlap dialing closed by '#' or Sending Complete.
#include <gtest/gtest.h>

#include "hal/sim/simulator.hpp"
#include "monitor/pipeline.hpp"
#include "tests/support/sim_harness.hpp"

namespace tw {
namespace {

using test::decode;
using test::scenario;

// A modem line up for 25 hours: one record of 25 hours, though the pipeline ticks every
// simulated second and the Q.921 link keeps itself alive in between.
TEST(TrackerSim, CallUpForMoreThanADayIsOneRecord) {
  const auto s = scenario(R"(
[scenario]
name = "long-call"
start = "2027-01-05T08:00:00Z"
seed = 3
[[span]]
id = 1
type = "t1"
[[call]]
at = 1
direction = "outbound"
calling = "2125550100"
called = "3125550000"
ring = 1
answer_after = 2
talk = 90000
)");
  sim::Simulator simulator(s);
  const auto records = decode(simulator, simulator.spans());
  ASSERT_EQ(records.size(), 1u);
  const calls::CallRecord& r = records[0];
  EXPECT_FALSE(r.partial);
  EXPECT_EQ(r.end_reason, calls::EndReason::Released);
  EXPECT_EQ(r.called, "3125550000");
  ASSERT_TRUE(r.answer && r.end);
  EXPECT_EQ(*r.end - *r.answer, std::chrono::seconds(90000));
  EXPECT_DOUBLE_EQ(r.duration_s, 90000.0);
}

// Digit by digit, the last one '#': libpri sends each in an INFORMATION message.
TEST(TrackerSim, HashEndingOverlapDialingIsNotInTheNumber) {
  const auto s = scenario(R"(
[scenario]
name = "overlap-hash"
start = "2027-01-05T08:00:00Z"
seed = 4
[[span]]
id = 1
type = "t1"
[[call]]
at = 1
direction = "outbound"
calling = "2125550107"
called = "2125550142#"
overlap = true
ring = 3
answer_after = 9
talk = 10
[[call]]
at = 2
direction = "outbound"
calling = "2125550108"
called = "3125559999"
ring = 1
answer_after = 2
talk = 10
)");
  sim::Simulator simulator(s);
  const auto records = decode(simulator, simulator.spans());
  ASSERT_EQ(records.size(), 2u);
  const calls::CallRecord& overlap = records[0].calling == "2125550107" ? records[0] : records[1];
  const calls::CallRecord& en_bloc = records[0].calling == "2125550107" ? records[1] : records[0];
  EXPECT_EQ(overlap.called, "2125550142");
  EXPECT_TRUE(overlap.dialing_complete);
  // libpri marks an en-bloc SETUP complete with the Sending Complete IE.
  EXPECT_EQ(en_bloc.called, "3125559999");
  EXPECT_TRUE(en_bloc.dialing_complete);
}

}  // namespace
}  // namespace tw
