// The scheduler: cron parsing, next-run times across time zones and DST changes,
// windows and blackouts; persisted schedules that survive a restart and never start
// one occurrence twice.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "controller/experiment/loader.h"
#include "controller/calendar/calendar.h"
#include "controller/scheduler/scheduler.h"

namespace firedrill::scheduler {
namespace {

using namespace std::chrono_literals;
using namespace firedrill::calendar;

// "2026-03-08T06:59:00Z" -> WallTime
WallTime utc(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  EXPECT_EQ(std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &sec), 6) << text;
  date::sys_days day{date::year{y} / date::month{static_cast<unsigned>(mo)} / date::day{static_cast<unsigned>(d)}};
  auto tp = day + std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(sec);
  return WallTime(std::chrono::duration_cast<WallClock::duration>(tp.time_since_epoch()));
}

std::string iso(WallTime t) {
  return date::format("%Y-%m-%dT%H:%M:%SZ", date::floor<std::chrono::seconds>(date::sys_time<WallClock::duration>(t.time_since_epoch())));
}

Calendar calendar(const std::string& cron, const std::string& zone, std::vector<v1::TimeWindow> windows = {},
                  std::vector<std::string> blackouts = {}) {
  v1::Schedule s;
  s.set_cron(cron);
  s.set_time_zone(zone);
  for (auto& w : windows) *s.add_windows() = w;
  for (auto& b : blackouts) s.add_blackout_dates(b);
  auto c = Calendar::compile(s);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().describe());
  return std::move(c).value();
}

std::string next(const Calendar& c, const std::string& after) {
  auto n = c.next_after(utc(after));
  return n ? iso(*n) : "never";
}

// The successive firings after `after`.
std::vector<std::string> nexts(const Calendar& c, const std::string& after, int count) {
  std::vector<std::string> out;
  WallTime t = utc(after);
  for (int i = 0; i < count; ++i) {
    auto n = c.next_after(t);
    if (!n) break;
    out.push_back(iso(*n));
    t = *n;
  }
  return out;
}

TEST(Cron, ParsesFieldsRangesStepsListsAndNames) {
  auto c = parse_cron("5,35 */6 1-7 jan,JUL-sep mon-fri");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->minutes.count(), 2u);
  EXPECT_TRUE(c->minutes[5] && c->minutes[35]);
  EXPECT_EQ(c->hours.count(), 4u);
  EXPECT_TRUE(c->hours[0] && c->hours[6] && c->hours[12] && c->hours[18]);
  EXPECT_EQ(c->days_of_month.count(), 7u);
  EXPECT_EQ(c->months.count(), 4u);
  EXPECT_TRUE(c->months[1] && c->months[7] && c->months[9] && !c->months[10]);
  EXPECT_EQ(c->days_of_week.count(), 5u);
  EXPECT_FALSE(c->days_of_week[0]);
  auto sunday = parse_cron("0 0 * * 7");
  ASSERT_TRUE(sunday.ok());
  EXPECT_TRUE(sunday->days_of_week[0]);
  auto from = parse_cron("10/20 * * * *");
  ASSERT_TRUE(from.ok());
  EXPECT_TRUE(from->minutes[10] && from->minutes[30] && from->minutes[50] && !from->minutes[0]);
  auto daily = parse_cron("@daily");
  ASSERT_TRUE(daily.ok());
  EXPECT_TRUE(daily->minutes[0] && daily->hours[0] && daily->hours.count() == 1);
}

TEST(Cron, RejectsMalformedExpressionsClearly) {
  struct Bad {
    const char* text;
    const char* message;
  };
  for (const Bad& b : std::vector<Bad>{
           {"* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), or 6 with the second first, found 4"},
           {"60 * * * * *", "second field: 60 is out of range 0-59"},
           {"60 * * * *", "minute field: 60 is out of range 0-59"},
           {"* 24 * * *", "hour field: 24 is out of range 0-23"},
           {"* * 0 * *", "day-of-month field: 0 is out of range 1-31"},
           {"* * * 13 *", "month field: 13 is out of range 1-12"},
           {"* * * * 8", "day-of-week field: 8 is out of range 0-7"},
           {"*/0 * * * *", "minute field: bad step '0'"},
           {"5-1 * * * *", "minute field: range 5-1 is backwards"},
           {"* * * foo *", "month field: 'foo' is not a number or a name"},
           {"1,,2 * * * *", "empty list element"},
           {"@sometimes", "unknown macro"},
       }) {
    auto c = parse_cron(b.text);
    ASSERT_FALSE(c.ok()) << b.text;
    EXPECT_NE(c.error().message.find(b.message), std::string::npos) << b.text << ": " << c.error().message;
  }
}

