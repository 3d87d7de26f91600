// The experiment loader on a table of valid and broken files: every kind of error is
// reported with its file, line, column and field, and all errors of a file at once.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/time.h"
#include "controller/experiment/commands.h"
#include "controller/experiment/limits.h"
#include "controller/experiment/loader.h"
#include "controller/experiment/text_match.h"
#include "common/yaml/yaml_proto.h"

namespace firedrill::experiment {
namespace {

struct Expect {
  int line;
  int column;
  std::string field;
  std::string contains;
};

struct Case {
  const char* name;
  const char* yaml;
  std::vector<Expect> errors;
};

// A valid file to which each case adds its one mistake (line numbers count from here).
//  1 name: t
//  2 targets: {selector: a=b}
//  3 steps:
//  4   - fault: {power_loss: {}}
//  5     duration: 1s
//  6 probes:
//  7   - name: p
//  8     tcp: {address: "127.0.0.1:17500"}
#define BASE                      \
  "name: t\n"                     \
  "targets: {selector: a=b}\n"    \
  "steps:\n"                      \
  "  - fault: {power_loss: {}}\n" \
  "    duration: 1s\n"            \
  "probes:\n"                     \
  "  - name: p\n"                 \
  "    tcp: {address: \"127.0.0.1:17500\"}\n"

const std::vector<Case>& cases() {
  static const std::vector<Case> table = {
      {"unknown top-level field", BASE "descripton: x\n",
       {{9, 1, "descripton", "unknown field 'descripton' in Experiment (did you mean 'description'?)"}}},
      {"misspelled nested field, and the missing one it was meant to be",
       "name: t\n"
       "targets: {selector: a=b}\n"
       "steps:\n"
       "  - fault: {power_loss: {}}\n"
       "    durtion: 1s\n",
       {{5, 5, "steps[0].durtion", "did you mean 'duration'?"},
        {4, 5, "steps[0].duration", "required: how long the fault lasts"}}},
      {"unknown field without a close name lists the known ones", BASE "blast_radius: {zzzzzzzz: 1}\n",
       {{9, 16, "blast_radius.zzzzzzzz", "known: max_hosts, max_percent"}}},
      {"quoted number", BASE "blast_radius: {max_hosts: \"3\"}\n",
       {{9, 27, "blast_radius.max_hosts", "expected a non-negative integer, found a quoted string"}}},
      {"word for a number", BASE "blast_radius: {max_percent: lots}\n",
       {{9, 29, "blast_radius.max_percent", "expected a number, found 'lots'"}}},
      {"negative count", BASE "blast_radius: {max_hosts: -1}\n",
       {{9, 27, "blast_radius.max_hosts", "expected a non-negative integer, found '-1'"}}},
      {"out of range", BASE "blast_radius: {max_hosts: 99999999999}\n",
       {{9, 27, "blast_radius.max_hosts", "out of range"}}},
      {"list for a string", BASE "owner: [a, b]\n", {{9, 8, "owner", "expected a string, found a list"}}},
      {"scalar for a list",
       "name: t\n"
       "targets: {selector: a=b}\n"
       "steps:\n"
       "  - fault: {power_loss: {}}\n"
       "    duration: 1s\n"
       "probes:\n"
       "  - name: c\n"
       "    command: {argv: curl}\n",
       {{8, 21, "probes[0].command.argv", "expected a list, found a scalar"}}},
      {"scalar for a mapping", BASE "slo: fast\n", {{9, 6, "slo", "expected a mapping (Slo), found a scalar"}}},
      {"bad boolean value",
       "name: t\n"
       "targets: {selector: a=b}\n"
       "steps:\n"
       "  - fault: {power_loss: {}}\n"
       "    duration: 1s\n"
       "    hold: maybe\n"
       "probes: [{name: p, tcp: {address: \"h:1\"}}]\n",
       {{6, 11, "steps[0].hold", "expected true or false, found 'maybe'"}}},
      {"bad duration unit",
       "name: t\n"
       "targets: {selector: a=b}\n"
       "steps:\n"
       "  - fault: {power_loss: {}}\n"
       "    duration: 5 min\n"
       "probes: [{name: p, tcp: {address: \"h:1\"}}]\n",
       {{5, 15, "steps[0].duration", "bad duration '5 min'"}}},
      {"duration without unit",
       "name: t\n"
       "targets: {selector: a=b}\n"
       "steps:\n"
       "  - fault: {power_loss: {}}\n"
       "    duration: 10\n"
       "probes: [{name: p, tcp: {address: \"h:1\"}}]\n",
       {{5, 15, "steps[0].duration", "missing unit"}}},
      {"zero and negative durations",
       "name: t\n"
       "targets: {selector: a=b}\n"
       "steps:\n"
       "  - fault: {power_loss: {}}\n"
       "    duration: 0s\n"
       "probes: [{name: p, tcp: {address: \"h:1\"}, interval: -1s}]\n",
       {{5, 15, "steps[0].duration", "must be longer than zero"},
        {6, 53, "probes[0].interval", "bad duration '-1s'"}}},
      {"probe interval under 100ms", BASE "    interval: 50ms\n",
       {{9, 15, "probes[0].interval", "at least 100ms (got 50ms)"}}},
      {"empty selector",
       "name: t\n"
       "targets: {selector: \"\"}\n"
       "steps: [{fault: {power_loss: {}}, duration: 1s}]\n"
       "probes: [{name: p, tcp: {address: \"h:1\"}}]\n",
       {{2, 21, "targets.selector", "empty selector"}}},
      {"malformed selector",
       "name: t\n"
       "targets: {selector: \"rack in (p1\"}\n"
       "steps: [{fault: {power_loss: {}}, duration: 1s}]\n"
       "probes: [{name: p, tcp: {address: \"h:1\"}}]\n",
       {{2, 21, "targets.selector", "position"}}},
      {"no targets anywhere",
       "name: t\n"
       "steps: [{fault: {power_loss: {}}, duration: 1s}]\n"
       "probes: [{name: p, tcp: {address: \"h:1\"}}]\n",
       {{2, 9, "steps[0].targets", "no targets"}}},
      {"probe without a target",
       "name: t\n"
       "targets: {selector: a=b}\n"
       "steps: [{fault: {power_loss: {}}, duration: 1s}]\n"
       "probes:\n"
       "  - name: lonely\n"
       "    interval: 1s\n",
       {{5, 5, "probes[0]", "probe has no target"}}},
      {"http probe without a URL",
       "name: t\n"
       "targets: {selector: a=b}\n"
       "steps: [{fault: {power_loss: {}}, duration: 1s}]\n"
       "probes:\n"
       "  - name: web\n"
       "    http: {method: GET}\n",
       {{6, 11, "probes[0].http.url", "required: the URL to probe"}}},
      {"tcp address without port",
       "name: t\n"
       "targets: {selector: a=b}\n"
       "steps: [{fault: {power_loss: {}}, duration: 1s}]\n"
       "probes:\n"
       "  - {name: db, tcp: {address: 10.0.0.1}}\n",
       {{5, 31, "probes[0].tcp.address", "is not host:port"}}},
      {"data probe that writes no marker",
       "name: t\n"
       "targets: {selector: a=b}\n"
       "steps: [{fault: {power_loss: {}}, duration: 1s}]\n"
       "probes:\n"
       "  - name: d\n"
       "    data: {write: [echo, hi], read: [cat, f]}\n",
       {{6, 19, "probes[0].data.write", "no argument holds {marker}"}}},
      {"bad enum",
       BASE "test_type: gameday\n",
       {{9, 12, "test_type", "'gameday' is not one of: game_day, continuous, ad_hoc"}}},
      {"two members of a oneof",
       "name: t\n"
       "targets: {selector: a=b}\n"
       "steps:\n"
       "  - fault: {power_loss: {}, network: {blackhole: {}}}\n"
       "    duration: 1s\n"
       "probes: [{name: p, tcp: {address: \"h:1\"}}]\n",
       {{4, 29, "steps[0].fault.network", "'power_loss' and 'network' are alternatives"}}},
      {"duplicate key", BASE "name: u\n", {{9, 1, "name", "duplicate key"}}},
      {"YAML syntax error", "name: t\nsteps: [a\nprobes: 1\n", {{3, 7, "", "YAML syntax error"}}},
      // yaml-cpp 0.7's LoadAll never returned on this (found by experiment_loader_fuzz).
      {"a document cannot start with ','", ",C", {{1, 1, "", "a document cannot start with ','"}}},
      {"empty file", "", {{0, 0, "", "the file is empty"}}},
      {"not a mapping", "- a\n- b\n", {{1, 1, "", "expected a mapping (Experiment), found a list"}}},
      {"SLO naming a probe that does not exist", BASE "slo: {availability: {min: 0.9, probes: [web]}}\n",
       {{9, 41, "slo.availability.probes[0]", "no probe named 'web'"}}},
      {"availability out of range", BASE "slo: {availability: {min: 90}}\n",
       {{9, 27, "slo.availability.min", "a fraction above 0 and at most 1"}}},
      {"SLO without its target", BASE "slo: {failover_time: {consecutive: 3}}\n",
       {{9, 22, "slo.failover_time.max", "required: the target"}}},
      {"data loss without a data probe", BASE "slo: {data_loss: {max_markers: 0}}\n",
       {{9, 18, "slo.data_loss", "no data probe"}}},
      {"fault without a kind",
       "name: t\n"
       "targets: {selector: a=b}\n"
       "steps:\n"
       "  - fault: {network: {interfaces: [eth1]}}\n"
       "    duration: 1s\n"
       "probes: [{name: p, tcp: {address: \"h:1\"}}]\n",
       {{4, 22, "steps[0].fault.network", "drop, blackhole or partition"}}},
      {"bad CIDR",
       "name: t\n"
       "targets: {selector: a=b}\n"
       "steps:\n"
       "  - fault: {network: {partition: {peer_cidrs: [10.0.0.0/33]}}}\n"
       "    duration: 1s\n"
       "probes: [{name: p, tcp: {address: \"h:1\"}}]\n",
       {{4, 48, "steps[0].fault.network.partition.peer_cidrs[0]", "'10.0.0.0/33' is not a CIDR"}}},
      {"bad schedule",
       BASE
       "schedule:\n"
       "  cron: \"61 * * * *\"\n"
       "  time_zone: Mars/Olympus\n"
       "  windows: [{days: [mon-fry], start: \"10:00\", end: \"25:00\"}]\n"
       "  blackout_dates: [2026-02-30]\n",
       {{10, 9, "schedule.cron", "minute field: 61 is out of range 0-59"},
        {11, 14, "schedule.time_zone", "unknown time zone 'Mars/Olympus'"},
        {12, 21, "schedule.windows[0].days[0]", "'fry' is not a day"},
        {12, 52, "schedule.windows[0].end", "'25:00' is not a time of day"},
        {13, 20, "schedule.blackout_dates[0]", "'2026-02-30' is not a date"}}},
      {"more approvals than approvers", BASE "approvals: {required: 3, approvers: [a, b]}\n",
       {{9, 23, "approvals.required", "3 approvals required but only 2 approvers"}}},
      {"no steps", "name: t\ntargets: {selector: a=b}\nprobes: [{name: p, tcp: {address: \"h:1\"}}]\n",
       {{1, 1, "steps", "at least one step"}}},
      {"bad name and duplicate probe names",
       "name: Big Name\n"
       "targets: {selector: a=b}\n"
       "steps: [{fault: {power_loss: {}}, duration: 1s}]\n"
       "probes:\n"
       "  - {name: p, tcp: {address: \"h:1\"}}\n"
       "  - {name: p, tcp: {address: \"h:2\"}}\n",
       {{1, 7, "name", "'Big Name' is not a valid name"}, {6, 12, "probes[1].name", "duplicate probe name 'p'"}}},
      {"a regex that does not compile", BASE "  - {name: w, http: {url: \"http://h/\", body_match: \"(\"}}\n",
       {{9, 52, "probes[1].http.body_match", "bad regular expression"}}},
  };
  return table;
}

bool matches(const Diagnostic& d, const Expect& e) {
  return d.pos.line == e.line && d.pos.column == e.column && d.field == e.field &&
         d.message.find(e.contains) != std::string::npos;
}

std::string dump(const std::vector<Diagnostic>& ds) {
  std::string s;
  for (const auto& d : ds) s += "  " + d.to_string() + "\n";
  return s;
}

TEST(ExperimentLoader, BrokenFilesReportEveryErrorWithItsPosition) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    LoadedExperiment got = parse_experiment(c.yaml, "case.yaml");
    const std::vector<Expect>& want = c.errors;
    EXPECT_FALSE(got.ok());
    EXPECT_EQ(got.diagnostics.size(), want.size()) << dump(got.diagnostics);
    for (const auto& e : want) {
      bool found = std::any_of(got.diagnostics.begin(), got.diagnostics.end(),
                               [&](const Diagnostic& d) { return matches(d, e); });
      EXPECT_TRUE(found) << "missing " << e.line << ":" << e.column << " " << e.field << " '" << e.contains
                         << "' in\n"
                         << dump(got.diagnostics);
    }
    for (const auto& d : got.diagnostics) EXPECT_EQ(d.file, "case.yaml");
  }
}

