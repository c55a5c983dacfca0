#include <algorithm>
#include <deque>
#include <limits>

#include "rules/detectors/common.hpp"

namespace tw::rules::detail {

namespace {

using namespace std::chrono_literals;

// ---- daily minutes per class and per source (day boundary in site.timezone) ------------

class MinutesDetector final : public Detector {
 public:
  // The answered outbound calls up, so that the running check walks those and not every call.
  void on_destination(CallState& c, Context&) override { note_running(c); }
  void on_update(CallState& c, Context&) override { note_running(c); }

  void on_end(CallState& c, Context& ctx) override {
    // Only answered outbound calls are noted running: others cost no lookup.
    if (c.outbound() && c.record.answer) running_.erase(c.key);
    if (!c.outbound() || !c.record.answer || !c.record.end || c.far.is(NumberClass::Emergency))
      return;
    const Config& cfg = ctx.config();
    const auto keys = keys_of(c, cfg);
    if (keys.empty()) return;
    // Minutes count on the local day they were spoken: a call over midnight is split.
    Timestamp t = *c.record.answer;
    const Timestamp end = std::max(*c.record.end, t);
    while (t < end) {
      const std::int32_t day = cfg.calendar.local_day(t);
      const Timestamp next = std::max(cfg.calendar.day_start(day + 1), t + 1s);
      const Timestamp seg_end = std::min(end, next);
      for (const auto& k : keys) days_of(k.name)[day] += seconds(seg_end - t);
      t = seg_end;
    }
    const std::int32_t today = cfg.calendar.local_day(end);
    for (const auto& k : keys) check(ctx, c, k, today, days_of(k.name)[today]);
  }

  void on_tick(Timestamp now, Context& ctx) override {
    // Minutes move slowly: checking the running calls every 10 s is plenty.
    if (now - last_check_ < 10s) return;
    last_check_ = now;
    const Config& cfg = ctx.config();
    const std::int32_t today = cfg.calendar.local_day(now);
    const Timestamp midnight = cfg.calendar.day_start(today);
    struct Running {
      Key key;
      double secs = 0;
      const CallState* longest = nullptr;
      double longest_secs = 0;
    };
    std::map<std::string, Running> running;
    for (const auto& [k, call] : running_) {
      const CallState& c = *call;
      if (c.far.is(NumberClass::Emergency)) continue;
      const double s = seconds(now - std::max(*c.record.answer, midnight));
      if (s <= 0) continue;
      for (const auto& key : keys_of(c, cfg)) {
        Running& r = running[key.name];
        r.key = key;
        r.secs += s;
        if (s > r.longest_secs) {
          r.longest = &c;
          r.longest_secs = s;
        }
      }
    }
    for (auto& [name, r] : running)
      check(ctx, *r.longest, r.key, today, days_of(name)[today] + r.secs);
    // Yesterday is kept for calls that straddle midnight; older days go, once a day (a walk
    // over every counter every 10 s would cost a flood of numbers dearly).
    if (today == pruned_day_) return;
    pruned_day_ = today;
    for (auto& [name, days] : done_)
      std::erase_if(days, [&](const auto& kv) { return kv.first < today - 1; });
    if (std::erase_if(done_, [](const auto& kv) { return kv.second.empty(); }) > 0)
      std::erase_if(source_order_, [&](const std::string& n) { return !done_.count(n); });
    levels_.forget_if([&](const std::string& k) {
      return k.find(local_date(today)) == std::string::npos &&
             k.find(local_date(today - 1)) == std::string::npos;
    });
  }

 private:
  struct Key {
    std::string name;  // "class:international", "source:2125550100"
    std::string what;
    Levels levels;
  };
  std::vector<Key> keys_of(const CallState& c, const Config& cfg) const {
    std::vector<Key> out;
    const auto& mc = cfg.detectors.minutes_cap;
    for (const auto& [cls, lv] : mc.classes.levels)
      if (c.far.is(cls) && lv.enabled())
        out.push_back(
            {"class:" + std::string(to_string(cls)), std::string(to_string(cls)) + " calls", lv});
    if (!c.record.calling.empty()) {
      const Profile& p = cfg.profile_for(c.record.calling);
      const Levels lv = p.daily_minutes.enabled() ? p.daily_minutes : mc.per_source;
      if (lv.enabled())
        out.push_back({"source:" + c.record.calling, "calls from " + c.record.calling, lv});
    }
    return out;
  }
  void check(Context& ctx, const CallState& c, const Key& k, std::int32_t day, double secs) {
    const Config& cfg = ctx.config();
    const std::string date = local_date(day);
    const double minutes = secs / 60.0;
    const auto sev = levels_.update(k.name + ":" + date, minutes, k.levels);
    if (!sev || !cfg.detectors.minutes_cap.enabled) return;
    Detection d;
    d.time = ctx.now();
    d.category = Category::MinutesCap;
    d.severity = *sev;
    d.identifier = "minutes_cap:" + k.name + ":" + date + sev_suffix(*sev);
    d.message = k.what + " reached " + std::to_string(static_cast<long long>(minutes)) +
                " minutes on " + date + " (" + cfg.calendar.zone_name() + "; " +
                levels_text(k.levels) + "); latest " + describe_call(c.record) + " to " +
                c.record.called;
    d.call = &c;
    ctx.raise(std::move(d));
  }

  void note_running(const CallState& c) {
    if (c.outbound() && c.record.answer && !c.ended) running_.try_emplace(c.key, &c);
  }
  // Answered outbound calls up, in key order (the engine's order): their states stay where
  // they are in the engine until their end, when they leave this map first.
  std::map<CallKey, const CallState*> running_;

  // The totals of one counter (class or source), created on first use. Source totals are
  // kept for at most kMaxSources calling numbers, the earliest seen going first.
  std::map<std::int32_t, double>& days_of(const std::string& name) {
    auto [it, fresh] = done_.try_emplace(name);
    if (fresh && name.starts_with("source:")) {
      source_order_.push_back(name);
      while (source_order_.size() > kMaxSources) {
        done_.erase(source_order_.front());
        source_order_.pop_front();
        ++sources_evicted_;
      }
    }
    return it->second;
  }
  // Calling numbers with minutes counted (today and yesterday): a site has at most a few
  // thousand extensions and trunk numbers, so 65,536 is only reached by a flood of made-up
  // calling numbers, which must not grow the totals for the rest of the day.
  static constexpr std::size_t kMaxSources = 65536;
  std::map<std::string, std::map<std::int32_t, double>> done_;
  std::deque<std::string> source_order_;  // the source counters in done_, first seen first
  std::int32_t pruned_day_ = std::numeric_limits<std::int32_t>::min();
  std::uint64_t sources_evicted_ = 0;
  LevelTracker levels_;
  Timestamp last_check_{};
};

}  // namespace

std::unique_ptr<Detector> make_minutes_detector() {
  return std::make_unique<MinutesDetector>();
}

}  // namespace tw::rules::detail