TEST(Calendar, NextRunInUtcAndOtherZones) {
  auto every15 = calendar("*/15 * * * *", "");
  EXPECT_EQ(next(every15, "2026-11-21T10:07:00Z"), "2026-11-21T10:15:00Z");
  EXPECT_EQ(next(every15, "2026-11-21T10:15:00Z"), "2026-11-21T10:30:00Z");  // strictly after
  EXPECT_EQ(next(every15, "2026-11-21T10:14:59Z"), "2026-11-21T10:15:00Z");
  // 10:00 on weekdays in Seoul (UTC+9, no DST) is 01:00 UTC; after Friday comes Monday.
  auto seoul = calendar("0 10 * * mon-fri", "Asia/Seoul");
  EXPECT_EQ(next(seoul, "2026-11-20T00:00:00Z"), "2026-11-20T01:00:00Z");
  EXPECT_EQ(next(seoul, "2026-11-20T01:00:00Z"), "2026-11-23T01:00:00Z");
  // The same expression in New York (UTC-5 in November).
  auto ny = calendar("0 10 * * mon-fri", "America/New_York");
  EXPECT_EQ(next(ny, "2026-11-20T00:00:00Z"), "2026-11-20T15:00:00Z");
  // India has a half-hour offset.
  auto kolkata = calendar("0 9 * * *", "Asia/Kolkata");
  EXPECT_EQ(next(kolkata, "2026-11-20T00:00:00Z"), "2026-11-20T03:30:00Z");
}

TEST(Calendar, SpringForwardRunsSkippedTimesOnceWhenTheGapEnds) {
  // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
  auto c = calendar("30 2 * * *", "America/New_York");
  EXPECT_EQ(nexts(c, "2026-03-07T00:00:00Z", 3),
            (std::vector<std::string>{"2026-03-07T07:30:00Z",    // 02:30 EST
                                      "2026-03-08T07:00:00Z",    // 02:30 does not exist: 03:00 EDT
                                      "2026-03-09T06:30:00Z"})); // 02:30 EDT
  // Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC). Four skipped times
  // fire once, at the end of the gap, then 03:00 CEST follows.
  auto b = calendar("*/15 2-3 * * *", "Europe/Berlin");
  EXPECT_EQ(nexts(b, "2026-03-29T00:50:00Z", 3),
            (std::vector<std::string>{"2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z", "2026-03-29T01:30:00Z"}));
}

// A sixth field, first, gives the seconds; without it a schedule fires at second 0.
TEST(Calendar, ASixthFieldFiresWithinTheMinute) {
  auto every5 = calendar("*/5 * * * * *", "");
  EXPECT_EQ(nexts(every5, "2026-11-21T10:07:58Z", 3),
            (std::vector<std::string>{"2026-11-21T10:08:00Z", "2026-11-21T10:08:05Z", "2026-11-21T10:08:10Z"}));
  auto half = calendar("30 */15 * * * *", "");
  EXPECT_EQ(next(half, "2026-11-21T10:15:29Z"), "2026-11-21T10:15:30Z");
  EXPECT_EQ(next(half, "2026-11-21T10:15:30Z"), "2026-11-21T10:30:30Z");
  // Berlin's skipped hour (2026-03-29, 02:00 CET to 03:00 CEST): its seconds fire once,
  // when the gap ends; the next 02:00 is the day after.
  auto gap = calendar("*/20 * 2 * * *", "Europe/Berlin");
  EXPECT_EQ(nexts(gap, "2026-03-29T00:59:50Z", 2),
            (std::vector<std::string>{"2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"}));
}

