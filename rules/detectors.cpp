#include "rules/detectors.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "rules/detectors/decode_anomaly.hpp"

namespace tw::rules::detail {

namespace {

using namespace std::chrono_literals;

double seconds(std::chrono::microseconds d) {
  return std::chrono::duration<double>(d).count();
}

std::chrono::microseconds micros(double s) {
  return std::chrono::microseconds(static_cast<std::int64_t>(std::llround(s * 1e6)));
}

std::string levels_text(const Levels& l) {
  std::string out;
  if (l.warning > 0) out += "warning at " + std::to_string(l.warning);
  if (l.critical > 0)
    out += std::string(out.empty() ? "" : ", ") + "critical at " + std::to_string(l.critical);
  return out;
}

std::string sev_suffix(Severity s) {
  return ":" + std::string(to_string(s));
}

bool watched(const NumberInfo& n) {
  return n.is(NumberClass::International) || n.is(NumberClass::Premium) ||
         n.is(NumberClass::HighRisk);
}

std::string span_text(const calls::CallRecord& r) {
  std::string s = "span " + std::to_string(r.span);
  if (r.channel) s += "/" + std::to_string(*r.channel);
  return s;
}

std::string local_date(std::int32_t day) {
  const std::chrono::year_month_day ymd{std::chrono::sys_days(std::chrono::days(day))};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

// Raises a counter's notice once per level: again only after it fell below every level.
class LevelTracker {
 public:
  std::optional<Severity> update(const std::string& key, double value, const Levels& levels) {
    const auto level = levels.level(value);
    if (!level) {
      last_.erase(key);
      return std::nullopt;
    }
    auto it = last_.find(key);
    if (it != last_.end() && it->second >= *level) return std::nullopt;
    last_[key] = *level;
    return level;
  }
  void forget_if(const std::function<bool(const std::string&)>& pred) {
    std::erase_if(last_, [&](const auto& kv) { return pred(kv.first); });
  }

 private:
  std::map<std::string, Severity> last_;
};

// Event times per key in a sliding window of source time.
class WindowCounter {
 public:
  std::size_t add(const std::string& key, Timestamp t, double window_s, std::size_t n = 1) {
    auto& q = events_[key];
    for (std::size_t i = 0; i < n; ++i) q.push_back(t);
    drop_old(q, t, window_s);
    return q.size();
  }
  void prune(Timestamp now, double window_s) {
    for (auto it = events_.begin(); it != events_.end();) {
      drop_old(it->second, now, window_s);
      it = it->second.empty() ? events_.erase(it) : std::next(it);
    }
  }
  bool has(const std::string& key) const { return events_.count(key) > 0; }

 private:
  static void drop_old(std::deque<Timestamp>& q, Timestamp now, double window_s) {
    const auto limit = micros(window_s);
    while (!q.empty() && now - q.front() > limit) q.pop_front();
  }
  std::map<std::string, std::deque<Timestamp>> events_;
};

// ---- per-call destination class and the source profile's hours -------------------------

class DestinationDetector final : public Detector {
 public:
  void on_destination(CallState& c, Context& ctx) override {
    const Config& cfg = ctx.config();
    if (!c.outbound() || c.far.is(NumberClass::Emergency)) return;
    const Profile& p = cfg.profile_for(c.record.calling);
    if (p.allowlisted(c.record.called, c.far.e164)) return;
    const Timestamp at = c.record.start.value_or(ctx.now());
    const std::string when =
        cfg.calendar.format_local(at) + " (" + std::string(to_string(c.window)) + ")";
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
                    (allowed ? "" : ", class not allowed") + "), started " + when;
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
                    " outside the hours of profile " + p.name + " (" + p.hours_text +
                    "), started " + when;
        d.call = &c;
        ctx.raise(std::move(d));
      }
    }
  }
};

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
  std::map<CallKey, int> span_of_;
  std::map<int, int> span_count_;
  std::map<CallKey, std::vector<NumberClass>> classes_of_;
  std::map<NumberClass, int> class_count_;
  LevelTracker levels_;
};

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

// ---- daily minutes per class and per source (day boundary in site.timezone) ------------

class MinutesDetector final : public Detector {
 public:
  // The answered outbound calls up, so that the running check walks those and not every call.
  void on_destination(CallState& c, Context&) override { note_running(c); }
  void on_update(CallState& c, Context&) override { note_running(c); }