TEST(ExperimentLoader, DiagnosticsNameFileLineColumnAndField) {
  LoadedExperiment got = parse_experiment(BASE "blast_radius: {max_hosts: \"3\"}\n", "exp/x.yaml");
  ASSERT_EQ(got.diagnostics.size(), 1u);
  EXPECT_EQ(got.diagnostics[0].to_string(),
            "exp/x.yaml:9:27: blast_radius.max_hosts: expected a non-negative integer, found a quoted string");
}

// Issue 13: what agents or the controller refuse (or choke on) at run time is refused
// by `validate` already, at its line and column.
std::string one_error(const std::string& yaml) {
  LoadedExperiment got = parse_experiment(yaml, "limits.yaml");
  EXPECT_EQ(got.diagnostics.size(), 1u) << dump(got.diagnostics);
  return got.diagnostics.empty() ? "" : got.diagnostics[0].to_string();
}

TEST(ExperimentLimits, AStepOrLeaseOver24HoursIsRefused) {
  // A 30-hour step validated although every agent refuses leases over 24 h.
  std::string step = one_error(
      "name: t\n"
      "targets: {selector: a=b}\n"
      "steps:\n"
      "  - fault: {power_loss: {}}\n"
      "    duration: 30h\n");
  EXPECT_EQ(step.rfind("limits.yaml:5:15: steps[0].duration: ", 0), 0u) << step;
  EXPECT_NE(step.find("agents refuse leases over"), std::string::npos) << step;
  // 23h59m59s is within 24 h, but not with the runner's start delay and margin.
  EXPECT_NE(one_error("name: t\ntargets: {selector: a=b}\nsteps: [{fault: {power_loss: {}}, duration: 23h59m59s}]\n")
                .find("steps[0].duration"),
            std::string::npos);
  // Held until the last step, a step's lease covers the steps after it.
  std::string held = one_error(
      "name: t\n"
      "targets: {selector: a=b}\n"
      "steps:\n"
      "  - {fault: {power_loss: {}}, duration: 20h, hold: true}\n"
      "  - {fault: {power_loss: {}}, duration: 5h}\n");
  EXPECT_NE(held.find("steps[0].hold: held until the last step"), std::string::npos) << held;
  LoadedExperiment fine = parse_experiment(
      "name: t\ntargets: {selector: a=b}\nsteps: [{fault: {power_loss: {}}, duration: 23h}]\n", "ok.yaml");
  EXPECT_TRUE(fine.ok()) << dump(fine.diagnostics);
}