TEST(Calendar, FallBackRunsARepeatedTimeOnlyOnce) {
  // New York, 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:30 happens twice.
  auto c = calendar("30 1 * * *", "America/New_York");
  EXPECT_EQ(nexts(c, "2026-10-31T12:00:00Z", 2),
            (std::vector<std::string>{"2026-11-01T05:30:00Z",    // 01:30 EDT, the first one
                                      "2026-11-02T06:30:00Z"})); // next day, 01:30 EST
  // Every 30 minutes: the repeated hour does not fire again.
  auto half = calendar("*/30 * * * *", "America/New_York");
  EXPECT_EQ(nexts(half, "2026-11-01T05:00:00Z", 3),
            (std::vector<std::string>{"2026-11-01T05:30:00Z",   // 01:30 EDT
                                      "2026-11-01T07:00:00Z",   // 02:00 EST (01:00-01:59 EST skipped)
                                      "2026-11-01T07:30:00Z"}));
  // Sydney goes back on 2026-04-05 at 03:00 AEDT -> 02:00 AEST.
  auto syd = calendar("30 2 * * *", "Australia/Sydney");
  EXPECT_EQ(nexts(syd, "2026-04-04T12:00:00Z", 2),
            (std::vector<std::string>{"2026-04-04T15:30:00Z",   // 02:30 AEDT (UTC+11)
                                      "2026-04-05T16:30:00Z"})); // next day, 02:30 AEST (UTC+10)
}

TEST(Calendar, WindowsRestrictFirings) {
  v1::TimeWindow office;
  office.add_days("mon-fri");
  office.set_start("10:00");
  office.set_end("16:00");
  auto c = calendar("*/15 * * * *", "Asia/Seoul", {office});
  // Friday 2026-11-20 15:50 KST is 06:50 UTC: 16:00 is outside (end exclusive), so the
  // next firing is Monday 10:00 KST.
  EXPECT_EQ(next(c, "2026-11-20T06:40:00Z"), "2026-11-20T06:45:00Z");
  EXPECT_EQ(next(c, "2026-11-20T06:50:00Z"), "2026-11-23T01:00:00Z");
  // A window across midnight belongs to the day it starts on.
  v1::TimeWindow night;
  night.add_days("fri");
  night.set_start("22:00");
  night.set_end("02:00");
  auto n = calendar("0 * * * *", "UTC", {night});
  EXPECT_EQ(nexts(n, "2026-11-20T12:00:00Z", 5),
            (std::vector<std::string>{"2026-11-20T22:00:00Z", "2026-11-20T23:00:00Z", "2026-11-21T00:00:00Z",
                                      "2026-11-21T01:00:00Z", "2026-11-27T22:00:00Z"}));
}

TEST(Calendar, BlackoutDatesAreLocalDates) {
  // Daily at 23:30 in Seoul; 2026-12-24..26 are blacked out (local dates). 23:30 KST on
  // the 23rd is 14:30 UTC on the 23rd.
  auto c = calendar("30 23 * * *", "Asia/Seoul", {}, {"2026-12-24..2026-12-26", "2027-01-01"});
  EXPECT_EQ(nexts(c, "2026-12-23T00:00:00Z", 2),
            (std::vector<std::string>{"2026-12-23T14:30:00Z", "2026-12-27T14:30:00Z"}));
  EXPECT_EQ(next(c, "2026-12-31T14:30:00Z"), "2027-01-02T14:30:00Z");
}

TEST(Calendar, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
  // Midnight on the 13th and on every Friday (crontab semantics).
  auto c = calendar("0 0 13 * fri", "UTC");
  EXPECT_EQ(nexts(c, "2026-11-10T00:00:00Z", 3),
            (std::vector<std::string>{"2026-11-13T00:00:00Z",    // Friday the 13th
                                      "2026-11-20T00:00:00Z", "2026-11-27T00:00:00Z"}));
  EXPECT_EQ(next(c, "2026-11-28T00:00:00Z"), "2026-12-04T00:00:00Z");
  EXPECT_EQ(nexts(c, "2026-12-05T00:00:00Z", 2),
            (std::vector<std::string>{"2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z"}));
}

TEST(Calendar, NeverWhenNothingCanMatch) {
  EXPECT_EQ(next(calendar("0 0 30 2 *", "UTC"), "2026-01-01T00:00:00Z"), "never");
  EXPECT_EQ(next(calendar("0 0 29 2 *", "UTC"), "2026-01-01T00:00:00Z"), "2028-02-29T00:00:00Z");
}

// ---------------------------------------------------------------- persisted schedules

