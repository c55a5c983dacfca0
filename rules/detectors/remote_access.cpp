#include <algorithm>
#include <sstream>

#include "rules/detectors/common.hpp"

namespace tw::rules::detail {

namespace {

using namespace std::chrono_literals;

// ---- code guessing and short-call bursts on remote-access numbers ---------------------

class RemoteAccessDetector final : public Detector {
 public:
  void on_end(CallState& c, Context& ctx) override {
    if (c.outbound() || !c.remote_access || !c.record.start || !c.record.end) return;
    const Config& cfg = ctx.config();
    const Timestamp now = *c.record.end;
    const double held = seconds(*c.record.end - *c.record.start);
    const auto& sc = cfg.detectors.sequential_short_calls;
    if (held <= sc.short_call_s) {
      const std::string key = "short:" + c.record.called;
      const auto n = short_.add(key, now, sc.window_s);
      if (auto sev = levels_.update(key, static_cast<double>(n), sc.levels); sev && sc.enabled) {
        Detection d;
        d.time = ctx.now();
        d.category = Category::SequentialShortCalls;
        d.severity = *sev;
        d.identifier = "sequential_short_calls:" + c.record.called + sev_suffix(*sev);
        std::ostringstream m;
        m << n << " inbound calls of " << sc.short_call_s << " s or less to remote-access number "
          << c.record.called << " in " << sc.window_s << " s (" << levels_text(sc.levels)
          << "); latest from " << describe_call(c.record);
        d.message = m.str();
        d.call = &c;
        ctx.raise(std::move(d));
      }
    }
    const auto& bf = cfg.detectors.brute_force;
    const std::string keyed = keyed_digits(c);
    if (static_cast<int>(keyed.size()) >= bf.min_digits && !c.outbound_leg) {
      // '#' ends an entry: "1234#5678#" is two tries in one call.
      const auto hashes = static_cast<std::size_t>(std::count(keyed.begin(), keyed.end(), '#'));
      const std::size_t attempts = std::max<std::size_t>(1, hashes);
      const std::string key = "attempts:" + c.record.called;
      const auto n = attempts_.add(key, now, bf.window_s, attempts);
      if (auto sev = levels_.update(key, static_cast<double>(n), bf.levels); sev && bf.enabled) {
        Detection d;
        d.time = ctx.now();
        d.category = Category::BruteForce;
        d.severity = *sev;
        d.identifier = "brute_force:" + c.record.called + sev_suffix(*sev);
        std::ostringstream m;
        m << n << " access-code attempts without an outbound leg on remote-access number "
          << c.record.called << " in " << bf.window_s << " s (" << levels_text(bf.levels)
          << "); latest from " << describe_call(c.record) << ", keyed \"" << shown_digits(c, cfg)
          << "\"";
        d.message = m.str();
        d.call = &c;
        ctx.raise(std::move(d));
      }
    }
  }
  void on_tick(Timestamp now, Context& ctx) override {
    if (now - last_prune_ < 60s) return;
    last_prune_ = now;
    const auto& d = ctx.config().detectors;
    short_.prune(now, d.sequential_short_calls.window_s);
    attempts_.prune(now, d.brute_force.window_s);
    levels_.forget_if([&](const std::string& k) { return !short_.has(k) && !attempts_.has(k); });
  }

 private:
  WindowCounter short_, attempts_;
  LevelTracker levels_;
  Timestamp last_prune_{};
};

}  // namespace

std::unique_ptr<Detector> make_remote_access_detector() {
  return std::make_unique<RemoteAccessDetector>();
}

}  // namespace tw::rules::detail