TEST(ExperimentLimits, ProbeCountIsCapped) {
  // 20,000 probes validated (each would have taken up to nine threads).
  auto file = [](size_t n) {
    std::string y = "name: t\ntargets: {selector: a=b}\nsteps: [{fault: {power_loss: {}}, duration: 1s}]\nprobes:\n";
    for (size_t i = 0; i < n; ++i) y += fmt::format("  - {{name: p{}, tcp: {{address: \"127.0.0.1:{}\"}}}}\n", i, 1000 + i);
    return y;
  };
  std::string many = one_error(file(kMaxProbes + 1));
  EXPECT_NE(many.find(fmt::format("probes[{}]: {} probes; an experiment may have at most {}", kMaxProbes,
                                  kMaxProbes + 1, kMaxProbes)),
            std::string::npos)
      << many;
  EXPECT_EQ(many.rfind(fmt::format("limits.yaml:{}:", 5 + kMaxProbes), 0), 0u) << many;
  EXPECT_TRUE(parse_experiment(file(kMaxProbes), "ok.yaml").ok());
}

TEST(ExperimentLimits, ProbeTimeoutMustFitItsInterval) {
  std::string slow = one_error(BASE "  - {name: w, interval: 1s, timeout: 30s, tcp: {address: \"h:1\"}}\n");
  EXPECT_EQ(slow.rfind("limits.yaml:9:38: probes[1].timeout: 30s is longer than 15 intervals", 0), 0u) << slow;
  // The default interval (1 s) counts too; 15 intervals is the most.
  EXPECT_NE(one_error(BASE "  - {name: w, timeout: 16s, tcp: {address: \"h:1\"}}\n").find("probes[1].timeout"),
            std::string::npos);
  EXPECT_TRUE(parse_experiment(BASE "  - {name: w, interval: 2s, timeout: 30s, tcp: {address: \"h:1\"}}\n", "ok.yaml").ok());
  EXPECT_TRUE(parse_experiment(BASE "  - {name: w, interval: 100ms, timeout: 1s, tcp: {address: \"h:1\"}}\n", "ok.yaml").ok());
}

