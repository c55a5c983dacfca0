// Helpers the detectors share (internal to tw_rules): time conversions, notice text, and
// the two counters most detectors keep (levels raised once per level, sliding windows).
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rules/detectors.hpp"

namespace tw::rules::detail {

inline double seconds(std::chrono::microseconds d) {
  return std::chrono::duration<double>(d).count();
}

inline std::chrono::microseconds micros(double s) {
  return std::chrono::microseconds(static_cast<std::int64_t>(std::llround(s * 1e6)));
}

inline std::string levels_text(const Levels& l) {
  std::string out;
  if (l.warning > 0) out += "warning at " + std::to_string(l.warning);
  if (l.critical > 0)
    out += std::string(out.empty() ? "" : ", ") + "critical at " + std::to_string(l.critical);
  return out;
}

inline std::string sev_suffix(Severity s) {
  return ":" + std::string(to_string(s));
}

inline bool watched(const NumberInfo& n) {
  return n.is(NumberClass::International) || n.is(NumberClass::Premium) ||
         n.is(NumberClass::HighRisk);
}

inline std::string span_text(const calls::CallRecord& r) {
  std::string s = "span " + std::to_string(r.span);
  if (r.channel) s += "/" + std::to_string(*r.channel);
  return s;
}

inline std::string local_date(std::int32_t day) {
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

// Event times per key in a sliding window of source time. A key's times sit in a vector read
// from `head` (dropped times are skipped, and cut off once they are half of it): a key seen
// once (most calling numbers) costs one small allocation, where a deque costs a 512-byte
// block, and a flood on one key still costs O(1) per event.
class WindowCounter {
 public:
  std::size_t add(const std::string& key, Timestamp t, double window_s, std::size_t n = 1) {
    Times& q = events_[key];
    for (std::size_t i = 0; i < n; ++i) q.times.push_back(t);
    drop_old(q, t, window_s);
    return q.size();
  }
  void prune(Timestamp now, double window_s) {
    for (auto it = events_.begin(); it != events_.end();) {
      drop_old(it->second, now, window_s);
      it = it->second.size() == 0 ? events_.erase(it) : std::next(it);
    }
  }
  bool has(const std::string& key) const { return events_.count(key) > 0; }

 private:
  struct Times {
    std::vector<Timestamp> times;
    std::size_t head = 0;  // times before it are out of the window
    std::size_t size() const { return times.size() - head; }
  };
  static void drop_old(Times& q, Timestamp now, double window_s) {
    const auto limit = micros(window_s);
    while (q.head < q.times.size() && now - q.times[q.head] > limit) ++q.head;
    if (q.head == q.times.size()) {
      q.times.clear();
      q.head = 0;
    } else if (q.head >= 16 && q.head * 2 >= q.times.size()) {
      q.times.erase(q.times.begin(), q.times.begin() + static_cast<std::ptrdiff_t>(q.head));
      q.head = 0;
    }
  }
  std::map<std::string, Times> events_;
};
}  // namespace tw::rules::detail
