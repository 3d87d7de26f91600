#include "controller/calendar/calendar.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace firedrill::calendar {

using namespace std::chrono;

namespace {

constexpr std::array<const char*, 12> kMonths = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<const char*, 7> kDays = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

struct FieldSpec {
  const char* name;
  int min;
  int max;
  const char* const* names;  // names for min.. in order, or null
  size_t name_count;
};

Result<int> parse_value(std::string_view text, const FieldSpec& f) {
  if (f.names != nullptr) {
    std::string l = lower(text);
    for (size_t i = 0; i < f.name_count; ++i) {
      if (l == f.names[i]) return f.min + static_cast<int>(i);
    }
  }
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return make_error("{} field: '{}' is not a number{}", f.name, text, f.names ? " or a name" : "");
  }
  // Day of week 7 is Sunday as well.
  int max = f.max == 6 && std::string_view(f.name) == "day-of-week" ? 7 : f.max;
  if (v < f.min || v > max) return make_error("{} field: {} is out of range {}-{}", f.name, v, f.min, max);
  return v;
}

// Sets bits [min..max] of `out` (indexed by value) for one comma-separated field.
Result<bool> parse_field(std::string_view text, const FieldSpec& f, std::vector<bool>* out) {
  bool restricted = text != "*";
  for (std::string_view part : split(text, ',')) {
    if (part.empty()) return make_error("{} field '{}': empty list element", f.name, text);
    int step = 1;
    auto slash = part.find('/');
    std::string_view range = part;
    if (slash != std::string_view::npos) {
      std::string_view st = part.substr(slash + 1);
      auto [end, ec] = std::from_chars(st.data(), st.data() + st.size(), step);
      if (st.empty() || ec != std::errc() || end != st.data() + st.size() || step <= 0) {
        return make_error("{} field: bad step '{}'", f.name, st);
      }
      range = part.substr(0, slash);
    }
    int lo = 0, hi = 0;
    if (range == "*") {
      lo = f.min;
      hi = f.max;
    } else {
      auto dash = range.find('-');
      if (dash == std::string_view::npos) {
        auto v = parse_value(range, f);
        if (!v) return v.error();
        lo = *v;
        hi = slash != std::string_view::npos ? f.max : *v;  // "5/15": from 5 to the end
      } else {
        auto a = parse_value(range.substr(0, dash), f);
        if (!a) return a.error();
        auto b = parse_value(range.substr(dash + 1), f);
        if (!b) return b.error();
        if (*b < *a) return make_error("{} field: range {} is backwards", f.name, range);
        lo = *a;
        hi = *b;
      }
    }
    for (int v = lo; v <= hi; v += step) (*out)[static_cast<size_t>(v)] = true;
  }
  return restricted;
}

template <size_t N>
std::bitset<N> to_bits(const std::vector<bool>& v) {
  std::bitset<N> b;
  for (size_t i = 0; i < N && i < v.size(); ++i) b[i] = v[i];
  return b;
}

}  // namespace

bool CronExpr::matches_day(date::year_month_day ymd) const {
  if (!months[static_cast<unsigned>(ymd.month())]) return false;
  bool dom = days_of_month[static_cast<unsigned>(ymd.day())];
  bool dow = days_of_week[date::weekday(date::sys_days(ymd)).c_encoding()];
  if (dom_restricted && dow_restricted) return dom || dow;
  return dom && dow;
}

