#include "rules/detectors/common.hpp"

namespace tw::rules::detail {

namespace {

using namespace std::chrono_literals;

// ---- per-call destination class and the source profile's hours -------------------------

class DestinationDetector final : public Detector {
 public:
  void on_destination(CallState& c, Context& ctx) override {
    const Config& cfg = ctx.config();
    if (!c.outbound() || c.far.is(NumberClass::Emergency)) return;
    const Profile& p = cfg.profile_for(c.record.calling);
    if (p.allowlisted(c.record.called, c.far.e164)) return;
    const Timestamp at = c.record.start.value_or(ctx.now());
    if (cfg.detectors.destination.enabled) {
      std::optional<Category> cat;
      NumberClass cls = NumberClass::International;
      std::string what;
      if (c.far.is(NumberClass::HighRisk)) {
        cat = Category::HighRiskDestination;
        cls = NumberClass::HighRisk;
        what = "a high-risk destination (" + c.far.high_risk + ")";
      } else if (c.far.is(NumberClass::Premium)) {
        cat = Category::Premium;
        cls = NumberClass::Premium;
        what = "a premium-rate number";
      } else if (c.far.is(NumberClass::International)) {
        cat = Category::International;
        what = "an international number";
      }
      if (cat) {
        const bool allowed = p.allowed_classes.has(cls);
        const Severity sev = !allowed                            ? Severity::Critical
                             : cls == NumberClass::International ? Severity::Info
                                                                 : Severity::Warning;
        Detection d;
        d.time = ctx.now();
        d.category = *cat;
        d.severity = sev;
        d.identifier =
            std::string(to_string(*cat)) + ":" + c.record.calling + ":" + c.record.called;
        d.message = "outbound call to " + what + " " + c.record.called + " from " +
                    describe_call(c.record) + " (profile " + p.name +
                    (allowed ? "" : ", class not allowed") + "), started ";
        d.started_local = at;
        d.started_window = c.window;
        d.call = &c;
        ctx.raise(std::move(d));
      }
    }
    if (cfg.detectors.after_hours.enabled && p.hours) {
      const bool inside = cfg.calendar.within(*p.hours, at) &&
                          !(p.hours_skip_holidays && cfg.calendar.is_holiday(at));
      if (!inside) {
        Detection d;
        d.time = ctx.now();
        d.category = Category::AfterHours;
        d.severity = Severity::Warning;
        d.identifier = "after_hours:" + c.record.calling;
        d.message = "outbound call to " + c.record.called + " from " + describe_call(c.record) +
                    " outside the hours of profile " + p.name + " (" + p.hours_text + "), started ";
        d.started_local = at;
        d.started_window = c.window;
        d.call = &c;
        ctx.raise(std::move(d));
      }
    }
  }
};

}  // namespace

std::unique_ptr<Detector> make_destination_detector() {
  return std::make_unique<DestinationDetector>();
}

}  // namespace tw::rules::detail
