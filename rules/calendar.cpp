#include "rules/calendar.hpp"

#include <date/tz.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace tw::rules {

namespace {

constexpr std::array<std::string_view, 7> kDays = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

constexpr std::int64_t kMinute = 60'000'000;  // microseconds
constexpr std::int64_t kDay = 1440 * kMinute;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

// Weekday of a day count since 1970-01-01 (a Thursday).
unsigned weekday_of(std::int32_t day) {
  return static_cast<unsigned>(((day % 7) + 7 + 4) % 7);
}

class HoursParser {
 public:
  explicit HoursParser(std::string_view s) : s_(s) {}

  std::optional<WeeklyHours> parse(HoursError& err) {
    WeeklyHours out;
    skip_ws();
    std::string word;
    for (std::size_t i = pos_; i < s_.size() && std::isalpha(static_cast<unsigned char>(s_[i]));
         ++i)
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(s_[i])));
    if (word == "always" || word == "never") {
      pos_ += word.size();
      skip_ws();
      if (pos_ != s_.size()) return fail(err, pos_, "nothing may follow '" + word + "'");
      if (word == "always")
        for (auto& d : out.ranges) d.push_back({0, 1440});
      return out;
    }
    if (pos_ == s_.size()) return fail(err, 0, "empty hours (write \"never\" for none)");
    while (true) {
      std::array<bool, 7> days{};
      if (!parse_days(days, err)) return std::nullopt;
      skip_ws();
      std::vector<std::pair<int, int>> ranges;
      if (!parse_ranges(ranges, err)) return std::nullopt;
      for (unsigned d = 0; d < 7; ++d)
        if (days[d]) out.ranges[d].insert(out.ranges[d].end(), ranges.begin(), ranges.end());
      skip_ws();
      if (pos_ == s_.size()) break;
      if (s_[pos_] != ';') return fail(err, pos_, "expected ';' between day groups");
      ++pos_;
      skip_ws();
      if (pos_ == s_.size()) break;  // a trailing ';' is harmless
    }
    for (auto& d : out.ranges) std::sort(d.begin(), d.end());
    return out;
  }

 private:
  std::nullopt_t fail(HoursError& err, std::size_t at, std::string msg) {
    err.offset = at;
    err.message = std::move(msg);
    return std::nullopt;
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  std::optional<unsigned> day(HoursError& err) {
    const std::size_t at = pos_;
    std::string w;
    while (pos_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[pos_])))
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(s_[pos_++])));
    for (unsigned d = 0; d < 7; ++d)
      if (w == kDays[d]) return d;
    fail(err, at,
         w.empty() ? "expected a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"
                   : "unknown day '" + std::string(s_.substr(at, pos_ - at)) +
                         "' (Mon, Tue, Wed, Thu, Fri, Sat, Sun)");
    return std::nullopt;
  }
  bool parse_days(std::array<bool, 7>& days, HoursError& err) {
    while (true) {
      const auto first = day(err);
      if (!first) return false;
      unsigned last = *first;
      if (pos_ < s_.size() && s_[pos_] == '-') {
        ++pos_;
        const auto l = day(err);
        if (!l) return false;
        last = *l;
      }
      for (unsigned d = *first;; d = (d + 1) % 7) {  // wraps: Fri-Mon
        days[d] = true;
        if (d == last) break;
      }
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        skip_ws();
        continue;
      }
      return true;
    }
  }
  std::optional<int> clock(HoursError& err) {
    const std::size_t at = pos_;
    auto digit = [&](std::size_t i) {
      return i < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i]));
    };
    if (!(digit(pos_) && digit(pos_ + 1) && pos_ + 2 < s_.size() && s_[pos_ + 2] == ':' &&
          digit(pos_ + 3) && digit(pos_ + 4))) {
      fail(err, at, "expected a time HH:MM");
      return std::nullopt;
    }
    const int h = (s_[pos_] - '0') * 10 + (s_[pos_ + 1] - '0');
    const int m = (s_[pos_ + 3] - '0') * 10 + (s_[pos_ + 4] - '0');
    pos_ += 5;
    if (h > 24 || m > 59 || (h == 24 && m != 0)) {
      fail(err, at, "bad time '" + std::string(s_.substr(at, 5)) + "' (00:00 to 24:00)");
      return std::nullopt;
    }
    return h * 60 + m;
  }
  bool parse_ranges(std::vector<std::pair<int, int>>& out, HoursError& err) {
    while (true) {
      const std::size_t at = pos_;
      const auto from = clock(err);
      if (!from) return false;
      if (pos_ >= s_.size() || s_[pos_] != '-') {
        fail(err, pos_, "expected '-' between the start and end of a time range");
        return false;
      }
      ++pos_;
      const auto to = clock(err);
      if (!to) return false;
      if (*to <= *from) {
        fail(err, at,
             "bad time range '" + std::string(s_.substr(at, pos_ - at)) +
                 "': the end must be after the start (split hours that pass midnight "
                 "into two ranges)");
        return false;
      }
      out.push_back({*from, *to});
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        skip_ws();
        continue;
      }
      return true;
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string_view to_string(TimeWindow w) {
  switch (w) {
    case TimeWindow::BusinessHours:
      return "business_hours";
    case TimeWindow::AfterHours:
      return "after_hours";
    case TimeWindow::Holiday:
      return "holiday";
  }
  return "?";
}

std::optional<TimeWindow> parse_time_window(std::string_view name) {
  for (TimeWindow w : {TimeWindow::BusinessHours, TimeWindow::AfterHours, TimeWindow::Holiday})
    if (to_string(w) == name) return w;
  return std::nullopt;
}

bool WeeklyHours::contains(unsigned weekday, int minute_of_day) const {
  for (const auto& [from, to] : ranges[weekday % 7])
    if (minute_of_day >= from && minute_of_day < to) return true;
  return false;
}

std::optional<WeeklyHours> parse_weekly_hours(std::string_view spec, HoursError& error) {
  return HoursParser(spec).parse(error);
}

std::optional<Holiday> parse_holiday(std::string_view text) {
  auto num = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    if (at + n > text.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  Holiday h;
  std::optional<int> y, m, d;
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    y = num(0, 4), m = num(5, 2), d = num(8, 2);
    if (!y) return std::nullopt;
    h.year = *y;
  } else if (text.size() == 5 && text[2] == '-') {
    m = num(0, 2), d = num(3, 2);
  } else {
    return std::nullopt;
  }
  if (!m || !d) return std::nullopt;
  h.month = static_cast<unsigned>(*m);
  h.day = static_cast<unsigned>(*d);
  // Every-year dates are checked against a leap year so 02-29 is allowed.
  const std::chrono::year_month_day ymd{std::chrono::year(h.year ? h.year : 2028),
                                        std::chrono::month(h.month), std::chrono::day(h.day)};
  if (!ymd.ok()) return std::nullopt;
  return h;
}

SiteCalendar::SiteCalendar() {
  HoursError e;
  business_ = *parse_weekly_hours("Mon-Fri 08:00-18:00", e);
}

std::optional<SiteCalendar> SiteCalendar::make(const std::string& zone, WeeklyHours business,
                                               std::vector<Holiday> holidays, std::string& error) {
  SiteCalendar c;
  c.business_ = std::move(business);
  c.holidays_ = std::move(holidays);
  c.zone_name_ = zone;
  if (zone != "UTC") {
    try {
      c.zone_ = date::locate_zone(zone);
    } catch (const std::exception&) {
      error = "unknown time zone '" + zone + "' (an IANA name such as \"America/New_York\")";
      return std::nullopt;
    }
  }
  return c;
}

SiteCalendar::Local SiteCalendar::to_local(Timestamp t) const {
  std::int64_t us = t.time_since_epoch().count();
  if (zone_) {
    const auto info =
        zone_->get_info(date::sys_time<std::chrono::microseconds>(t.time_since_epoch()));
    us += std::chrono::duration_cast<std::chrono::microseconds>(info.offset).count();
  }
  Local l;
  const std::int64_t day = floor_div(us, kDay);
  l.day = static_cast<std::int32_t>(day);
  l.weekday = weekday_of(l.day);
  l.minute = static_cast<int>((us - day * kDay) / kMinute);
  return l;
}

bool SiteCalendar::is_holiday(Timestamp t) const {
  if (holidays_.empty()) return false;
  const Local l = to_local(t);
  const std::chrono::year_month_day ymd{std::chrono::sys_days(std::chrono::days(l.day))};
  for (const Holiday& h : holidays_) {
    if (h.year && static_cast<int>(ymd.year()) != h.year) continue;
    if (static_cast<unsigned>(ymd.month()) == h.month && static_cast<unsigned>(ymd.day()) == h.day)
      return true;
  }
  return false;
}

bool SiteCalendar::within(const WeeklyHours& hours, Timestamp t) const {
  const Local l = to_local(t);
  return hours.contains(l.weekday, l.minute);
}

TimeWindow SiteCalendar::window(Timestamp t) const {
  if (is_holiday(t)) return TimeWindow::Holiday;
  return within(business_, t) ? TimeWindow::BusinessHours : TimeWindow::AfterHours;
}

std::int32_t SiteCalendar::local_day(Timestamp t) const {
  return to_local(t).day;
}

Timestamp SiteCalendar::day_start(std::int32_t day) const {
  const std::chrono::microseconds local(static_cast<std::int64_t>(day) * kDay);
  if (!zone_) return Timestamp(local);
  // Midnight may not exist (DST starting at 00:00 in some zones): take the earliest instant.
  const auto sys =
      zone_->to_sys(date::local_time<std::chrono::microseconds>(local), date::choose::earliest);
  return Timestamp(sys.time_since_epoch());
}

std::string SiteCalendar::format_local(Timestamp t) const {
  const auto st = date::sys_time<std::chrono::seconds>(
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()));
  if (!zone_) return date::format("%F %R UTC", st);
  return date::format("%F %R %Z", date::make_zoned(zone_, st));
}

}  // namespace tw::rules