TEST(ExperimentLimits, ProbeRegexesUseALinearTimeEngine) {
  // A backreference needs backtracking: RE2 refuses it, and so does validate.
  std::string backref = one_error(BASE "  - {name: w, http: {url: \"http://h/\", body_match: \"(a)\\\\1\"}}\n");
  EXPECT_NE(backref.find("probes[1].http.body_match: bad regular expression '(a)\\1'"), std::string::npos) << backref;
  // A pattern that backtracks exponentially in std::regex (or overflows its stack on
  // long input) is answered by RE2 in one pass.
  auto m = TextMatch::compile("^(x+x+)+y$");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_FALSE(m->search(std::string(100000, 'x')));
  EXPECT_TRUE(m->search("xxy"));
  // Only the first kMaxMatchInput bytes of an answer are searched.
  auto tail = TextMatch::compile("needle");
  ASSERT_TRUE(tail);
  EXPECT_TRUE(tail->search(std::string(kMaxMatchInput - 6, ' ') + "needle"));
  EXPECT_FALSE(tail->search(std::string(kMaxMatchInput, ' ') + "needle"));
}

TEST(ExperimentLoader, AllErrorsOfAFileAtOnceInFileOrder) {
  const char* yaml =
      "name: t\n"
      "nme: t\n"
      "targets: {selector: \"\"}\n"
      "steps:\n"
      "  - fault: {power_loss: {}}\n"
      "    duration: soon\n"
      "probes:\n"
      "  - name: p\n"
      "slo: {availability: {min: 2}}\n";
  LoadedExperiment got = parse_experiment(yaml, "many.yaml");
  ASSERT_EQ(got.diagnostics.size(), 5u) << dump(got.diagnostics);
  std::vector<int> lines;
  for (const auto& d : got.diagnostics) lines.push_back(d.pos.line);
  EXPECT_EQ(lines, (std::vector<int>{2, 3, 6, 8, 9}));
}