class FakeLauncher : public Launcher {
 public:
  Result<std::string> launch(const v1::ScheduleRecord& s, const v1::Experiment& e, WallTime due) override {
    if (fail) return make_error("halted");
    std::string id = "run-" + std::to_string(++count);
    launched.push_back({id, e, due});
    active_runs.insert(id);
    return id;
  }
  bool active(const std::string& run_id) override { return active_runs.count(run_id) != 0; }

  struct Launch {
    std::string id;
    v1::Experiment experiment;
    WallTime due;
  };
  int count = 0;
  bool fail = false;
  std::vector<Launch> launched;
  std::set<std::string> active_runs;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fde-sched-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = controller::open_sqlite_store(dir_ + "/controller.db");
    ASSERT_TRUE(store) << store.error().describe();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  v1::ScheduleRecord draft(const std::string& schedule_yaml) {
    std::string yaml = std::string(
                           "name: sched\n"
                           "targets: {selector: role=web}\n"
                           "steps: [{fault: {power_loss: {}}, duration: 1m, targets: {selector: rack=r1}}]\n"
                           "probes: [{name: p, tcp: {address: \"127.0.0.1:17599\"}}]\n") +
                       schedule_yaml;
    auto loaded = experiment::parse_experiment(yaml, "sched.yaml");
    EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.diagnostics[0].to_string());
    v1::ScheduleRecord r;
    r.set_experiment_file("sched.yaml");
    r.set_experiment_yaml(yaml);
    r.set_experiment_sha256(loaded.sha256);
    *r.mutable_experiment() = loaded.experiment;
    r.set_created_by("test");
    return r;
  }

  std::string dir_;
  std::unique_ptr<controller::Store> store_;  // where schedules live
};

TEST_F(SchedulerTest, StartsRunsWhenDueAndPersistsAcrossRestart) {
  FakeLauncher launcher;
  std::string id;
  {
    Scheduler s(store_.get(), &launcher);
    ASSERT_TRUE(s.open().ok());
    auto added = s.add(draft("schedule: {cron: \"*/10 * * * *\", random_targets: 2}\n"), utc("2026-11-21T10:01:00Z"));
    ASSERT_TRUE(added.ok()) << added.error().describe();
    id = added->id();
    EXPECT_EQ(iso(from_proto(added->next_due())), "2026-11-21T10:10:00Z");
    EXPECT_TRUE(s.tick(utc("2026-11-21T10:09:59Z")).empty());
    auto started = s.tick(utc("2026-11-21T10:10:01Z"));
    ASSERT_EQ(started.size(), 1u);
    EXPECT_TRUE(s.tick(utc("2026-11-21T10:10:30Z")).empty());  // the same occurrence is not run again
    // random_targets: each run chooses 2 hosts with its own non-zero seed, in the
    // experiment's targets and every step's own.
    const auto& e = launcher.launched[0].experiment;
    EXPECT_EQ(e.targets().mode().count(), 2u);
    EXPECT_NE(e.targets().seed(), 0u);
    EXPECT_EQ(e.steps(0).targets().mode().count(), 2u);
    EXPECT_EQ(iso(launcher.launched[0].due), "2026-11-21T10:10:00Z");
  }
  // A new scheduler over the same directory (a controller restart) knows the schedule
  // and that 10:10 was handled.
  Scheduler again(store_.get(), &launcher);
  ASSERT_TRUE(again.open().ok());
  ASSERT_EQ(again.list().size(), 1u);
  EXPECT_EQ(again.list()[0].id(), id);
  EXPECT_TRUE(again.tick(utc("2026-11-21T10:10:40Z")).empty());
  launcher.active_runs.clear();
  EXPECT_EQ(again.tick(utc("2026-11-21T10:20:00Z")).size(), 1u);
  EXPECT_EQ(launcher.count, 2);
}

