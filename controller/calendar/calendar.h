// When scheduled experiments fire: 5-field cron expressions (6 with seconds) read in an
// IANA time zone (tz database through Howard Hinnant's date/tz.h, reading the system's
// tzdata), restricted to allowed local windows and outside blackout dates.
//
// Daylight saving, exactly:
// - a local time that happens twice (clocks go back) fires once, at its first
//   occurrence: "30 1 * * *" on the night of the change runs at 01:30 before the change;
//   jobs with several matches an hour do not fire again in the repeated hour;
// - a local time that does not exist (clocks go forward) fires at the instant the gap
//   ends: "30 2 * * *" runs at 03:00 on that night; several skipped times fire once.
// - windows and blackout dates are local wall-clock times and dates.
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <date/tz.h>

#include "common/result.h"
#include "common/time.h"
#include "firedrill/v1/experiment.pb.h"

namespace firedrill::calendar {

// minute hour day-of-month month day-of-week, as in crontab(5): '*', numbers, ranges
// 'a-b', steps '*/n' and 'a-b/n', lists 'a,b', month names jan..dec, day names
// sun..sat (0 and 7 are Sunday), and the macros @hourly @daily @weekly @monthly
// @yearly. When both day fields are restricted a day matching either one matches.
// A sixth field before the minute gives the seconds ("*/5 * * * * *": every 5 s);
// without it a schedule fires at second 0.
struct CronExpr {
  std::bitset<60> seconds;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;  // 1..31
  std::bitset<13> months;         // 1..12
  std::bitset<7> days_of_week;    // 0 = Sunday
  bool dom_restricted = false;
  bool dow_restricted = false;
  std::string text;

  bool matches_day(date::year_month_day ymd) const;
};

Result<CronExpr> parse_cron(std::string_view text);

// "" is UTC. An unknown name is an error that says so.
Result<const date::time_zone*> find_zone(std::string_view name);

// "mon", "mon-fri", "sat,sun" (a list in one string is accepted too) -> bits, 0 = Sunday.
Result<std::bitset<7>> parse_days(std::string_view text);
// "HH:MM" -> minutes after midnight; "24:00" is the end of the day.
Result<int> parse_clock(std::string_view text);

struct LocalWindow {
  std::bitset<7> days;  // all set when the window named none
  int start = 0;        // minutes after local midnight, inclusive
  int end = 0;          // exclusive; end <= start: the window crosses midnight

  bool contains(date::local_time<std::chrono::minutes> t) const;
};
Result<LocalWindow> parse_window(const v1::TimeWindow& w);

struct DateRange {
  date::local_days first;
  date::local_days last;  // inclusive
};
// "2026-12-24" or "2026-12-24..2027-01-02".
Result<DateRange> parse_date_range(std::string_view text);

class Calendar {
 public:
  static Result<Calendar> compile(const v1::Schedule& schedule);

  // The first firing strictly after `t`; nullopt if it never fires in the next 5 years
  // (a cron such as "0 0 30 2 *", or windows that exclude every match).
  std::optional<WallTime> next_after(WallTime t) const;

  // Whether a local time is allowed (inside a window, not a blackout date).
  bool allowed(date::local_time<std::chrono::minutes> t) const;

  const date::time_zone* zone() const { return zone_; }
  const CronExpr& cron() const { return cron_; }

 private:
  CronExpr cron_;
  const date::time_zone* zone_ = nullptr;
  std::vector<LocalWindow> windows_;
  std::vector<DateRange> blackouts_;
};

// The instant a local time means in `zone`, by the rules above.
WallTime local_to_instant(const date::time_zone* zone, date::local_time<std::chrono::minutes> t);

}  // namespace firedrill::calendar