TEST(ExperimentLoader, ValidExampleFilesLoad) {
  for (const char* f : {"tests/data/experiments/widening-power-loss.yaml", "tests/data/experiments/single-host-blackhole.yaml",
                        "tests/data/experiments/continuous-kill.yaml"}) {
    SCOPED_TRACE(f);
    LoadedExperiment got = load_experiment_file(f);
    EXPECT_TRUE(got.ok()) << dump(got.diagnostics);
    EXPECT_EQ(got.sha256.size(), 64u);
  }
}

// The experiments shipped in experiments/ (the lab's game days) keep to the schema.
TEST(ExperimentLoader, ShippedExperimentsAreValid) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("experiments")) {
    if (entry.path().extension() != ".yaml") continue;
    ++n;
    LoadedExperiment got = load_experiment_file(entry.path().string());
    EXPECT_TRUE(got.ok()) << dump(got.diagnostics);
  }
  EXPECT_GT(n, 0u) << "no experiments/*.yaml";
}

TEST(ExperimentLoader, ConvertsEveryKindOfField) {
  LoadedExperiment got = load_experiment_file("tests/data/experiments/widening-power-loss.yaml");
  ASSERT_TRUE(got.ok()) << dump(got.diagnostics);
  const v1::Experiment& e = got.experiment;
  EXPECT_EQ(e.name(), "pangyo-widening-power-loss");
  EXPECT_EQ(e.version(), "3");
  EXPECT_EQ(e.test_type(), v1::TEST_TYPE_GAME_DAY);
  ASSERT_EQ(e.participants_size(), 2);
  EXPECT_EQ(e.participants(0).role(), "incident commander");
  EXPECT_EQ(e.labels().at("tier"), "1");
  EXPECT_EQ(e.blast_radius().max_domains().key(), "dc");
  EXPECT_EQ(e.blast_radius().keep_untouched().min(), 1u);
  EXPECT_DOUBLE_EQ(e.blast_radius().max_percent(), 50);
  ASSERT_EQ(e.steps_size(), 3);
  EXPECT_TRUE(e.steps(0).fault().has_power_loss());
  EXPECT_TRUE(e.steps(1).fault().has_power_loss());  // `power_loss:` with no value
  EXPECT_EQ(e.steps(0).targets().mode().count(), 1u);
  EXPECT_TRUE(e.steps(0).hold());
  EXPECT_FALSE(e.steps(2).hold());
  EXPECT_EQ(from_proto(e.steps(1).duration()), std::chrono::minutes(1));
  EXPECT_EQ(from_proto(e.probes(0).interval()), std::chrono::milliseconds(250));
  EXPECT_EQ(e.probes(0).http().expect_status_size(), 2);
  EXPECT_EQ(e.probes(2).prometheus().op(), v1::COMPARISON_LT);
  EXPECT_EQ(e.probes(3).data().write(5), "{marker}");
  EXPECT_EQ(from_proto(e.slo().latency().max()), std::chrono::milliseconds(300));
  EXPECT_TRUE(e.slo().data_loss().has_max_span());
  EXPECT_EQ(from_proto(e.report().user_notice_threshold()), std::chrono::hours(2));
  // Positions of what was written are kept for later checks.
  EXPECT_EQ(got.source.value_pos("steps[1].duration").line, 31);
  EXPECT_EQ(got.source.value_pos("steps[1].duration.nonexistent").line, 31);
}

