// The site calendar: business hours and holidays in the site's own time zone (IANA, through
// the OS tz database; libstdc++ 12 has no std::chrono tzdb, so Howard Hinnant's date does it).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trunkwatch/hal/types.hpp"

namespace date {
class time_zone;
}

namespace tw::rules {

using hal::Timestamp;

enum class TimeWindow : std::uint8_t { BusinessHours, AfterHours, Holiday };
// "business_hours", "after_hours", "holiday"
std::string_view to_string(TimeWindow w);
std::optional<TimeWindow> parse_time_window(std::string_view name);

// Weekly hours: "Mon-Fri 08:00-12:00,13:00-18:00; Sat 09:00-12:00", "always", "never".
struct WeeklyHours {
  // Per weekday (0 = Sunday ... 6 = Saturday): [from, to) in minutes after local midnight.
  std::array<std::vector<std::pair<int, int>>, 7> ranges;
  bool contains(unsigned weekday, int minute_of_day) const;
};

struct HoursError {
  std::size_t offset = 0;  // into the spec text, where the problem starts
  std::string message;
};
std::optional<WeeklyHours> parse_weekly_hours(std::string_view spec, HoursError& error);

// A holiday: one date, or the same month and day every year (year 0).
struct Holiday {
  int year = 0;
  unsigned month = 1, day = 1;
};
// "2027-12-25" or "12-25" (every year).
std::optional<Holiday> parse_holiday(std::string_view text);

class SiteCalendar {
 public:
  // The built-in calendar: UTC, Mon-Fri 08:00-18:00, no holidays.
  SiteCalendar();
  // nullopt and `error` set when the zone is not in the tz database.
  static std::optional<SiteCalendar> make(const std::string& zone, WeeklyHours business,
                                          std::vector<Holiday> holidays, std::string& error);

  // Holiday first (the whole local day), then business hours, else after hours.
  TimeWindow window(Timestamp t) const;
  bool is_holiday(Timestamp t) const;
  // Whether `t` falls inside `hours`, read in the site's zone.
  bool within(const WeeklyHours& hours, Timestamp t) const;
  // The site's calendar day of `t` (days since 1970-01-01 in local time): the day boundary of
  // daily counters.
  std::int32_t local_day(Timestamp t) const;
  // The UTC instant at which local day `day` begins (DST-aware).
  Timestamp day_start(std::int32_t day) const;
  // "2027-03-14 03:30 EDT" for messages.
  std::string format_local(Timestamp t) const;

  const std::string& zone_name() const { return zone_name_; }
  const WeeklyHours& business_hours() const { return business_; }
  const std::vector<Holiday>& holidays() const { return holidays_; }

 private:
  struct Local {
    std::int32_t day = 0;  // days since epoch, local
    unsigned weekday = 0;  // 0 = Sunday
    int minute = 0;        // minutes after local midnight
  };
  Local to_local(Timestamp t) const;

  const date::time_zone* zone_ = nullptr;  // owned by the date library's database
  std::string zone_name_ = "UTC";
  WeeklyHours business_;
  std::vector<Holiday> holidays_;
};

}  // namespace tw::rules
