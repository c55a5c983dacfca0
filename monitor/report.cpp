#include "monitor/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <type_traits>

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

std::string printable(std::string_view stored) {
  std::string out;
  out.reserve(stored.size());
  for (char c : stored) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f)
      out += c;
    else
      out += calls::sanitize_wire_text(std::string_view(&c, 1));
  }
  return out;
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

// Everything the report shows, counted once for the three formats. Text is already printable().
struct Summary {
  struct Volume {
    std::size_t calls = 0, answered = 0;
    double seconds = 0;
  };
  struct Dest {
    std::string called;
    std::size_t calls = 0;
    double seconds = 0;
  };
  struct Call {
    double duration_s = 0;
    calls::Direction direction = calls::Direction::Outbound;
    std::string calling, called;
    int span = 0;
    std::optional<int> channel;
    std::optional<calls::Timestamp> start;
  };
  std::size_t calls = 0, partial = 0, international = 0, international_after = 0, after_hours = 0;
  std::optional<calls::Timestamp> first, last;
  std::map<calls::Direction, Volume> by_direction;
  std::vector<Dest> top;                            // most calls first, then most minutes
  std::vector<Call> longest;                        // longest first
  std::vector<std::pair<int, std::size_t>> causes;  // most frequent first
};

Summary summarize(const std::vector<calls::CallRecord>& records, const ReportOptions& o) {
  Summary s;
  s.calls = records.size();
  std::map<std::string, Summary::Dest> destinations;
  std::map<int, std::size_t> causes;
  for (auto dir : {calls::Direction::Outbound, calls::Direction::Inbound}) s.by_direction[dir];
  for (const auto& r : records) {
    if (r.start) {
      if (!s.first || *r.start < *s.first) s.first = r.start;
      if (!s.last || *r.start > *s.last) s.last = r.start;
    }
    Summary::Volume& v = s.by_direction[r.direction];
    ++v.calls;
    if (r.answer) ++v.answered;
    v.seconds += r.duration_s;
    if (r.partial) ++s.partial;
    if (r.cause) ++causes[*r.cause];
    const bool after = r.start && !r.partial &&
                       (o.outside_hours ? o.outside_hours(*r.start) : is_after_hours(*r.start, o));
    if (after) ++s.after_hours;
    if (r.direction == calls::Direction::Outbound && !r.called.empty()) {
      const std::string called = printable(r.called);
      Summary::Dest& d = destinations[called];
      d.called = called;
      ++d.calls;
      d.seconds += r.duration_s;
      if (looks_international(r.called)) {
        ++s.international;
        if (after) ++s.international_after;
      }
    }
  }
  for (auto& [called, d] : destinations) s.top.push_back(std::move(d));
  std::stable_sort(s.top.begin(), s.top.end(), [](const auto& a, const auto& b) {
    return a.calls != b.calls ? a.calls > b.calls : a.seconds > b.seconds;
  });
  if (s.top.size() > o.top) s.top.resize(o.top);

  std::vector<const calls::CallRecord*> longest;
  for (const auto& r : records)
    if (r.duration_s > 0) longest.push_back(&r);
  std::stable_sort(longest.begin(), longest.end(),
                   [](auto* a, auto* b) { return a->duration_s > b->duration_s; });
  for (std::size_t i = 0; i < longest.size() && i < o.top; ++i) {
    const auto& r = *longest[i];
    s.longest.push_back({r.duration_s, r.direction, printable(r.calling), printable(r.called),
                         r.span, r.channel, r.start});
  }
  s.causes.assign(causes.begin(), causes.end());
  std::stable_sort(s.causes.begin(), s.causes.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return s;
}

std::string show_time(calls::Timestamp t, const ReportOptions& o) {
  return o.local_time ? o.local_time(t) : calls::format_time(t);
}

std::string render_text(const Summary& s, const ReportOptions& o) {
  std::ostringstream out;
  if (s.calls == 0) {
    out << "No call records.\n";
    return out.str();
  }
  out << "Call records: " << s.calls << " calls (" << s.partial << " partial)";
  if (s.first && s.last)
    out << ", starting " << show_time(*s.first, o) << " to " << show_time(*s.last, o);
  out << "\n\n";
  out << "               calls  answered   minutes\n";
  for (const auto& [dir, v] : s.by_direction) {
    char line[96];
    std::snprintf(line, sizeof line, "  %-10s %8zu  %8zu  %8s\n",
                  std::string(calls::to_string(dir)).c_str(), v.calls, v.answered,
                  minutes(v.seconds).c_str());
    out << line;
  }
  out << "\nInternational (outbound, dialed with 011/00/+): " << s.international << " calls, "
      << s.international_after << " of them after hours\n";
  out << "After hours (outside " << o.hours_label << "): " << s.after_hours << " calls\n";

  out << "\nTop destinations (outbound):\n";
  for (const auto& d : s.top)
    out << "  " << pad(d.called, 20) << " " << d.calls << (d.calls == 1 ? " call,  " : " calls, ")
        << minutes(d.seconds) << " min\n";

  out << "\nLongest calls:\n";
  for (const auto& c : s.longest) {
    out << "  " << minutes(c.duration_s) << " min  "
        << pad(std::string(calls::to_string(c.direction)), 8) << " "
        << pad(c.calling.empty() ? "-" : c.calling, 14) << " -> "
        << pad(c.called.empty() ? "-" : c.called, 18) << " span " << c.span;
    if (c.channel) out << " ch " << *c.channel;
    if (c.start) out << "  " << show_time(*c.start, o);
    out << "\n";
  }
  out << "\nClearing causes:\n";
  for (const auto& [cause, count] : s.causes) {
    out << "  " << pad(std::to_string(cause), 4) << pad(std::string(cause_name(cause)), 34) << count
        << "\n";
  }
  return out.str();
}

// RFC 4180: a field with a comma, a quote or a line break is quoted, quotes doubled.
std::string csv_field(std::string_view v) {
  if (v.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

class CsvRows {
 public:
  CsvRows() { row("section", "key", "field", "value"); }
  void row(std::string_view section, std::string_view key, std::string_view field,
           std::string_view value) {
    out_ << csv_field(section) << ',' << csv_field(key) << ',' << csv_field(field) << ','
         << csv_field(value) << "\r\n";
  }
  template <typename N>
  requires std::is_arithmetic_v<N>
  void row(std::string_view section, std::string_view key, std::string_view field, N value) {
    row(section, key, field, std::to_string(value));
  }
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

std::string render_csv(const Summary& s, const ReportOptions& o) {
  CsvRows csv;
  csv.row("summary", "", "calls", s.calls);
  csv.row("summary", "", "partial", s.partial);
  csv.row("summary", "", "first_start", s.first ? calls::format_time(*s.first) : "");
  csv.row("summary", "", "last_start", s.last ? calls::format_time(*s.last) : "");
  for (const auto& [dir, v] : s.by_direction) {
    const std::string key(calls::to_string(dir));
    csv.row("direction", key, "calls", v.calls);
    csv.row("direction", key, "answered", v.answered);
    csv.row("direction", key, "minutes", minutes(v.seconds));
  }
  csv.row("international", "", "calls", s.international);
  csv.row("international", "", "after_hours", s.international_after);
  csv.row("after_hours", "", "calls", s.after_hours);
  csv.row("after_hours", "", "business_hours", o.hours_label);
  for (const auto& d : s.top) {
    csv.row("destination", d.called, "calls", d.calls);
    csv.row("destination", d.called, "minutes", minutes(d.seconds));
  }
  for (std::size_t i = 0; i < s.longest.size(); ++i) {
    const auto& c = s.longest[i];
    const std::string key = std::to_string(i + 1);
    csv.row("longest", key, "minutes", minutes(c.duration_s));
    csv.row("longest", key, "direction", calls::to_string(c.direction));
    csv.row("longest", key, "calling", c.calling);
    csv.row("longest", key, "called", c.called);
    csv.row("longest", key, "span", c.span);
    csv.row("longest", key, "channel", c.channel ? std::to_string(*c.channel) : "");
    csv.row("longest", key, "start", c.start ? calls::format_time(*c.start) : "");
    csv.row("longest", key, "start_local", c.start ? show_time(*c.start, o) : "");
  }
  for (const auto& [cause, count] : s.causes) {
    const std::string key = std::to_string(cause);
    csv.row("cause", key, "calls", count);
    csv.row("cause", key, "name", cause_name(cause));
  }
  return csv.str();
}

std::string render_json(const Summary& s, const ReportOptions& o) {
  using nlohmann::ordered_json;
  const auto time_or_null = [](const std::optional<calls::Timestamp>& t) {
    return t ? ordered_json(calls::format_time(*t)) : ordered_json(nullptr);
  };
  const auto round1 = [](double seconds) { return std::round(seconds / 6.0) / 10.0; };
  ordered_json j;
  j["calls"] = s.calls;
  j["partial"] = s.partial;
  j["first_start"] = time_or_null(s.first);
  j["last_start"] = time_or_null(s.last);
  j["directions"] = ordered_json::object();
  for (const auto& [dir, v] : s.by_direction)
    j["directions"][std::string(calls::to_string(dir))] = {
        {"calls", v.calls}, {"answered", v.answered}, {"minutes", round1(v.seconds)}};
  j["international"] = {{"calls", s.international}, {"after_hours", s.international_after}};
  j["after_hours"] = {{"calls", s.after_hours}, {"business_hours", o.hours_label}};
  j["top_destinations"] = ordered_json::array();
  for (const auto& d : s.top)
    j["top_destinations"].push_back(
        {{"called", d.called}, {"calls", d.calls}, {"minutes", round1(d.seconds)}});
  j["longest_calls"] = ordered_json::array();
  for (const auto& c : s.longest) {
    ordered_json e;
    e["minutes"] = round1(c.duration_s);
    e["duration_s"] = std::round(c.duration_s * 1000) / 1000;
    e["direction"] = calls::to_string(c.direction);
    e["calling"] = c.calling;
    e["called"] = c.called;
    e["span"] = c.span;
    e["channel"] = c.channel ? ordered_json(*c.channel) : ordered_json(nullptr);
    e["start"] = time_or_null(c.start);
    e["start_local"] = c.start ? ordered_json(show_time(*c.start, o)) : ordered_json(nullptr);
    j["longest_calls"].push_back(std::move(e));
  }
  j["causes"] = ordered_json::array();
  for (const auto& [cause, count] : s.causes)
    j["causes"].push_back({{"cause", cause}, {"name", cause_name(cause)}, {"calls", count}});
  return j.dump(2) + "\n";
}

}  // namespace

std::string render_report(const std::vector<calls::CallRecord>& records, const ReportOptions& o) {
  const Summary s = summarize(records, o);
  switch (o.format) {
    case ReportFormat::Csv:
      return render_csv(s, o);
    case ReportFormat::Json:
      return render_json(s, o);
    case ReportFormat::Text:
      break;
  }
  return render_text(s, o);
}

}  // namespace tw
