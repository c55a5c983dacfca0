#include <unordered_map>

#include "rules/detectors/common.hpp"

namespace tw::rules::detail {

namespace {

using namespace std::chrono_literals;

// ---- calls up at once per class and per span ------------------------------------------

class ConcurrencyDetector final : public Detector {
 public:
  void on_start(CallState& c, Context& ctx) override {
    if (!c.outbound()) return;
    span_of_[c.key] = c.record.span;
    const int n = ++span_count_[c.record.span];
    const auto& cfg = ctx.config().detectors.concurrency;
    const std::string key = "span" + std::to_string(c.record.span);
    if (auto sev = levels_.update(key, n, cfg.per_span); sev && cfg.enabled)
      raise(
          ctx, c, *sev, key,
          std::to_string(n) + " outbound calls up at once on span " + std::to_string(c.record.span),
          cfg.per_span);
  }
  void on_destination(CallState& c, Context& ctx) override {
    if (!c.outbound() || c.ended || c.far.is(NumberClass::Emergency)) return;
    const auto& cfg = ctx.config().detectors.concurrency;
    for (const auto& [cls, lv] : cfg.classes.levels) {
      if (!c.far.is(cls)) continue;
      classes_of_[c.key].push_back(cls);
      const int n = ++class_count_[cls];
      const std::string key(to_string(cls));
      if (auto sev = levels_.update(key, n, lv); sev && cfg.enabled)
        raise(ctx, c, *sev, key, std::to_string(n) + " " + key + " calls up at once", lv);
    }
  }
  void on_end(CallState& c, Context& ctx) override {
    if (!c.outbound()) return;  // only outbound calls are counted
    const auto& cfg = ctx.config().detectors.concurrency;
    if (auto it = span_of_.find(c.key); it != span_of_.end()) {
      const int n = --span_count_[it->second];
      levels_.update("span" + std::to_string(it->second), n, cfg.per_span);
      span_of_.erase(it);
    }
    if (auto it = classes_of_.find(c.key); it != classes_of_.end()) {
      for (NumberClass cls : it->second) {
        const int n = --class_count_[cls];
        const Levels* lv = cfg.classes.find(cls);
        levels_.update(std::string(to_string(cls)), n, lv ? *lv : Levels{});
      }
      classes_of_.erase(it);
    }
  }

 private:
  void raise(Context& ctx, const CallState& c, Severity sev, const std::string& key,
             const std::string& what, const Levels& lv) {
    Detection d;
    d.time = ctx.now();
    d.category = Category::Concurrency;
    d.severity = sev;
    d.identifier = "concurrency:" + key + sev_suffix(sev);
    d.message = what + " (" + levels_text(lv) + "); latest " + describe_call(c.record) + " to " +
                c.record.called;
    d.call = &c;
    ctx.raise(std::move(d));
  }
  // Per outbound call up (hashed: an end looks them up, never walks them).
  std::unordered_map<CallKey, int, CallKeyHash> span_of_;
  std::map<int, int> span_count_;
  std::unordered_map<CallKey, std::vector<NumberClass>, CallKeyHash> classes_of_;
  std::map<NumberClass, int> class_count_;
  LevelTracker levels_;
};

}  // namespace

std::unique_ptr<Detector> make_concurrency_detector() {
  return std::make_unique<ConcurrencyDetector>();
}

}  // namespace tw::rules::detail