TEST_F(SchedulerTest, MissedRunsAfterDowntimeAreSkippedOrRunOnceWithinTheDeadline) {
  FakeLauncher launcher;
  Scheduler s(store_.get(), &launcher);
  ASSERT_TRUE(s.open().ok());
  auto strict = s.add(draft("schedule: {cron: \"*/10 * * * *\"}\n"), utc("2026-11-21T10:00:00Z"));
  auto lenient = s.add(draft("schedule: {cron: \"*/10 * * * *\", starting_deadline: 15m, concurrency: allow}\n"),
                       utc("2026-11-21T10:00:00Z"));
  ASSERT_TRUE(strict.ok() && lenient.ok());
  // The controller was away from 10:00 to 10:42: 10:10, 10:20, 10:30 and 10:40 are due.
  auto started = s.tick(utc("2026-11-21T10:42:00Z"));
  // strict (deadline 1 minute): 10:40 is 2 minutes late, so nothing runs.
  // lenient (15 minutes): only the latest, 10:40, runs, once.
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(iso(launcher.launched[0].due), "2026-11-21T10:40:00Z");
  auto strict_after = s.get(strict->id());
  ASSERT_TRUE(strict_after.ok());
  ASSERT_EQ(strict_after->history_size(), 2);
  EXPECT_NE(strict_after->history(0).outcome().find("missed (3 occurrence(s)"), std::string::npos);
  EXPECT_EQ(strict_after->history(1).outcome(), "missed (later than the starting deadline)");
  EXPECT_TRUE(s.tick(utc("2026-11-21T10:43:00Z")).empty());
  EXPECT_EQ(s.tick(utc("2026-11-21T10:50:00Z")).size(), 2u);
}

