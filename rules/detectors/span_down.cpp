#include "rules/detectors/common.hpp"

namespace tw::rules::detail {

namespace {

using namespace std::chrono_literals;

// ---- span alarm / D-channel down ------------------------------------------------------

class SpanDownDetector final : public Detector {
 public:
  void on_line_event(const hal::LineEvent& e, Context& ctx) override {
    Span& s = spans_[e.span];
    switch (e.type) {
      case hal::LineEventType::Alarm:
        s.alarms = e.alarms;
        break;
      case hal::LineEventType::NoAlarm:
        s.alarms = 0;
        break;
      case hal::LineEventType::DChanDown:
        s.dchan_down = true;
        break;
      case hal::LineEventType::DChanUp:
        s.dchan_down = false;
        break;
      default:
        return;
    }
    const bool down = s.alarms != 0 || s.dchan_down;
    if (down && !s.since) s.since = e.time;
    if (!down) {
      s.since.reset();
      s.raised = false;
    }
    on_tick(e.time, ctx);
  }
  void on_tick(Timestamp now, Context& ctx) override {
    const auto& cfg = ctx.config().detectors.span_down;
    if (!cfg.enabled) return;
    for (auto& [span, s] : spans_) {
      if (!s.since || s.raised || now - *s.since < micros(cfg.after_s)) continue;
      s.raised = true;
      Detection d;
      d.time = now;
      d.category = Category::SpanDown;
      d.severity = Severity::Critical;
      d.identifier = "span_down:span" + std::to_string(span);
      std::string what;
      if (s.alarms & hal::alarm::kRed) what += " red alarm";
      if (s.alarms & hal::alarm::kYellow) what += " yellow alarm";
      if (s.alarms & hal::alarm::kBlue) what += " blue alarm (AIS)";
      if (s.alarms & hal::alarm::kLos) what += " loss of signal";
      if (s.alarms && what.empty()) what += " alarm";
      if (s.dchan_down) what += " D-channel down";
      d.message = "span " + std::to_string(span) + " down for " +
                  std::to_string(static_cast<long long>(seconds(now - *s.since))) + " s:" + what +
                  ", since " + hal::format_time(*s.since);
      d.span = span;
      ctx.raise(std::move(d));
    }
  }

 private:
  struct Span {
    std::uint32_t alarms = 0;
    bool dchan_down = false;
    std::optional<Timestamp> since;
    bool raised = false;
  };
  std::map<int, Span> spans_;
};

}  // namespace

std::unique_ptr<Detector> make_span_down_detector() {
  return std::make_unique<SpanDownDetector>();
}

}  // namespace tw::rules::detail
