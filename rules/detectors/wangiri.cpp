#include <algorithm>
#include <deque>
#include <sstream>

#include "rules/detectors/common.hpp"

namespace tw::rules::detail {

namespace {

using namespace std::chrono_literals;

// ---- wangiri: calling back a number that rang briefly from abroad ---------------------

class WangiriDetector final : public Detector {
 public:
  void on_end(CallState& c, Context& ctx) override {
    const auto& cfg = ctx.config().detectors.wangiri_callback;
    if (c.outbound() || c.answered() || !c.record.start || !c.record.end ||
        c.record.calling.empty())
      return;
    if (seconds(*c.record.end - *c.record.start) > cfg.max_ring_s) return;
    if (!c.far.is(NumberClass::International) && !c.far.is(NumberClass::HighRisk)) return;
    const std::string key = c.far.e164.empty() ? c.record.calling : c.far.e164;
    rang_[key] = Rang{*c.record.end, c.record.calling, c.record.span};
    rang_order_.emplace_back(*c.record.end, key);
    while (rang_.size() > kMaxRang || rang_order_.size() > 2 * kMaxRang) forget_earliest();
  }
  void on_destination(CallState& o, Context& ctx) override {
    const auto& cfg = ctx.config().detectors.wangiri_callback;
    if (!cfg.enabled || !o.outbound() || rang_.empty()) return;
    const std::string key = o.far.e164.empty() ? o.record.called : o.far.e164;
    auto it = rang_.find(key);
    if (it == rang_.end()) return;
    const Timestamp at = o.record.start.value_or(ctx.now());
    if (at - it->second.end > micros(cfg.memory_s)) return;
    Detection d;
    d.time = ctx.now();
    d.category = Category::WangiriCallback;
    d.severity = Severity::Critical;
    d.identifier = "wangiri_callback:" + key;
    std::ostringstream m;
    m << "outbound call to " << o.record.called << " (" << describe_call(o.record)
      << ") calls back " << it->second.calling << " (" << o.far.classes.str()
      << "), which rang in unanswered for a moment on span " << it->second.span << " "
      << static_cast<long long>(seconds(at - it->second.end) / 60) << " minutes earlier";
    d.message = m.str();
    d.call = &o;
    ctx.raise(std::move(d));
  }
  void on_tick(Timestamp now, Context& ctx) override {
    if (now - last_prune_ < 60s) return;
    last_prune_ = now;
    const auto memory = micros(ctx.config().detectors.wangiri_callback.memory_s);
    std::erase_if(rang_, [&](const auto& kv) { return now - kv.second.end > memory; });
    while (!rang_order_.empty() && now - rang_order_.front().first > memory) forget_earliest();
  }

 private:
  // Numbers remembered as having rung briefly: a site sees a few hundred such calls a day at
  // most, so 65,536 is only reached by a flood of made-up caller IDs; the earliest go first.
  static constexpr std::size_t kMaxRang = 65536;
  void forget_earliest() {
    const auto& [end, key] = rang_order_.front();
    const auto it = rang_.find(key);
    if (it != rang_.end() && it->second.end == end) {
      rang_.erase(it);
      if (rang_.size() >= kMaxRang) ++rang_evicted_;
    }
    rang_order_.pop_front();
  }
  struct Rang {
    Timestamp end;
    std::string calling;
    int span = 0;
  };
  std::map<std::string, Rang> rang_;
  std::deque<std::pair<Timestamp, std::string>> rang_order_;  // rang_'s entries, kept first first
  std::uint64_t rang_evicted_ = 0;
  Timestamp last_prune_{};
};

}  // namespace

std::unique_ptr<Detector> make_wangiri_detector() {
  return std::make_unique<WangiriDetector>();
}

}  // namespace tw::rules::detail
