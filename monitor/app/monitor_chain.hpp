// The whole monitor behind a span source, the same for every command and the daemon:
//
//   source -> Pipeline (decoders, detector banks, call trackers)
//          -> rules::Engine (detectors, policy; annotates records) -> record outputs
//                      \-> notice outputs (JSON lines, log/syslog/journal, mail)
//
// Frames and audio go to the pipeline; line events and ticks to the pipeline first (a
// SourceEnd closes its calls), then to the engine.
#pragma once

#include <memory>

#include "monitor/pipeline.hpp"
#include "rules/engine.hpp"

namespace tw::app {

class MonitorChain final : public hal::SpanSink {
 public:
  MonitorChain(const PipelineOptions& pipeline, std::shared_ptr<const rules::Config> config,
               rules::NoticeSink& notices, calls::CallEventSink& records,
               rules::EngineOptions engine = {})
      : engine_(std::move(config), notices, &records, std::move(engine)),
        pipeline_(pipeline, engine_) {}

  void on_frame(const hal::DFrame& f) override { pipeline_.on_frame(f); }
  void on_audio(const hal::AudioChunk& a) override { pipeline_.on_audio(a); }
  void on_line_event(const hal::LineEvent& e) override {
    pipeline_.on_line_event(e);
    engine_.on_line_event(e);
  }
  void on_tick(hal::Timestamp now) override {
    pipeline_.on_tick(now);
    engine_.on_tick(now);
  }
  // Closes the calls still up and releases everything the engine holds (daemon shutdown).
  void finish(hal::Timestamp now, calls::EndReason reason) {
    pipeline_.close_all(now, reason);
    engine_.finish(now);
  }

  Pipeline& pipeline() { return pipeline_; }
  const Pipeline& pipeline() const { return pipeline_; }
  rules::Engine& engine() { return engine_; }
  const rules::Engine& engine() const { return engine_; }

 private:
  rules::Engine engine_;  // before the pipeline: the pipeline feeds it
  Pipeline pipeline_;
};

}  // namespace tw::app