Result<CronExpr> parse_cron(std::string_view text_in) {
  std::string_view text = trim(text_in);
  std::string expanded;
  if (!text.empty() && text[0] == '@') {
    std::string m = lower(text);
    if (m == "@hourly") expanded = "0 * * * *";
    else if (m == "@daily" || m == "@midnight") expanded = "0 0 * * *";
    else if (m == "@weekly") expanded = "0 0 * * 0";
    else if (m == "@monthly") expanded = "0 0 1 * *";
    else if (m == "@yearly" || m == "@annually") expanded = "0 0 1 1 *";
    else return make_error("cron '{}': unknown macro (use @hourly, @daily, @weekly, @monthly, @yearly)", text);
    text = expanded;
  }
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  // Six fields: seconds first (as Quartz and Spring write it), for schedules that
  // fire more often than once a minute; five: at second 0.
  std::bitset<60> seconds;
  seconds.set(0);
  if (fields.size() == 6) {
    std::vector<bool> bits(61, false);
    static const FieldSpec second{"second", 0, 59, nullptr, 0};
    auto r = parse_field(fields.front(), second, &bits);
    if (!r) return make_error("cron '{}': {}", trim(text_in), r.error().message);
    seconds = to_bits<60>(bits);
    fields.erase(fields.begin());
  } else if (fields.size() != 5) {
    return make_error("cron '{}': expected 5 fields (minute hour day-of-month month day-of-week), or 6 with the "
                      "second first, found {}",
                      text_in, fields.size());
  }
  static const FieldSpec specs[5] = {
      {"minute", 0, 59, nullptr, 0},
      {"hour", 0, 23, nullptr, 0},
      {"day-of-month", 1, 31, nullptr, 0},
      {"month", 1, 12, kMonths.data(), kMonths.size()},
      {"day-of-week", 0, 6, kDays.data(), kDays.size()},
  };
  CronExpr c;
  c.text = std::string(trim(text_in));
  c.seconds = seconds;
  std::vector<bool> bits[5];
  bool restricted[5];
  for (int f = 0; f < 5; ++f) {
    bits[f].assign(static_cast<size_t>(specs[f].max + 2), false);
    auto r = parse_field(fields[static_cast<size_t>(f)], specs[f], &bits[f]);
    if (!r) return make_error("cron '{}': {}", c.text, r.error().message);
    restricted[f] = *r;
  }
  if (bits[4].size() > 7 && bits[4][7]) bits[4][0] = true;  // 7 is Sunday
  c.minutes = to_bits<60>(bits[0]);
  c.hours = to_bits<24>(bits[1]);
  c.days_of_month = to_bits<32>(bits[2]);
  c.months = to_bits<13>(bits[3]);
  c.days_of_week = to_bits<7>(bits[4]);
  c.dom_restricted = restricted[2];
  c.dow_restricted = restricted[4];
  return c;
}

Result<const date::time_zone*> find_zone(std::string_view name) {
  std::string n(name.empty() ? "UTC" : name);
  try {
    return date::locate_zone(n);
  } catch (const std::exception& e) {
    return make_error("unknown time zone '{}' (use an IANA name such as Europe/Berlin or Asia/Seoul)", n);
  }
}

Result<std::bitset<7>> parse_days(std::string_view text) {
  std::bitset<7> out;
  for (std::string_view part : split(text, ',')) {
    part = trim(part);
    auto day = [&](std::string_view d) -> Result<int> {
      std::string l = lower(trim(d));
      for (size_t i = 0; i < kDays.size(); ++i) {
        if (l == kDays[i]) return static_cast<int>(i);
      }
      return make_error("'{}' is not a day (use mon, tue, wed, thu, fri, sat, sun or a range mon-fri)", d);
    };
    auto dash = part.find('-');
    if (dash == std::string_view::npos) {
      auto d = day(part);
      if (!d) return d.error();
      out.set(static_cast<size_t>(*d));
    } else {
      auto a = day(part.substr(0, dash));
      if (!a) return a.error();
      auto b = day(part.substr(dash + 1));
      if (!b) return b.error();
      // A range wraps around the week: "fri-mon" is fri, sat, sun, mon.
      for (int d = *a;; d = (d + 1) % 7) {
        out.set(static_cast<size_t>(d));
        if (d == *b) break;
      }
    }
  }
  return out;
}

Result<int> parse_clock(std::string_view text) {
  text = trim(text);
  auto colon = text.find(':');
  int h = -1, m = -1;
  if (colon != std::string_view::npos && colon > 0 && colon + 3 == text.size()) {
    auto r1 = std::from_chars(text.data(), text.data() + colon, h);
    auto r2 = std::from_chars(text.data() + colon + 1, text.data() + text.size(), m);
    if (r1.ec != std::errc() || r1.ptr != text.data() + colon || r2.ec != std::errc() ||
        r2.ptr != text.data() + text.size()) {
      h = -1;
    }
  }
  if (h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0)) {
    return make_error("'{}' is not a time of day (use HH:MM, 00:00 to 24:00)", text);
  }
  return h * 60 + m;
}

bool LocalWindow::contains(date::local_time<minutes> t) const {
  auto day = floor<date::days>(t);
  int minute = static_cast<int>((t - day).count());
  unsigned wd = date::weekday(day).c_encoding();
  if (start < end) return days[wd] && minute >= start && minute < end;
  // Across midnight: the evening part belongs to a listed day, the morning part to the
  // day after a listed day.
  if (minute >= start) return days[wd];
  if (minute < end) return days[(wd + 6) % 7];
  return false;
}

Result<LocalWindow> parse_window(const v1::TimeWindow& w) {
  LocalWindow out;
  if (w.days().empty()) out.days.set();
  for (const auto& d : w.days()) {
    FD_ASSIGN(bits, parse_days(d), "window");
    out.days |= bits;
  }
  if (w.start().empty() || w.end().empty()) return make_error("a window needs start and end (HH:MM)");
  FD_ASSIGN(s, parse_clock(w.start()), "window start");
  FD_ASSIGN(e, parse_clock(w.end()), "window end");
  if (s == e) return make_error("window {}-{} is empty", w.start(), w.end());
  out.start = s;
  out.end = e;
  return out;
}

