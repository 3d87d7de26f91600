#include "common/time.h"

#include <algorithm>

#include <cmath>
#include <ctime>

namespace firedrill {

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  using namespace std::chrono;
  if (text.empty()) return make_error("empty duration (expected e.g. 500ms, 10s, 5m)");
  double total_ns = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (start == i) return make_error("duration '{}': expected a number at position {}", text, start + 1);
    double number = 0;
    try {
      number = std::stod(std::string(text.substr(start, i - start)));
    } catch (...) {
      return make_error("duration '{}': bad number at position {}", text, start + 1);
    }
    size_t ustart = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(ustart, i - ustart);
    double scale = 0;
    if (unit == "ns") scale = 1;
    else if (unit == "us") scale = 1e3;
    else if (unit == "ms") scale = 1e6;
    else if (unit == "s") scale = 1e9;
    else if (unit == "m") scale = 60e9;
    else if (unit == "h") scale = 3600e9;
    else if (unit == "d") scale = 86400e9;
    else if (unit.empty()) return make_error("duration '{}': missing unit after {} (use ns, us, ms, s, m, h, d)", text, number);
    else return make_error("duration '{}': unknown unit '{}' (use ns, us, ms, s, m, h, d)", text, unit);
    total_ns += number * scale;
  }
  if (total_ns > 1e18) return make_error("duration '{}' is too long", text);
  return nanoseconds(static_cast<int64_t>(std::llround(total_ns)));
}

std::string format_duration(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  int64_t ns = d.count();
  std::string sign = ns < 0 ? "-" : "";
  if (ns < 0) ns = -ns;
  if (ns == 0) return "0s";
  if (ns % 3'600'000'000'000 == 0) return fmt::format("{}{}h", sign, ns / 3'600'000'000'000);
  if (ns % 60'000'000'000 == 0) return fmt::format("{}{}m", sign, ns / 60'000'000'000);
  if (ns >= 1'000'000'000) {
    std::string s = fmt::format("{:.3f}", ns / 1e9);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return sign + s + "s";
  }
  if (ns % 1'000'000 == 0) return fmt::format("{}{}ms", sign, ns / 1'000'000);
  if (ns >= 1'000'000) return fmt::format("{}{:.3f}ms", sign, ns / 1e6);
  if (ns % 1000 == 0) return fmt::format("{}{}us", sign, ns / 1000);
  return fmt::format("{}{}ns", sign, ns);
}

google::protobuf::Timestamp to_proto(WallTime t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  google::protobuf::Timestamp ts;
  ts.set_seconds(ns / 1'000'000'000);
  ts.set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
  if (ts.nanos() < 0) {
    ts.set_seconds(ts.seconds() - 1);
    ts.set_nanos(ts.nanos() + 1'000'000'000);
  }
  return ts;
}

WallTime from_proto(const google::protobuf::Timestamp& t) {
  return WallTime(std::chrono::duration_cast<WallClock::duration>(
      std::chrono::seconds(t.seconds()) + std::chrono::nanoseconds(t.nanos())));
}

google::protobuf::Duration to_proto_duration(std::chrono::nanoseconds d) {
  google::protobuf::Duration out;
  out.set_seconds(d.count() / 1'000'000'000);
  out.set_nanos(static_cast<int32_t>(d.count() % 1'000'000'000));
  return out;
}

std::chrono::nanoseconds from_proto(const google::protobuf::Duration& d) {
  return std::chrono::seconds(d.seconds()) + std::chrono::nanoseconds(d.nanos());
}

std::string format_utc(WallTime t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(ms % 1000));
}

uint64_t mono_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t mono_ns_of_wall(WallTime t) {
  auto wall_now = WallClock::now();
  auto mono_now = static_cast<int64_t>(mono_ns());
  auto ahead = std::chrono::duration_cast<std::chrono::nanoseconds>(t - wall_now).count();
  return static_cast<uint64_t>(std::max<int64_t>(0, mono_now + ahead));
}

WallTime wall_of_mono_ns(uint64_t ns) {
  auto wall_now = WallClock::now();
  auto ago = static_cast<int64_t>(mono_ns()) - static_cast<int64_t>(ns);
  return wall_now - std::chrono::duration_cast<WallClock::duration>(std::chrono::nanoseconds(ago));
}

void sleep_until_precise(WallTime at) {
  constexpr auto kEarly = std::chrono::milliseconds(2);
  if (at == WallTime{} || WallClock::now() >= at) return;
  auto wake = std::chrono::duration_cast<std::chrono::nanoseconds>((at - kEarly).time_since_epoch()).count();
  timespec ts{static_cast<time_t>(wake / 1'000'000'000), static_cast<long>(wake % 1'000'000'000)};
  while (::clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
  while (WallClock::now() < at) {
  }
}

int64_t to_unix_micros(WallTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

WallTime from_unix_micros(int64_t us) {
  return WallTime(std::chrono::duration_cast<WallClock::duration>(std::chrono::microseconds(us)));
}

}  // namespace firedrill
