// decode_anomaly_burst: a span whose D-channel suddenly sends a burst of frames the decoder
// cannot take (Zeek's "weird" log, turned into one notice per burst; docs/rules.md).
#include <chrono>
#include <deque>
#include <map>
#include <string>

#include "rules/detectors.hpp"

namespace tw::rules::detail {

namespace {

class DecodeAnomalyDetector final : public Detector {
 public:
  void on_decode_anomaly(const DecodeAnomaly& a, Context& ctx) override {
    // An N(S) gap is frames the tap missed, not frames the span sent wrong.
    if (!is_malformed(a.kind)) return;
    const auto& cfg = ctx.config().detectors.decode_anomaly_burst;
    if (!cfg.enabled) return;
    const auto window = std::chrono::microseconds(static_cast<std::int64_t>(cfg.window_s * 1e6));
    const auto limit = static_cast<std::size_t>(cfg.anomalies);
    Span& s = spans_[a.span];
    // The anomalies of the last window before this one (only the latest `limit` are kept:
    // enough to know whether `limit` fell within a window).
    std::size_t before = 0;
    for (auto it = s.recent.rbegin(); it != s.recent.rend() && a.time - it->time <= window; ++it)
      ++before;
    // The burst is over once a window holds at most half the limit: the next one is news.
    if (before * 2 <= limit) s.raised = false;
    s.recent.push_back({a.time, a.kind});
    while (s.recent.size() > limit) s.recent.pop_front();
    if (s.raised || before + 1 < limit) return;
    s.raised = true;
    AnomalyCounts counts;
    for (const auto& e : s.recent) ++counts[e.kind];
    std::string kinds;
    for (AnomalyKind k : kAllAnomalyKinds) {
      if (counts[k] == 0) continue;
      kinds +=
          (kinds.empty() ? "" : ", ") + std::string(to_string(k)) + " " + std::to_string(counts[k]);
    }
    const auto span_s = std::chrono::duration<double>(a.time - s.recent.front().time).count();
    Detection d;
    d.time = a.time;
    d.category = Category::DecodeAnomalyBurst;
    d.severity = Severity::Warning;
    d.identifier = "decode_anomaly_burst:span" + std::to_string(a.span);
    d.message = "span " + std::to_string(a.span) + " sent " + std::to_string(limit) +
                " D-channel frames that could not be decoded within " +
                std::to_string(static_cast<long long>(span_s + 0.5)) + " s (" + kinds +
                "), since " + hal::format_time(s.recent.front().time);
    d.span = a.span;
    ctx.raise(std::move(d));
  }

 private:
  struct Seen {
    Timestamp time;
    AnomalyKind kind;
  };
  struct Span {
    std::deque<Seen> recent;  // the latest anomalies, at most `anomalies` of them
    bool raised = false;      // the current burst was reported
  };
  std::map<int, Span> spans_;
};

}  // namespace

std::unique_ptr<Detector> make_decode_anomaly_detector() {
  return std::make_unique<DecodeAnomalyDetector>();
}

}  // namespace tw::rules::detail