  void on_end(CallState& c, Context& ctx) override {
    running_.erase(c.key);
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

// ---- through-dialing and trunk-to-trunk: an outbound leg riding on an inbound one -------

class RedialDetector final : public Detector {
  // Ended calls kept (recent_) at most: past it the earliest ended go first. Traffic keeps
  // far fewer (those of the last end_together_s + 60 s, and outbound legs whose inbound
  // legs are still up).
  static constexpr std::size_t kMaxRecent = 16384;
  // Outbound legs remembered as riding on one remote-access inbound leg: the latest this many
  // to start. A real remote-access (DISA) call dials out a handful of times at most (a few
  // wrong numbers, a retry on busy); 64 is ten times that. Past it the earliest go: a flood
  // of seizures under one answered call cannot make its every in-band digit re-judge
  // thousands of legs, nor keep them all.
  static constexpr std::size_t kMaxRidersPerInbound = 64;

 public:
  // Riders are only followed for remote-access inbound legs: only their late digits make an
  // outbound leg be judged again (reevaluate), and only they pin an ended outbound leg.
  void on_start(CallState& o, Context& ctx) override {
    // An inbound leg up: outbound legs that end while it is up are noted under it.
    if (!o.outbound()) {
      ended_riders_.try_emplace(o.key);
      return;
    }
    if (ctx.config().site.remote_access.empty()) return;
    for (const CallKey& k : o.inbound_up) {
      const auto a = ctx.active().find(k);
      if (a == ctx.active().end() || !a->second.remote_access) continue;
      riders_.emplace(k, o.key);
      auto& order = rider_order_[k];
      order.push_back(o.key);
      if (order.size() <= kMaxRidersPerInbound) continue;
      const CallKey old = order.front();
      order.pop_front();
      ++riders_capped_;
      riders_.erase({k, old});
      if (pinned_by_.erase({k, old}) > 0) unpin_check_.push_back(old);
    }
  }

  void on_destination(CallState& o, Context& ctx) override { evaluate(o, ctx); }

  // Digits keyed on the inbound leg can become known after the outbound leg started: in-band
  // detections arrive as they happen, keypad facility digits with the record at the end.
  void on_update(CallState& c, Context& ctx) override {
    if (!c.outbound() && c.remote_access) reevaluate(c, ctx);
  }

  void on_end(CallState& c, Context& ctx) override {
    const Config& cfg = ctx.config();
    const double tol = cfg.detectors.through_dial.end_together_s;
    if (!c.outbound() && !c.record.end) {
      forget_riders(c.key);
      ended_riders_.erase(c.key);
    }
    if (!c.record.end) {
      if (!recent_.count(c.key)) unride(c.key, c.inbound_up);
      forget_unless_kept(c.key, ctx);
      return;
    }
    if (c.outbound()) {
      // The inbound legs it rode on that ended already are kept, if at all, in recent_
      // (those still up are in ended_riders_ and pair when they end).
      for (const CallKey& k : c.inbound_up) {
        const auto r = recent_.find(k);
        if (r == recent_.end()) continue;
        const CallState& in = r->second.state;
        if (in.record.end && together(*in.record.end, *c.record.end, tol)) paired(ctx, c, in);
      }
    } else {
      // An inbound leg is bridged to one outbound leg. When several ended close to it (a
      // busy trunk), the one already suspected wins, else the nearest in time: pairing all
      // of them would flag innocent calls that happened to clear at the same moment.
      const CallState* pick = nullptr;
      bool pick_suspected = false;
      double pick_gap = 0;
      for (const Recent* r : ended_riders(c.key, *c.record.end, tol)) {
        const CallState& o = r->state;
        if (!o.outbound() || !o.record.end || !together(*o.record.end, *c.record.end, tol))
          continue;
        const bool suspected = raised_.count(o.key) > 0;
        const double gap = std::abs(seconds(*o.record.end - *c.record.end));
        if (!pick || (suspected && !pick_suspected) ||
            (suspected == pick_suspected && gap < pick_gap)) {
          pick = &o;
          pick_suspected = suspected;
          pick_gap = gap;
        }
      }
      if (pick) paired(ctx, *pick, c);
      // Outbound legs kept only because this leg was up may go at the next tick.
      for (auto it = pinned_by_.lower_bound({c.key, CallKey{}});
           it != pinned_by_.end() && it->first == c.key; ++it)
        unpin_check_.push_back(it->second);
      forget_riders(c.key);
      ended_riders_.erase(c.key);
    }
    const bool keep = c.outbound() ? !c.inbound_up.empty() : c.answered();
    if (!keep) {
      forget_unless_kept(c.key, ctx);
      return;
    }
    if (recent_.count(c.key)) drop(c.key, ctx);
    Recent& r = recent_[c.key];
    r.state = c;
    r.state.ended = true;
    r.seq = next_seq_++;
    by_end_.emplace(*c.record.end, c.key);
    for (const CallKey& k : c.inbound_up) {
      const auto up = ended_riders_.find(k);
      if (up == ended_riders_.end()) continue;  // ended already: paired above if at all
      std::vector<RiderEnd>& ends = up->second;
      ends.push_back({*c.record.end, r.seq, c.key});
      if (ends.size() > kMaxRidersPerInbound) {
        ends.erase(ends.begin());
        ++riders_capped_;
      }
    }
    while (recent_.size() > kMaxRecent && !(by_end_.empty() && pinned_.empty())) {
      if (!by_end_.empty()) {
        const CallKey k = by_end_.begin()->second;
        by_end_.erase(by_end_.begin());
        drop(k, ctx);
      } else {
        const CallKey k = *pinned_.begin();
        pinned_.erase(pinned_.begin());
        drop(k, ctx);
      }
    }
  }

  void on_tick(Timestamp now, Context& ctx) override {
    // The Ended event (RELEASE COMPLETE) can come up to 30 s after the end (first clearing).
    const auto keep = micros(ctx.config().detectors.through_dial.end_together_s) + 60s;
    while (!by_end_.empty() && now - by_end_.begin()->first > keep) {
      const CallKey k = by_end_.begin()->second;
      by_end_.erase(by_end_.begin());
      // An outbound leg stays while an inbound leg it rode on is up (its digits may come).
      const auto r = recent_.find(k);
      if (r != recent_.end() && pinned(r->second.state, ctx)) {
        pinned_.insert(k);
        for (const CallKey& in : r->second.state.inbound_up)
          if (riders_.count({in, k})) pinned_by_.insert({in, k});
      } else {
        drop(k, ctx);
      }
    }
    for (const CallKey& k : unpin_check_) {
      auto it = pinned_.find(k);
      if (it == pinned_.end()) continue;
      const auto r = recent_.find(k);
      if (r != recent_.end() && pinned(r->second.state, ctx)) continue;
      pinned_.erase(it);
      drop(k, ctx);
    }
    unpin_check_.clear();
  }

 private:
  void evaluate(const CallState& o, Context& ctx) {
    const Config& cfg = ctx.config();
    if (!o.outbound() || o.inbound_up.empty() || !cfg.detectors.through_dial.enabled ||
        cfg.site.remote_access.empty() || o.far.is(NumberClass::Emergency))
      return;
    const CallState* best = nullptr;
    Severity best_sev = Severity::Info;
    std::vector<std::string> best_why;
    for (const CallKey& k : o.inbound_up) {
      const CallState* in = find_call(k, ctx);
      if (!in || !in->remote_access) continue;
      std::vector<std::string> why;
      bool strong = false;
      const int min_digits = cfg.detectors.through_dial.min_match_digits;
      const bool matched = digits_match(*in, o, min_digits);
      if (matched) {
        why.push_back("the number was keyed on the inbound leg");
        strong = true;
      }
      // The dial tone says the remote-access call is being used to dial out, not which
      // outbound leg it became: a leg that started before the tone is not it, and when the
      // keyed number is known, a leg to another number is someone else's call.
      const bool keyed_known = static_cast<int>(keyed_digits(*in).size()) >= min_digits;
      if (in->record.second_dial_tone && o.record.start &&
          *o.record.start >= *in->record.second_dial_tone && (matched || !keyed_known)) {
        why.push_back("a dial tone was heard on the answered inbound leg");
        strong = true;
      }
      // Plain international in business hours is not evidence: the auto-attendant is often
      // the main number, and staff call abroad while callers sit in it.
      if (o.far.is(NumberClass::Premium) || o.far.is(NumberClass::HighRisk))
        why.push_back("the destination is " + o.far.classes.str());
      if (o.window != TimeWindow::BusinessHours)
        why.push_back("it is " + std::string(to_string(o.window)));
      const Severity sev = strong        ? Severity::Critical
                           : why.empty() ? Severity::Info
                                         : Severity::Warning;
      if (!best || sev > best_sev) {
        best = in;
        best_sev = sev;
        best_why = why;
      }
    }
    // Without evidence an outbound call during a voicemail session is ordinary traffic; it
    // is only reported if the two legs then end together.
    if (!best || best_sev == Severity::Info) return;
    raise_through_dial(ctx, o, *best, best_sev, best_why);
  }

  // The outbound legs riding on `in` whose number is final: those up in key order, then the
  // ended ones in the order they ended, as before.
  void reevaluate(const CallState& in, Context& ctx) {
    const auto& active = ctx.active();
    std::vector<const CallState*> up;
    for (auto it = riders_.lower_bound({in.key, CallKey{}});
         it != riders_.end() && it->first == in.key; ++it) {
      const auto a = active.find(it->second);
      if (a != active.end() && a->second.outbound() && a->second.destination_done)
        up.push_back(&a->second);
    }
    std::sort(up.begin(), up.end(),
              [](const CallState* x, const CallState* y) { return x->key < y->key; });
    for (const CallState* o : up) evaluate(*o, ctx);
    for (const Recent* r : riders_in_recent(in.key))
      if (r->state.outbound() && r->state.destination_done) evaluate(r->state, ctx);
  }

  struct Recent {
    CallState state;
    std::uint64_t seq = 0;  // the order calls were kept in
  };

  // The ended outbound legs that rode on inbound leg `in`, in the order they were kept.
  std::vector<const Recent*> riders_in_recent(const CallKey& in) const {
    std::vector<const Recent*> out;
    for (auto it = riders_.lower_bound({in, CallKey{}}); it != riders_.end() && it->first == in;
         ++it)
      if (auto r = recent_.find(it->second); r != recent_.end()) out.push_back(&r->second);
    std::sort(out.begin(), out.end(),
              [](const Recent* x, const Recent* y) { return x->seq < y->seq; });
    return out;
  }

  // The same, only those that ended within `tol` of `end` (a little more: the caller checks).
  std::vector<const Recent*> ended_riders(const CallKey& in, Timestamp end, double tol) const {
    std::vector<const Recent*> out;
    const auto slack = micros(tol) + std::chrono::microseconds(1);
    const auto up = ended_riders_.find(in);
    if (up == ended_riders_.end()) return out;
    for (const RiderEnd& e : up->second) {  // in seq order
      if (e.end < end - slack || e.end > end + slack) continue;
      if (auto r = recent_.find(e.outbound); r != recent_.end() && r->second.seq == e.seq)
        out.push_back(&r->second);
    }
    return out;
  }

  const CallState* find_call(const CallKey& k, Context& ctx) const {
    const auto& active = ctx.active();
    if (auto it = active.find(k); it != active.end()) return &it->second;
    if (auto it = recent_.find(k); it != recent_.end()) return &it->second.state;
    return nullptr;
  }

  // Kept while a remote-access inbound leg it still rides on (within the cap) is up.
  bool pinned(const CallState& c, Context& ctx) const {
    return std::any_of(c.inbound_up.begin(), c.inbound_up.end(), [&](const CallKey& k) {
      return riders_.count({k, c.key}) > 0 && ctx.active().count(k) > 0;
    });
  }

  // An inbound leg is over: the legs that rode on it are judged through it no more.
  void forget_riders(const CallKey& in) {
    const auto order = rider_order_.find(in);
    if (order == rider_order_.end()) return;
    for (const CallKey& o : order->second) riders_.erase({in, o});
    rider_order_.erase(order);
  }

  // A call that is neither up nor kept any more: what was noted about it goes too.
  void forget_unless_kept(const CallKey& k, Context& ctx) {
    if (recent_.count(k) || ctx.active().count(k)) return;
    bridged_.erase(k);
    raised_.erase(k);
  }

  // Takes a kept call out of recent_ (its by_end_/pinned_ entry is the caller's).
  void drop(const CallKey& k, Context& ctx) {
    auto it = recent_.find(k);
    if (it == recent_.end()) return;
    unride(k, it->second.state.inbound_up);
    // Its ended_riders_ entries go with their inbound leg (they are checked against seq).
    for (const CallKey& in : it->second.state.inbound_up) pinned_by_.erase({in, k});
    recent_.erase(it);
    forget_unless_kept(k, ctx);
  }

  void unride(const CallKey& o, const std::vector<CallKey>& inbound_up) {
    for (const CallKey& in : inbound_up) riders_.erase({in, o});
  }

  static bool together(Timestamp a, Timestamp b, double tol) {
    return std::abs(seconds(a - b)) <= tol;
  }
  static bool digits_match(const CallState& in, const CallState& o, int min_digits) {
    const std::string keyed = keyed_digits(in);
    const std::string& called = o.record.called;
    if (static_cast<int>(called.size()) < min_digits) return false;
    // Each '#'- or '*'-separated entry, compared as a number (prefix forms differ).
    std::size_t start = 0;
    while (start <= keyed.size()) {
      const std::size_t end = keyed.find_first_of("#*", start);
      const std::string entry =
          keyed.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (static_cast<int>(entry.size()) >= min_digits &&
          (entry.find(called) != std::string::npos || called.find(entry) != std::string::npos ||
           same_number(entry, called) || (!o.far.e164.empty() && same_number(entry, o.far.e164))))
        return true;
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return false;
  }
  void raise_through_dial(Context& ctx, const CallState& o, const CallState& in, Severity sev,
                          const std::vector<std::string>& why) {
    auto& level = raised_[o.key];
    if (level.has_value() && *level >= sev) return;
    level = sev;
    const Config& cfg = ctx.config();
    Detection d;
    d.time = ctx.now();
    d.category = Category::ThroughDial;
    d.severity = sev;
    d.identifier = "through_dial:span" + std::to_string(in.record.span) + ":" + in.record.called +
                   sev_suffix(sev);
    std::string m = "outbound call to " + o.record.called + " (" + describe_call(o.record) +
                    ") while inbound call " + describe_call(in.record) +
                    " to remote-access number " + in.record.called + " was up";
    for (std::size_t i = 0; i < why.size(); ++i) m += (i ? "; " : ": ") + why[i];
    const std::string keyed = shown_digits(in, cfg);
    if (!keyed.empty()) m += "; keyed on the inbound leg: \"" + keyed + "\"";
    d.message = m;
    d.call = &o;
    d.also = {in.key};
    ctx.raise(std::move(d));
  }
  void paired(Context& ctx, const CallState& o, const CallState& in) {
    // The first outbound leg paired with an inbound leg keeps it.
    if (!bridged_.emplace(in.key, o.key).second && bridged_[in.key] != o.key) return;
    const Config& cfg = ctx.config();
    if (!cfg.site.remote_access.empty()) {
      if (in.remote_access && cfg.detectors.through_dial.enabled &&
          !o.far.is(NumberClass::Emergency))
        raise_through_dial(ctx, o, in, Severity::Critical, {"the two calls ended together"});
      return;
    }
    if (!cfg.detectors.trunk_to_trunk.enabled || !watched(o.far)) return;
    // Timing alone is weak on a busy trunk, so the shape of a bridge is required too: the
    // outbound seizure soon after the inbound answer, and the leg that ended second cleared
    // by the PBX (passing the other leg's clearing on).
    if (!in.record.answer || !o.record.start ||
        seconds(*o.record.start - *in.record.answer) > cfg.detectors.trunk_to_trunk.start_within_s)
      return;
    const CallState& later = *o.record.end >= *in.record.end ? o : in;
    if (later.record.cleared_by && *later.record.cleared_by != hal::Side::Pbx) return;
    if (!t2t_done_.insert(o.key).second) return;
    Detection d;
    d.time = ctx.now();
    d.category = Category::TrunkToTrunk;
    d.severity = Severity::Critical;
    d.identifier = "trunk_to_trunk:span" + std::to_string(o.record.span) + ":" + o.record.called;
    d.message = "outbound call to " + o.far.classes.str() + " number " + o.record.called + " (" +
                describe_call(o.record) + ") started while inbound call " +
                describe_call(in.record) + " to " + in.record.called +
                " was up, and the two ended together: the PBX bridged trunk to trunk";
    d.call = &o;
    d.also = {in.key};
    ctx.raise(std::move(d));
    if (t2t_done_.size() > 4096) t2t_done_.clear();  // bounded: keys are never seen again
  }

  // Ended calls, kept to pair with a leg that ends later: by key, with their end times in
  // by_end_ until they may go, then in pinned_ while an inbound leg they rode on is up.
  std::unordered_map<CallKey, Recent, CallKeyHash> recent_;
  std::uint64_t next_seq_ = 0;
  std::multimap<Timestamp, CallKey> by_end_;
  std::set<CallKey> pinned_;
  std::vector<CallKey> unpin_check_;  // pinned legs whose inbound leg ended
  // (inbound leg, outbound leg) for the outbound legs (up or kept) whose inbound_up names
  // it; for the kept ones also by end time, and for the pinned ones.
  std::set<std::pair<CallKey, CallKey>> riders_;
  // Per remote-access inbound leg up, its riders in the order they started (the cap's).
  std::map<CallKey, std::deque<CallKey>> rider_order_;
  std::uint64_t riders_capped_ = 0;
  // Per inbound leg up: the outbound legs that rode on it and ended (kept in recent_ when
  // their seq still matches), in the order they were kept, the latest kMaxRidersPerInbound.
  struct RiderEnd {
    Timestamp end;
    std::uint64_t seq = 0;
    CallKey outbound;
  };
  std::unordered_map<CallKey, std::vector<RiderEnd>, CallKeyHash> ended_riders_;
  std::set<std::pair<CallKey, CallKey>> pinned_by_;
  std::map<CallKey, std::optional<Severity>> raised_;
  std::map<CallKey, CallKey> bridged_;  // inbound leg -> the outbound leg paired with it
  std::set<CallKey> t2t_done_;
};

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

// ---- fax or modem on a voice-only line -----------------------------------------------

class FaxModemDetector final : public Detector {
 public:
  void on_update(CallState& c, Context& ctx) override {
    const Config& cfg = ctx.config();
    const std::string& type = c.record.call_type;
    if (!cfg.detectors.fax_modem.enabled || (type != "fax" && type != "modem")) return;
    if (!cfg.voice_only_line(c.record.span, c.record.channel) || !done_.insert(c.key).second)
      return;
    Detection d;
    d.time = ctx.now();
    d.category = type == "fax" ? Category::FaxOnVoiceLine : Category::ModemOnVoiceLine;
    d.severity = Severity::Warning;
    d.identifier = std::string(to_string(d.category)) + ":span" + std::to_string(c.record.span) +
                   ":" + (c.record.channel ? std::to_string(*c.record.channel) : "?");
    d.message = type + " call on voice-only line " + span_text(c.record) + ": " +
                describe_call(c.record) + " to " + c.record.called;
    d.call = &c;
    ctx.raise(std::move(d));
  }
  void on_end(CallState& c, Context&) override { done_.erase(c.key); }

 private:
  std::set<CallKey> done_;
};

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

CallKey key_of(const calls::CallRecord& r) {
  return CallKey{r.span, r.direction, r.call_ref,
                 r.start ? r.start->time_since_epoch().count() : 0};
}

std::string describe_call(const calls::CallRecord& r) {
  std::string s = r.calling.empty() ? std::string("(no number)") : r.calling;
  if (!r.calling_name.empty()) s += " \"" + r.calling_name + "\"";
  return s + " on " + span_text(r);
}

std::string keyed_digits(const CallState& c) {
  return c.record.digits_in + c.record.keypad;
}

std::string shown_digits(const CallState& c, const Config& config) {
  const std::string d = keyed_digits(c);
  return c.remote_access && config.notices.mask_digits ? mask_digits(d) : d;
}

std::vector<std::unique_ptr<Detector>> make_detectors() {
  std::vector<std::unique_ptr<Detector>> out;
  out.push_back(std::make_unique<DestinationDetector>());
  out.push_back(std::make_unique<ConcurrencyDetector>());
  out.push_back(std::make_unique<CallRateDetector>());
  out.push_back(std::make_unique<MinutesDetector>());
  out.push_back(std::make_unique<RemoteAccessDetector>());
  out.push_back(std::make_unique<RedialDetector>());
  out.push_back(std::make_unique<CallForwardDetector>());
  out.push_back(std::make_unique<WangiriDetector>());
  out.push_back(std::make_unique<FaxModemDetector>());
  out.push_back(std::make_unique<SpanDownDetector>());
  out.push_back(make_decode_anomaly_detector());
  return out;
}

}  // namespace tw::rules::detail
