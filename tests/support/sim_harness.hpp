// What the tests that run the simulator through the pipeline share.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "hal/sim/scenario.hpp"
#include "monitor/pipeline.hpp"

namespace tw::test {

// A time as records print it, or "null".
inline std::string ms(const std::optional<hal::Timestamp>& t) {
  return t ? hal::format_time(*t) : "null";
}

// Parses a scenario written in the test; a parse error fails the test.
inline sim::Scenario scenario(const std::string& toml) {
  std::string error;
  auto s = sim::parse_scenario(toml, "test", error);
  EXPECT_TRUE(s.has_value()) << error;
  return s.value_or(sim::Scenario{});
}

// Keeps every ended call's final record.
struct EndedCalls final : calls::CallEventSink {
  std::vector<calls::CallRecord> ended;
  void on_call_event(const calls::CallEvent& e) override {
    if (e.type == calls::CallEventType::Ended) ended.push_back(*e.call);
  }
};

// Runs `source` through a pipeline configured with `spans`; the ended records, in end order.
inline std::vector<calls::CallRecord> decode(hal::SpanSource& source,
                                             const std::vector<hal::SpanInfo>& spans,
                                             SpanStats* totals = nullptr) {
  EndedCalls calls;
  PipelineOptions po;
  po.spans = spans;
  if (!spans.empty()) po.span_defaults = spans.front();
  Pipeline pipeline(po, calls);
  const auto err = source.run(pipeline);
  EXPECT_FALSE(err) << err.message;
  if (totals) *totals = pipeline.totals();
  return calls.ended;
}

}  // namespace tw::test
