#include <algorithm>
#include <cmath>
#include <deque>
#include <set>
#include <unordered_map>

#include "rules/detectors/common.hpp"

namespace tw::rules::detail {

namespace {

using namespace std::chrono_literals;

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
    // The ended_riders_ lists of the inbound legs it rode on that are still up: one lookup
    // per leg tells up (ended_riders_) from ended (recent_), a leg is never in both.
    std::vector<std::vector<RiderEnd>*> up_lists;
    if (c.outbound()) {
      // The inbound legs it rode on that ended already are kept, if at all, in recent_
      // (those still up are in ended_riders_ and pair when they end).
      up_lists.reserve(c.inbound_up.size());
      for (const CallKey& k : c.inbound_up) {
        if (const auto up = ended_riders_.find(k); up != ended_riders_.end()) {
          up_lists.push_back(&up->second);
          continue;
        }
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
    for (std::vector<RiderEnd>* up : up_lists) {  // ended already: paired above if at all
      std::vector<RiderEnd>& ends = *up;
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

}  // namespace

std::unique_ptr<Detector> make_redial_detector() {
  return std::make_unique<RedialDetector>();
}

}  // namespace tw::rules::detail
