#include "rules/detectors/common.hpp"

namespace tw::rules::detail {

namespace {

using namespace std::chrono_literals;

// ---- call-forward abuse --------------------------------------------------------------

class CallForwardDetector final : public Detector {
  // Inbound calls started within the window looked at, the latest first: a flood of calls
  // cannot make one forwarded call cost more.
  static constexpr std::size_t kMaxForwardScan = 256;

 public:
  void on_destination(CallState& o, Context& ctx) override {
    const Config& cfg = ctx.config();
    if (!cfg.detectors.call_forward.enabled || !o.outbound() || o.record.redirecting.empty() ||
        !watched(o.far) || !o.record.start)
      return;
    // The inbound calls up that started within the window before it: of those, the one
    // whose called number is the redirecting number (the latest such in key order), else
    // the first in key order.
    const auto window = micros(cfg.detectors.call_forward.window_s);
    const auto& active = ctx.active();
    const auto& by_start = ctx.inbound_by_start();
    const CallState* first = nullptr;
    const CallState* matching = nullptr;
    std::size_t scanned = 0;
    for (auto it = by_start.upper_bound(*o.record.start);
         it != by_start.begin() && scanned < kMaxForwardScan; ++scanned) {
      --it;
      if (*o.record.start - it->first > window) break;
      const auto a = active.find(it->second);
      if (a == active.end()) continue;
      const CallState& c = a->second;
      if (!first || c.key < first->key) first = &c;
      if (same_number(c.record.called, o.record.redirecting) &&
          (!matching || matching->key < c.key))
        matching = &c;
    }
    const CallState* in = matching ? matching : first;
    const Severity sev = in ? Severity::Critical : Severity::Warning;
    Detection d;
    d.time = ctx.now();
    d.category = Category::CallForward;
    d.severity = sev;
    d.identifier = "call_forward:" + o.record.redirecting + sev_suffix(sev);
    d.message = "call forwarded out to " + o.far.classes.str() + " number " + o.record.called +
                " (" + describe_call(o.record) + "), redirecting number " + o.record.redirecting;
    if (in) {
      d.message +=
          ", right after inbound call " + describe_call(in->record) + " to " + in->record.called;
      d.also = {in->key};
    }
    d.call = &o;
    ctx.raise(std::move(d));
  }
};

}  // namespace

std::unique_ptr<Detector> make_call_forward_detector() {
  return std::make_unique<CallForwardDetector>();
}

}  // namespace tw::rules::detail