Result<DateRange> parse_date_range(std::string_view text) {
  auto one = [](std::string_view s) -> Result<date::local_days> {
    s = trim(s);
    int y = 0;
    unsigned m = 0, d = 0;
    bool shape = s.size() == 10 && s[4] == '-' && s[7] == '-';
    if (shape) {
      auto r1 = std::from_chars(s.data(), s.data() + 4, y);
      auto r2 = std::from_chars(s.data() + 5, s.data() + 7, m);
      auto r3 = std::from_chars(s.data() + 8, s.data() + 10, d);
      shape = r1.ec == std::errc() && r1.ptr == s.data() + 4 && r2.ec == std::errc() &&
              r2.ptr == s.data() + 7 && r3.ec == std::errc() && r3.ptr == s.data() + 10;
    }
    date::year_month_day ymd{date::year{y}, date::month{m}, date::day{d}};
    if (!shape || !ymd.ok()) return make_error("'{}' is not a date (use YYYY-MM-DD)", s);
    return date::local_days(ymd);
  };
  auto dots = text.find("..");
  if (dots == std::string_view::npos) {
    auto d = one(text);
    if (!d) return d.error();
    return DateRange{*d, *d};
  }
  auto a = one(text.substr(0, dots));
  if (!a) return a.error();
  auto b = one(text.substr(dots + 2));
  if (!b) return b.error();
  if (*b < *a) return make_error("date range '{}' ends before it starts", text);
  return DateRange{*a, *b};
}

WallTime local_to_instant(const date::time_zone* zone, date::local_time<minutes> t) {
  date::local_info info = zone->get_info(t);
  date::sys_seconds sys;
  switch (info.result) {
    case date::local_info::unique:
    case date::local_info::ambiguous:  // the first occurrence
      sys = date::sys_seconds{(t - info.first.offset).time_since_epoch()};
      break;
    case date::local_info::nonexistent:  // the instant the gap ends
      sys = info.first.end;
      break;
  }
  return WallTime(duration_cast<WallClock::duration>(sys.time_since_epoch()));
}

Result<Calendar> Calendar::compile(const v1::Schedule& s) {
  Calendar c;
  FD_ASSIGN(cron, parse_cron(s.cron()), "schedule");
  c.cron_ = std::move(cron);
  FD_ASSIGN(zone, find_zone(s.time_zone()), "schedule");
  c.zone_ = zone;
  for (const auto& w : s.windows()) {
    FD_ASSIGN(win, parse_window(w), "schedule");
    c.windows_.push_back(win);
  }
  for (const auto& b : s.blackout_dates()) {
    FD_ASSIGN(range, parse_date_range(b), "schedule");
    c.blackouts_.push_back(range);
  }
  return c;
}

bool Calendar::allowed(date::local_time<minutes> t) const {
  auto day = floor<date::days>(t);
  for (const auto& b : blackouts_) {
    if (day >= b.first && day <= b.last) return false;
  }
  if (windows_.empty()) return true;
  return std::any_of(windows_.begin(), windows_.end(), [&](const LocalWindow& w) { return w.contains(t); });
}

std::optional<WallTime> Calendar::next_after(WallTime t) const {
  // Local times map to instants monotonically (see local_to_instant), so the first
  // matching local second at or after t's own local minute whose instant is after t
  // is the answer.
  date::sys_time<minutes> sys_min = floor<minutes>(date::sys_time<WallClock::duration>(t.time_since_epoch()));
  date::local_time<minutes> local_start = floor<minutes>(zone_->to_local(sys_min));
  date::local_days first_day = floor<date::days>(local_start);
  const date::local_days last_day = first_day + date::days(5 * 366);
  for (date::local_days day = first_day; day <= last_day; day += date::days(1)) {
    date::year_month_day ymd{day};
    if (!cron_.matches_day(ymd)) continue;
    for (int h = 0; h < 24; ++h) {
      if (!cron_.hours[static_cast<size_t>(h)]) continue;
      for (int m = 0; m < 60; ++m) {
        if (!cron_.minutes[static_cast<size_t>(m)]) continue;
        date::local_time<minutes> lt = day + hours(h) + minutes(m);
        if (lt < local_start) continue;
        if (!allowed(lt)) continue;
        WallTime minute = local_to_instant(zone_, lt);
        // A minute skipped by a clock change maps to the instant the gap ends: all its
        // seconds do too, and fire once.
        bool skipped = zone_->get_info(lt).result == date::local_info::nonexistent;
        for (int sec = 0; sec < 60; ++sec) {
          if (!cron_.seconds[static_cast<size_t>(sec)]) continue;
          WallTime when = skipped ? minute : minute + std::chrono::seconds(sec);
          if (when > t) return when;
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace firedrill::calendar