TEST(ExperimentLoader, EnumsByShortOrFullName) {
  LoadedExperiment a = parse_experiment(BASE "test_type: CONTINUOUS\n", "a.yaml");
  LoadedExperiment b = parse_experiment(BASE "test_type: TEST_TYPE_CONTINUOUS\n", "b.yaml");
  ASSERT_TRUE(a.ok()) << dump(a.diagnostics);
  ASSERT_TRUE(b.ok()) << dump(b.diagnostics);
  EXPECT_EQ(a.experiment.test_type(), v1::TEST_TYPE_CONTINUOUS);
  EXPECT_EQ(b.experiment.test_type(), v1::TEST_TYPE_CONTINUOUS);
  EXPECT_EQ(enum_short_name(v1::L4Protocol_descriptor()->FindValueByName("L4_TCP")), "tcp");
  EXPECT_EQ(enum_short_name(v1::Direction_descriptor()->FindValueByName("DIRECTION_EGRESS")), "egress");
}

TEST(ExperimentLoader, UnreadableFile) {
  LoadedExperiment got = load_experiment_file("tests/data/experiments/does-not-exist.yaml");
  ASSERT_EQ(got.diagnostics.size(), 1u);
  EXPECT_NE(got.diagnostics[0].to_string().find("does-not-exist.yaml: cannot read"), std::string::npos);
}

// `firedrill validate` over real files: 0 when all are valid, 2 with every error.
TEST(ValidateCommand, ExitCodes) {
  std::string bad = "/tmp/fde-validate-bad.yaml";
  {
    std::ofstream out(bad);
    out << BASE "nme: x\n";
  }
  std::vector<std::string> ok_args = {"validate", "tests/data/experiments/continuous-kill.yaml",
                                      "tests/data/experiments/single-host-blackhole.yaml"};
  std::vector<char*> argv;
  for (auto& a : ok_args) argv.push_back(a.data());
  EXPECT_EQ(validate_main(static_cast<int>(argv.size()), argv.data()), 0);

  std::vector<std::string> bad_args = {"validate", "tests/data/experiments/continuous-kill.yaml", bad};
  argv.clear();
  for (auto& a : bad_args) argv.push_back(a.data());
  testing::internal::CaptureStderr();
  EXPECT_EQ(validate_main(static_cast<int>(argv.size()), argv.data()), 2);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("/tmp/fde-validate-bad.yaml:9:1: nme: unknown field 'nme'"), std::string::npos) << err;
  std::remove(bad.c_str());

  std::vector<std::string> none = {"validate"};
  argv = {none[0].data()};
  testing::internal::CaptureStderr();
  EXPECT_EQ(validate_main(1, argv.data()), 2);
  testing::internal::GetCapturedStderr();
}

}  // namespace
}  // namespace firedrill::experiment
