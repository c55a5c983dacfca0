#include <sstream>

#include "rules/detectors/common.hpp"

namespace tw::rules::detail {

namespace {

using namespace std::chrono_literals;

// ---- call rate per source and per destination prefix ----------------------------------

class CallRateDetector final : public Detector {
 public:
  void on_start(CallState& c, Context& ctx) override {
    const auto& cfg = ctx.config().detectors.call_rate;
    if (!c.outbound() || c.record.calling.empty() || c.far.is(NumberClass::Emergency)) return;
    const std::string key = "source:" + c.record.calling;
    const auto n = sources_.add(key, ctx.now(), cfg.per_source.window_s);
    if (auto sev = levels_.update(key, static_cast<double>(n), cfg.per_source.levels);
        sev && cfg.enabled)
      raise(ctx, c, *sev, key,
            std::to_string(n) + " outbound calls from " + c.record.calling + " in " +
                window_text(cfg.per_source.window_s),
            cfg.per_source.levels);
  }
  void on_destination(CallState& c, Context& ctx) override {
    const auto& cfg = ctx.config().detectors.call_rate;
    if (!c.outbound() || !c.far.classes.intersects(cfg.prefix_classes) ||
        c.far.is(NumberClass::Emergency))
      return;
    const std::string& number = c.far.e164.empty() ? c.record.called : c.far.e164;
    const std::string prefix = number.substr(0, static_cast<std::size_t>(cfg.prefix_digits));
    const std::string key = "prefix:" + prefix;
    const auto n = prefixes_.add(key, c.record.start.value_or(ctx.now()), cfg.per_prefix.window_s);
    if (auto sev = levels_.update(key, static_cast<double>(n), cfg.per_prefix.levels);
        sev && cfg.enabled)
      raise(ctx, c, *sev, key,
            std::to_string(n) + " outbound calls to prefix " + prefix + " in " +
                window_text(cfg.per_prefix.window_s),
            cfg.per_prefix.levels);
  }
  void on_tick(Timestamp now, Context& ctx) override {
    if (now - last_prune_ < 60s) return;
    last_prune_ = now;
    const auto& cfg = ctx.config().detectors.call_rate;
    sources_.prune(now, cfg.per_source.window_s);
    prefixes_.prune(now, cfg.per_prefix.window_s);
    // A counter whose window emptied is below every level: forget its last level too.
    levels_.forget_if([&](const std::string& k) { return !sources_.has(k) && !prefixes_.has(k); });
  }

 private:
  static std::string window_text(double s) {
    std::ostringstream o;
    o << s << " s";
    return o.str();
  }
  void raise(Context& ctx, const CallState& c, Severity sev, const std::string& key,
             const std::string& what, const Levels& lv) {
    Detection d;
    d.time = ctx.now();
    d.category = Category::CallRate;
    d.severity = sev;
    d.identifier = "call_rate:" + key + sev_suffix(sev);
    d.message = what + " (" + levels_text(lv) + "); latest " + describe_call(c.record) + " to " +
                c.record.called;
    d.call = &c;
    ctx.raise(std::move(d));
  }
  WindowCounter sources_, prefixes_;
  LevelTracker levels_;
  Timestamp last_prune_{};
};

}  // namespace

std::unique_ptr<Detector> make_call_rate_detector() {
  return std::make_unique<CallRateDetector>();
}

}  // namespace tw::rules::detail
