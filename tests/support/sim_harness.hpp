// What the tests that run the simulator through the pipeline share.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"
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

// Every source event to several pipelines, in order.
struct Tee final : hal::SpanSink {
  std::vector<hal::SpanSink*> sinks;
  void on_frame(const hal::DFrame& f) override {
    for (auto* s : sinks) s->on_frame(f);
  }
  void on_audio(const hal::AudioChunk& a) override {
    for (auto* s : sinks) s->on_audio(a);
  }
  void on_line_event(const hal::LineEvent& e) override {
    for (auto* s : sinks) s->on_line_event(e);
  }
  void on_tick(hal::Timestamp t) override {
    for (auto* s : sinks) s->on_tick(t);
  }
};

// Keeps every ended call's final record.
struct EndedCalls final : calls::CallEventSink {
  std::vector<calls::CallRecord> ended;
  void on_call_event(const calls::CallEvent& e) override {
    if (e.type == calls::CallEventType::Ended) ended.push_back(*e.call);
  }
};

// Runs `simulator` once through pipelines that differ only in their detector threads (0: the
// banks inline); each one's ended records, in the order of `dsp_threads`.
inline std::vector<std::vector<calls::CallRecord>> run_with_dsp_threads(
    sim::Simulator& simulator, std::initializer_list<int> dsp_threads) {
  PipelineOptions po;
  po.spans = simulator.spans();
  po.span_defaults = po.spans.front();
  std::vector<EndedCalls> calls(dsp_threads.size());
  std::vector<std::unique_ptr<Pipeline>> pipelines;
  Tee tee;
  for (int threads : dsp_threads) {
    po.dsp_threads = threads;
    pipelines.push_back(std::make_unique<Pipeline>(po, calls[pipelines.size()]));
    tee.sinks.push_back(pipelines.back().get());
  }
  EXPECT_FALSE(simulator.run(tee));
  std::vector<std::vector<calls::CallRecord>> out;
  for (EndedCalls& c : calls) out.push_back(std::move(c.ended));
  return out;
}

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
