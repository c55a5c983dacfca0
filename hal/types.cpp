// String conversions for the HAL value types.
#include "trunkwatch/hal/types.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>

namespace tw::hal {

std::string_view to_string(SwitchType t) {
  switch (t) {
    case SwitchType::Ni2:
      return "ni2";
    case SwitchType::Att4ess:
      return "4ess";
    case SwitchType::Att5ess:
      return "5ess";
    case SwitchType::Dms100:
      return "dms100";
    case SwitchType::EuroIsdn:
      return "euroisdn";
    case SwitchType::Qsig:
      return "qsig";
  }
  return "unknown";
}

bool parse_switch_type(std::string_view name, SwitchType& out) {
  struct Name {
    std::string_view name;
    SwitchType type;
  };
  // "national" is what Asterisk's chan_dahdi calls NI-2.
  static constexpr Name kNames[] = {
      {"ni2", SwitchType::Ni2},       {"national", SwitchType::Ni2},
      {"4ess", SwitchType::Att4ess},  {"5ess", SwitchType::Att5ess},
      {"dms100", SwitchType::Dms100}, {"euroisdn", SwitchType::EuroIsdn},
      {"qsig", SwitchType::Qsig},
  };
  for (const Name& n : kNames) {
    if (n.name == name) {
      out = n.type;
      return true;
    }
  }
  return false;
}

std::string_view to_string(SpanType t) {
  return t == SpanType::T1 ? "t1" : "e1";
}

std::string_view to_string(LineEventType t) {
  switch (t) {
    case LineEventType::Alarm:
      return "alarm";
    case LineEventType::NoAlarm:
      return "no_alarm";
    case LineEventType::BadFcs:
      return "bad_fcs";
    case LineEventType::Overrun:
      return "overrun";
    case LineEventType::DChanUp:
      return "dchan_up";
    case LineEventType::DChanDown:
      return "dchan_down";
    case LineEventType::SourceEnd:
      return "source_end";
    case LineEventType::LineErrors:
      return "line_errors";
  }
  return "unknown";
}

std::optional<Timestamp> make_time(int y, int mo, int d, int h, int mi, int s, long long us,
                                   int offset_minutes) {
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(unsigned(mo)),
                                        std::chrono::day(unsigned(d))};
  if (!ymd.ok() || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60) return std::nullopt;
  const auto day = std::chrono::sys_days(ymd);
  return Timestamp(std::chrono::duration_cast<std::chrono::microseconds>(day.time_since_epoch()) +
                   std::chrono::hours(h) + std::chrono::minutes(mi - offset_minutes) +
                   std::chrono::seconds(s) + std::chrono::microseconds(us));
}

std::string format_time(Timestamp t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(ms);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<std::chrono::milliseconds> tod{ms - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), int(tod.hours().count()),
                int(tod.minutes().count()), int(tod.seconds().count()),
                int(tod.subseconds().count()));
  return buf;
}

std::optional<Timestamp> parse_time(std::string_view s) {
  auto num = [&s](std::size_t pos, std::size_t len, int& out) {
    if (pos + len > s.size()) return false;
    for (std::size_t i = pos; i < pos + len; ++i)
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    return std::from_chars(s.data() + pos, s.data() + pos + len, out).ec == std::errc{};
  };
  int y, mo, d, h, mi, sec;
  if (!num(0, 4, y) || s.size() < 19 || s[4] != '-' || !num(5, 2, mo) || s[7] != '-' ||
      !num(8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !num(11, 2, h) ||
      s[13] != ':' || !num(14, 2, mi) || s[16] != ':' || !num(17, 2, sec))
    return std::nullopt;
  std::size_t pos = 19;
  long long us = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    long long scale = 100000;
    const std::size_t first = pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      us += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == first) return std::nullopt;
  }
  int offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!num(pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !num(pos + 4, 2, om))
      return std::nullopt;
    offset = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;  // no offset: not a UTC instant
  }
  if (pos != s.size()) return std::nullopt;
  return make_time(y, mo, d, h, mi, sec, us, offset);
}

}  // namespace tw::hal
