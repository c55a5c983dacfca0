// The site calendar: weekly hours syntax, holidays, and a real time zone across DST.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "rules/calendar.hpp"

namespace tw::rules {
namespace {

Timestamp at(const char* rfc3339) {
  auto t = hal::parse_time(rfc3339);
  EXPECT_TRUE(t.has_value()) << rfc3339;
  return t.value_or(Timestamp{});
}

WeeklyHours hours(const char* spec) {
  HoursError e;
  auto h = parse_weekly_hours(spec, e);
  EXPECT_TRUE(h.has_value()) << spec << ": " << e.message;
  return h.value_or(WeeklyHours{});
}

SiteCalendar calendar(const char* zone, const char* spec, std::vector<Holiday> holidays = {}) {
  std::string err;
  auto c = SiteCalendar::make(zone, hours(spec), std::move(holidays), err);
  EXPECT_TRUE(c.has_value()) << err;
  return c.value_or(SiteCalendar{});
}

TEST(RulesCalendar, WeeklyHoursSyntax) {
  const WeeklyHours h = hours("Mon-Fri 08:00-12:00, 13:00-18:00; Sat 09:00-12:00");
  EXPECT_TRUE(h.contains(1, 8 * 60));         // Monday 08:00
  EXPECT_FALSE(h.contains(1, 12 * 60 + 30));  // lunch
  EXPECT_TRUE(h.contains(5, 17 * 60 + 59));   // Friday 17:59
  EXPECT_FALSE(h.contains(5, 18 * 60));       // the end is exclusive
  EXPECT_TRUE(h.contains(6, 9 * 60));         // Saturday
  EXPECT_FALSE(h.contains(0, 10 * 60));       // Sunday
  const WeeklyHours wrap = hours("fri-MON 00:00-24:00");
  EXPECT_TRUE(wrap.contains(5, 0) && wrap.contains(6, 0) && wrap.contains(0, 1439) &&
              wrap.contains(1, 720));
  EXPECT_FALSE(wrap.contains(2, 720));
  const WeeklyHours list = hours("Mon,Wed, Fri 10:00-11:00;");
  EXPECT_TRUE(list.contains(3, 630));
  EXPECT_FALSE(list.contains(2, 630));
  const WeeklyHours always = hours("always");
  for (unsigned d = 0; d < 7; ++d)
    EXPECT_EQ(always.ranges[d], (std::vector<std::pair<int, int>>{{0, 1440}}));
  const WeeklyHours never = hours("never");
  for (unsigned d = 0; d < 7; ++d) EXPECT_TRUE(never.ranges[d].empty());
}

TEST(RulesCalendar, WeeklyHoursErrorsSayWhere) {
  struct Bad {
    const char* spec;
    std::size_t offset;
    const char* message;
  };
  const Bad cases[] = {
      {"", 0, "empty hours"},
      {"Mon-Fri", 7, "expected a time HH:MM"},
      {"Mon-Fry 08:00-18:00", 4, "unknown day 'Fry'"},
      {"Mon-Fri 08:00-18:00; Sat 12:00-09:00", 25, "bad time range '12:00-09:00'"},
      {"Mon-Fri 08:00-08:00", 8, "bad time range '08:00-08:00'"},
      {"Mon-Fri 24:30-25:00", 8, "bad time '24:30'"},
      {"Mon-Fri 08:00 18:00", 13, "expected '-' between the start and end"},
      {"Mon-Fri 08:00-18:00 Sat 09:00-12:00", 20, "expected ';' between day groups"},
      {"always open", 7, "nothing may follow 'always'"},
  };
  for (const Bad& b : cases) {
    SCOPED_TRACE(b.spec);
    HoursError e;
    EXPECT_FALSE(parse_weekly_hours(b.spec, e).has_value());
    EXPECT_EQ(e.offset, b.offset);
    EXPECT_TRUE(e.message.starts_with(b.message)) << e.message;
  }
}

TEST(RulesCalendar, Holidays) {
  EXPECT_TRUE(parse_holiday("2027-12-25"));
  EXPECT_TRUE(parse_holiday("02-29"));
  EXPECT_FALSE(parse_holiday("2027-02-29"));
  EXPECT_FALSE(parse_holiday("13-01"));
  EXPECT_FALSE(parse_holiday("2027-1-5"));
  const SiteCalendar c = calendar("America/New_York", "Mon-Fri 08:00-18:00",
                                  {*parse_holiday("2027-11-25"), *parse_holiday("12-25")});
  // Thanksgiving 2027 (Thursday) at 10:00 EST; the day before is business as usual.
  EXPECT_EQ(c.window(at("2027-11-25T15:00:00Z")), TimeWindow::Holiday);
  EXPECT_EQ(c.window(at("2027-11-24T15:00:00Z")), TimeWindow::BusinessHours);
  // Christmas every year, whole local day: 23:30 EST on the 25th is 04:30Z on the 26th.
  EXPECT_EQ(c.window(at("2028-12-26T04:30:00Z")), TimeWindow::Holiday);
  EXPECT_EQ(c.window(at("2028-12-26T05:30:00Z")), TimeWindow::AfterHours);
}

// New York: 08:00 local is 13:00Z in winter (EST) and 12:00Z in summer (EDT). DST began
// 2027-03-14 (Sunday) and ended 2027-11-07 (Sunday).
TEST(RulesCalendar, BusinessHoursFollowDstInNewYork) {
  const SiteCalendar c = calendar("America/New_York", "Mon-Fri 08:00-18:00");
  EXPECT_EQ(c.window(at("2027-03-12T12:30:00Z")), TimeWindow::AfterHours);     // Fri 07:30 EST
  EXPECT_EQ(c.window(at("2027-03-12T13:00:00Z")), TimeWindow::BusinessHours);  // Fri 08:00 EST
  EXPECT_EQ(c.window(at("2027-03-15T12:30:00Z")), TimeWindow::BusinessHours);  // Mon 08:30 EDT
  EXPECT_EQ(c.window(at("2027-03-15T11:59:59Z")), TimeWindow::AfterHours);     // Mon 07:59 EDT
  EXPECT_EQ(c.window(at("2027-03-15T21:59:00Z")), TimeWindow::BusinessHours);  // Mon 17:59 EDT
  EXPECT_EQ(c.window(at("2027-03-15T22:00:00Z")), TimeWindow::AfterHours);     // Mon 18:00 EDT
  EXPECT_EQ(c.window(at("2027-11-08T12:30:00Z")), TimeWindow::AfterHours);     // Mon 07:30 EST
  EXPECT_EQ(c.window(at("2027-11-08T13:30:00Z")), TimeWindow::BusinessHours);  // Mon 08:30 EST
  // Saturday morning and Friday night local, which are a weekday in UTC.
  EXPECT_EQ(c.window(at("2027-03-13T15:00:00Z")), TimeWindow::AfterHours);
  EXPECT_EQ(c.window(at("2027-03-13T01:00:00Z")), TimeWindow::AfterHours);  // Fri 20:00 EST
  EXPECT_EQ(c.format_local(at("2027-03-15T12:30:00Z")), "2027-03-15 08:30 EDT");
  EXPECT_EQ(c.format_local(at("2027-03-12T12:30:00Z")), "2027-03-12 07:30 EST");
}

TEST(RulesCalendar, LocalDaysAndMidnightsAcrossDst) {
  const SiteCalendar ny = calendar("America/New_York", "always");
  // 2027-03-14 03:00Z is still the 13th in New York (22:00 EST).
  const std::int32_t day13 = ny.local_day(at("2027-03-14T03:00:00Z"));
  EXPECT_EQ(ny.local_day(at("2027-03-14T05:00:00Z")), day13 + 1);
  EXPECT_EQ(ny.day_start(day13 + 1), at("2027-03-14T05:00:00Z"));  // midnight EST
  EXPECT_EQ(ny.day_start(day13 + 2), at("2027-03-15T04:00:00Z"));  // midnight EDT
  // The DST day is 23 hours long.
  EXPECT_EQ(ny.day_start(day13 + 2) - ny.day_start(day13 + 1), std::chrono::hours(23));
  const SiteCalendar utc;
  EXPECT_EQ(utc.zone_name(), "UTC");
  EXPECT_EQ(utc.day_start(utc.local_day(at("2027-03-14T03:00:00Z"))), at("2027-03-14T00:00:00Z"));
  std::string err;
  EXPECT_FALSE(SiteCalendar::make("America/Gotham", WeeklyHours{}, {}, err));
  EXPECT_NE(err.find("unknown time zone 'America/Gotham'"), std::string::npos);
}

}  // namespace
}  // namespace tw::rules
