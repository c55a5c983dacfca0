// The one interface every span source (capture replay, simulator, DAHDI card) implements.
#pragma once

#include <string>
#include <vector>

#include "trunkwatch/hal/types.hpp"

namespace tw::hal {

// Receives what a source produces, in time order per span. Implemented by the pipeline.
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  virtual void on_frame(const DFrame& frame) = 0;
  virtual void on_line_event(const LineEvent& event) = 0;
  virtual void on_audio(const AudioChunk& /*chunk*/) {}
  // Called whenever the source's clock advances (even with no data), so time-based work
  // (call timeouts, the live table) runs on source time, never on the wall clock.
  virtual void on_tick(Timestamp /*now*/) {}
};

struct SourceError {
  std::string message;  // empty means no error
  explicit operator bool() const { return !message.empty(); }
};

class SpanSource {
 public:
  virtual ~SpanSource() = default;
  // The spans this source carries; known before run().
  virtual const std::vector<SpanInfo>& spans() const = 0;
  // Delivers everything to `sink` until the source ends or stop() is called.
  virtual SourceError run(SpanSink& sink) = 0;
  virtual void stop() {}
};

}  // namespace tw::hal
