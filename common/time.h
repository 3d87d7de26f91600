// Time for firedrill: wall clock for leases and records (UTC, on the wire as
// google.protobuf.Timestamp), a steady clock for timers, and human durations
// ("500ms", "10m", "1h30m") as used in experiment files and CLIs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include "common/result.h"

namespace firedrill {

using WallClock = std::chrono::system_clock;
using WallTime = WallClock::time_point;
using SteadyClock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// "250ms", "10s", "5m", "2h", "1h30m", "1.5s". No sign; at least one unit.
Result<std::chrono::nanoseconds> parse_duration(std::string_view text);
// The shortest exact form: 1500ms -> "1.5s", 600s -> "10m".
std::string format_duration(std::chrono::nanoseconds d);

google::protobuf::Timestamp to_proto(WallTime t);
WallTime from_proto(const google::protobuf::Timestamp& t);
google::protobuf::Duration to_proto_duration(std::chrono::nanoseconds d);
std::chrono::nanoseconds from_proto(const google::protobuf::Duration& d);

// UTC microseconds since the epoch (truncated): how stores keep instants.
int64_t to_unix_micros(WallTime t);
WallTime from_unix_micros(int64_t us);

// RFC 3339 in UTC with milliseconds: 2026-11-21T09:00:00.123Z
std::string format_utc(WallTime t);

// CLOCK_MONOTONIC in ns (what BPF's bpf_ktime_get_ns reads), and the mapping between it
// and the wall clock as it stands now: to start a kernel-side timer at a wall-clock
// instant, and to report a kernel timestamp as a wall-clock time.
uint64_t mono_ns();
uint64_t mono_ns_of_wall(WallTime t);
WallTime wall_of_mono_ns(uint64_t ns);

// Returns at `at` (at once when it has passed or is unset): an absolute timer
// (CLOCK_REALTIME, TIMER_ABSTIME: a clock step moves the wake-up with it) woken 2 ms
// early and finished by spinning, so that the kernel's wake-up latency does not delay
// the instant. For the start of a staged fault's parts.
void sleep_until_precise(WallTime at);

}  // namespace firedrill
