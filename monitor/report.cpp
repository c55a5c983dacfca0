#include "monitor/report.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

namespace tw {

std::string_view cause_name(int cause) {
  switch (cause) {
    case 1:
      return "unallocated number";
    case 3:
      return "no route to destination";
    case 16:
      return "normal call clearing";
    case 17:
      return "user busy";
    case 18:
      return "no user responding";
    case 19:
      return "no answer";
    case 21:
      return "call rejected";
    case 22:
      return "number changed";
    case 27:
      return "destination out of order";
    case 28:
      return "invalid number format";
    case 31:
      return "normal, unspecified";
    case 34:
      return "no circuit available";
    case 38:
      return "network out of order";
    case 41:
      return "temporary failure";
    case 42:
      return "switching equipment congestion";
    case 44:
      return "requested channel not available";
    case 47:
      return "resource unavailable";
    case 57:
      return "bearer capability not authorized";
    case 58:
      return "bearer capability not available";
    case 63:
      return "service not available";
    case 65:
      return "bearer capability not implemented";
    case 81:
      return "invalid call reference";
    case 88:
      return "incompatible destination";
    case 100:
      return "invalid information element contents";
    case 102:
      return "recovery on timer expiry";
    case 111:
      return "protocol error";
    case 127:
      return "interworking";
    default:
      return "";
  }
}

bool looks_international(std::string_view called) {
  if (called.starts_with("011")) return true;
  if (called.starts_with("00") && !called.starts_with("000")) return true;
  return called.starts_with("+") && !called.starts_with("+1");
}

bool is_after_hours(calls::Timestamp t, const ReportOptions& o) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const weekday wd{day};
  const auto hour = duration_cast<hours>(t - day).count();
  if (wd == Saturday || wd == Sunday) return true;
  return hour < o.open_hour || hour >= o.close_hour;
}

namespace {

std::string minutes(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", seconds / 60.0);
  return buf;
}

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

}  // namespace

std::string render_report(const std::vector<calls::CallRecord>& records, const ReportOptions& o) {
  std::ostringstream out;
  if (records.empty()) {
    out << "No call records.\n";
    return out.str();
  }
  std::optional<calls::Timestamp> first, last;
  struct Volume {
    std::size_t calls = 0, answered = 0;
    double seconds = 0;
  };
  std::map<calls::Direction, Volume> by_direction;
  struct Dest {
    std::size_t calls = 0;
    double seconds = 0;
  };
  std::map<std::string, Dest> destinations;
  std::map<int, std::size_t> causes;
  std::size_t partial = 0, international = 0, international_after = 0, after_hours = 0;
  for (const auto& r : records) {
    if (r.start) {
      if (!first || *r.start < *first) first = r.start;
      if (!last || *r.start > *last) last = r.start;
    }
    Volume& v = by_direction[r.direction];
    ++v.calls;
    if (r.answer) ++v.answered;
    v.seconds += r.duration_s;
    if (r.partial) ++partial;
    if (r.cause) ++causes[*r.cause];
    const bool after = r.start && !r.partial && is_after_hours(*r.start, o);
    if (after) ++after_hours;
    if (r.direction == calls::Direction::Outbound && !r.called.empty()) {
      Dest& d = destinations[r.called];
      ++d.calls;
      d.seconds += r.duration_s;
      if (looks_international(r.called)) {
        ++international;
        if (after) ++international_after;
      }
    }
  }
  out << "Call records: " << records.size() << " calls (" << partial << " partial)";
  if (first && last)
    out << ", starting " << calls::format_time(*first) << " to " << calls::format_time(*last);
  out << "\n\n";
  out << "               calls  answered   minutes\n";
  for (auto dir : {calls::Direction::Outbound, calls::Direction::Inbound}) {
    const Volume& v = by_direction[dir];
    char line[96];
    std::snprintf(line, sizeof line, "  %-10s %8zu  %8zu  %8s\n",
                  std::string(calls::to_string(dir)).c_str(), v.calls, v.answered,
                  minutes(v.seconds).c_str());
    out << line;
  }
  out << "\nInternational (outbound, dialed with 011/00/+): " << international << " calls, "
      << international_after << " of them after hours\n";
  out << "After hours (outside Mon-Fri " << o.open_hour << ":00-" << o.close_hour
      << ":00 UTC): " << after_hours << " calls\n";

  std::vector<std::pair<std::string, Dest>> top(destinations.begin(), destinations.end());
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
    return a.second.calls != b.second.calls ? a.second.calls > b.second.calls
                                            : a.second.seconds > b.second.seconds;
  });
  out << "\nTop destinations (outbound):\n";
  for (std::size_t i = 0; i < top.size() && i < o.top; ++i)
    out << "  " << pad(top[i].first, 20) << " " << top[i].second.calls
        << (top[i].second.calls == 1 ? " call,  " : " calls, ") << minutes(top[i].second.seconds)
        << " min\n";

  std::vector<const calls::CallRecord*> longest;
  for (const auto& r : records)
    if (r.duration_s > 0) longest.push_back(&r);
  std::sort(longest.begin(), longest.end(),
            [](auto* a, auto* b) { return a->duration_s > b->duration_s; });
  out << "\nLongest calls:\n";
  for (std::size_t i = 0; i < longest.size() && i < o.top; ++i) {
    const auto& r = *longest[i];
    out << "  " << minutes(r.duration_s) << " min  "
        << pad(std::string(calls::to_string(r.direction)), 8) << " "
        << pad(r.calling.empty() ? "-" : r.calling, 14) << " -> "
        << pad(r.called.empty() ? "-" : r.called, 18) << " span " << r.span;
    if (r.channel) out << " ch " << *r.channel;
    if (r.start) out << "  " << calls::format_time(*r.start);
    out << "\n";
  }
  std::vector<std::pair<int, std::size_t>> cause_list(causes.begin(), causes.end());
  std::sort(cause_list.begin(), cause_list.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  out << "\nClearing causes:\n";
  for (const auto& [cause, count] : cause_list) {
    out << "  " << pad(std::to_string(cause), 4) << pad(std::string(cause_name(cause)), 34) << count
        << "\n";
  }
  return out.str();
}

}  // namespace tw