TEST_F(SchedulerTest, ConcurrencyForbidSkipsWhileThePreviousRunIsActive) {
  FakeLauncher launcher;
  Scheduler s(store_.get(), &launcher);
  ASSERT_TRUE(s.open().ok());
  auto r = s.add(draft("schedule: {cron: \"* * * * *\", concurrency: forbid}\n"), utc("2026-11-21T10:00:30Z"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(s.tick(utc("2026-11-21T10:01:00Z")).size(), 1u);
  EXPECT_TRUE(s.tick(utc("2026-11-21T10:02:00Z")).empty());  // run-1 still active
  auto rec = s.get(r->id());
  EXPECT_EQ(rec->history(rec->history_size() - 1).outcome(), "skipped: previous run run-1 still active");
  launcher.active_runs.clear();
  EXPECT_EQ(s.tick(utc("2026-11-21T10:03:00Z")).size(), 1u);
}

TEST_F(SchedulerTest, PauseAndResume) {
  FakeLauncher launcher;
  Scheduler s(store_.get(), &launcher);
  ASSERT_TRUE(s.open().ok());
  auto r = s.add(draft("schedule: {cron: \"*/5 * * * *\", concurrency: allow, starting_deadline: 1h}\n"),
                 utc("2026-11-21T10:00:00Z"));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(s.pause(r->id(), utc("2026-11-21T10:01:00Z")).ok());
  EXPECT_TRUE(s.tick(utc("2026-11-21T10:05:00Z")).empty());
  EXPECT_TRUE(s.tick(utc("2026-11-21T10:20:00Z")).empty());
  {
    Scheduler reopened(store_.get(), &launcher);  // paused survives a restart
    ASSERT_TRUE(reopened.open().ok());
    EXPECT_TRUE(reopened.list()[0].paused());
  }
  // Resuming at 10:21 does not run 10:05..10:20 late, despite the 1h deadline.
  auto resumed = s.resume(r->id(), utc("2026-11-21T10:21:00Z"));
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(iso(from_proto(resumed->next_due())), "2026-11-21T10:25:00Z");
  EXPECT_TRUE(s.tick(utc("2026-11-21T10:22:00Z")).empty());
  EXPECT_EQ(s.tick(utc("2026-11-21T10:25:00Z")).size(), 1u);
  ASSERT_TRUE(s.remove(r->id()).ok());
  EXPECT_TRUE(s.list().empty());
  Scheduler reopened(store_.get(), &launcher);
  ASSERT_TRUE(reopened.open().ok());
  EXPECT_TRUE(reopened.list().empty());
}

TEST_F(SchedulerTest, AFailedStartIsRecordedAndNotRetried) {
  FakeLauncher launcher;
  launcher.fail = true;
  Scheduler s(store_.get(), &launcher);
  ASSERT_TRUE(s.open().ok());
  auto r = s.add(draft("schedule: {cron: \"*/5 * * * *\"}\n"), utc("2026-11-21T10:00:00Z"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(s.tick(utc("2026-11-21T10:05:00Z")).empty());
  auto rec = s.get(r->id());
  EXPECT_EQ(rec->history(0).outcome(), "failed: halted");
  launcher.fail = false;
  EXPECT_TRUE(s.tick(utc("2026-11-21T10:06:00Z")).empty());
  EXPECT_EQ(s.tick(utc("2026-11-21T10:10:00Z")).size(), 1u);
}

TEST_F(SchedulerTest, RefusesAnExperimentWithoutSchedule) {
  FakeLauncher launcher;
  Scheduler s(store_.get(), &launcher);
  ASSERT_TRUE(s.open().ok());
  auto r = s.add(draft(""), utc("2026-11-21T10:00:00Z"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "experiment 'sched' has no schedule");
}

}  // namespace
}  // namespace firedrill::scheduler

namespace firedrill::scheduler {
namespace {

// The stored schedule as a leader leaves it when it dies between claiming an occurrence
// (written, under its epoch on a shared store) and starting its run.
v1::ScheduleRecord claimed_only(controller::Store& store, const std::string& id) {
  auto all = store.schedules();
  EXPECT_TRUE(all.ok());
  for (auto r : *all) {
    if (r.id() != id) continue;
    auto* last = r.mutable_history(r.history_size() - 1);
    last->set_outcome("claimed");
    last->set_run_id("");
    r.clear_last_run_id();
    EXPECT_TRUE(store.put_schedule(r).ok());
    return r;
  }
  ADD_FAILURE() << "no schedule " << id;
  return {};
}

// Across a takeover none runs twice and none is lost: an occurrence the lost leader
// claimed but never started is started by the next leader, late and once; one whose
// run the lost leader recorded is not started again.
TEST_F(SchedulerTest, AClaimedOccurrenceWithoutARunStartsLateOnceAtTheNextLeaderAndOneWithARunDoesNot) {
  FakeLauncher first;
  std::string id;
  {
    Scheduler s(store_.get(), &first);
    ASSERT_TRUE(s.open().ok());
    auto added = s.add(draft("schedule: {cron: \"*/10 * * * *\"}\n"), utc("2026-11-21T10:01:00Z"));
    ASSERT_TRUE(added.ok()) << added.error().describe();
    id = added->id();
    ASSERT_EQ(s.tick(utc("2026-11-21T10:10:01Z")).size(), 1u);
  }
  claimed_only(*store_, id);
  FakeLauncher next;
  Scheduler taken(store_.get(), &next);
  ASSERT_TRUE(taken.open().ok());
  auto late = taken.finish_claimed(utc("2026-11-21T10:10:05Z"));
  ASSERT_EQ(late.size(), 1u);
  ASSERT_EQ(next.launched.size(), 1u);
  EXPECT_EQ(iso(next.launched[0].due), "2026-11-21T10:10:00Z");
  EXPECT_TRUE(taken.finish_claimed(utc("2026-11-21T10:10:06Z")).empty()) << "started twice";
  EXPECT_TRUE(taken.tick(utc("2026-11-21T10:10:07Z")).empty()) << "the same occurrence ran again";
  auto r = taken.get(id);
  ASSERT_TRUE(r.ok()) << r.error().describe() << " id '" << id << "', " << taken.list().size() << " schedule(s)";
  EXPECT_EQ(r->history(r->history_size() - 1).outcome(), "started");
  EXPECT_EQ(r->last_run_id(), late[0]);

  // Claimed, and its run recorded before the leader was lost: not started again.
  next.active_runs.clear();
  ASSERT_EQ(taken.tick(utc("2026-11-21T10:20:01Z")).size(), 1u);
  std::string recorded = next.launched.back().id;
  auto claimed = claimed_only(*store_, id);
  v1::RunRecord run;
  run.set_id(recorded);
  run.set_schedule_id(id);
  *run.mutable_created_at() = claimed.history(claimed.history_size() - 1).handled_at();
  ASSERT_TRUE(store_->put_run(run).ok());
  FakeLauncher third;
  Scheduler again(store_.get(), &third);
  ASSERT_TRUE(again.open().ok());
  EXPECT_TRUE(again.finish_claimed(utc("2026-11-21T10:20:05Z")).empty());
  EXPECT_TRUE(third.launched.empty());
  auto after = again.get(id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->last_run_id(), recorded);
  EXPECT_EQ(after->history(after->history_size() - 1).outcome(), "started");
}

}  // namespace
}  // namespace firedrill::scheduler
