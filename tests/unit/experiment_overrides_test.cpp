// `firedrill run --set PATH=VALUE` and `-l SELECTOR` (controller/experiment/overrides.h):
// applied to the file's YAML, typed and checked as the file is, errors naming the
// override and the field; and targets' selector / hosts / from_command rules.
#include <gtest/gtest.h>

#include <string>

#include "common/time.h"
#include "controller/experiment/commands.h"
#include "controller/experiment/loader.h"

namespace firedrill::experiment {
namespace {

// Two steps: the first with targets of its own.
constexpr const char* kFile =
    "name: t\n"
    "targets: {selector: dc=a, mode: {count: 1}}\n"
    "steps:\n"
    "  - fault: {power_loss: {}}\n"
    "    duration: 1s\n"
    "    targets: {selector: rack=r1}\n"
    "  - fault: {power_loss: {}}\n"
    "    duration: 2s\n";

LoadedExperiment with(const Overrides& o, const char* text = kFile) { return parse_experiment(text, "exp.yaml", o); }

std::string all(const LoadedExperiment& l) {
  std::string out;
  for (const auto& d : l.diagnostics) out += d.to_string() + "\n";
  return out;
}

TEST(ExperimentOverrides, SetChangesTypedFieldsAndIsRecorded) {
  auto l = with({{"steps.0.duration=30s", "steps.1.targets.selector=rack in (r2,r3)", "targets.mode.count=2",
                  "description=changed at run time"},
                 ""});
  ASSERT_TRUE(l.ok()) << all(l);
  EXPECT_EQ(from_proto(l.experiment.steps(0).duration()), std::chrono::seconds(30));
  EXPECT_EQ(from_proto(l.experiment.steps(1).duration()), std::chrono::seconds(2));
  // A mapping the file lacked (steps[1].targets) was made for it.
  EXPECT_EQ(l.experiment.steps(1).targets().selector(), "rack in (r2,r3)");
  EXPECT_EQ(l.experiment.targets().mode().count(), 2u);
  EXPECT_EQ(l.experiment.description(), "changed at run time");
  // The file itself is what it was: its bytes and hash name it.
  EXPECT_EQ(l.sha256, sha256_hex(kFile));
  EXPECT_EQ(l.overrides, (std::vector<std::string>{"--set steps.0.duration=30s",
                                                   "--set steps.1.targets.selector=rack in (r2,r3)",
                                                   "--set targets.mode.count=2",
                                                   "--set description=changed at run time"}));
}

TEST(ExperimentOverrides, SetValuesAreCheckedLikeTheFileAndNameTheSetAndField) {
  struct Bad {
    const char* set;
    const char* field;
    const char* contains;
  };
  for (const Bad& b : std::vector<Bad>{
           {"steps.0.duration=3x", "steps[0].duration", "duration"},
           {"steps.0.duration=0s", "steps[0].duration", ""},
           {"targets.mode.count=two", "targets.mode.count", ""},
           {"steps.0.targets.selector=rack in (r1", "steps[0].targets.selector", "expected"},
           {"steps.0.durration=1s", "steps[0].durration", "unknown field"},
           {"steps.5.duration=1s", "steps[5].duration", "steps has 2 element(s)"},
           {"name.x=1", "name.x", "not a mapping"},
           {"steps.0.duration=[1s", "steps[0].duration", "not YAML"},
       }) {
    auto l = with({{b.set}, ""});
    ASSERT_EQ(l.diagnostics.size(), 1u) << b.set << "\n" << all(l);
    const auto& d = l.diagnostics[0];
    EXPECT_EQ(d.file, std::string("--set ") + b.set) << all(l);
    EXPECT_EQ(d.field, b.field) << all(l);
    EXPECT_EQ(d.pos.line, 0) << "an override has no line in the file: " << all(l);
    EXPECT_NE(d.message.find(b.contains), std::string::npos) << all(l);
    EXPECT_EQ(d.to_string().rfind(std::string("--set ") + b.set + ": " + b.field + ": ", 0), 0u) << d.to_string();
  }
}

TEST(ExperimentOverrides, MalformedSetIsRefusedByName) {
  for (const char* s : {"steps.0.duration", "=1s", "steps..duration=1s", ".x=1"}) {
    auto l = with({{s}, ""});
    ASSERT_EQ(l.diagnostics.size(), 1u) << s;
    EXPECT_EQ(l.diagnostics[0].file, std::string("--set ") + s);
  }
  // An error of the file itself still points into the file.
  auto l = with({{"steps.0.duration=5s"}, ""}, "name: t\ntargets: {selector: a=b}\nsteps:\n  - fault: {power_loss: {}}\n    duration: 1s\n    hold: maybe\n");
  ASSERT_EQ(l.diagnostics.size(), 1u) << all(l);
  EXPECT_EQ(l.diagnostics[0].file, "exp.yaml");
  EXPECT_EQ(l.diagnostics[0].pos.line, 6);
}

TEST(ExperimentOverrides, SelectorFlagRetargetsTheExperimentAndEveryStepWithItsOwnTargets) {
  const char* file =
      "name: t\n"
      "targets: {from_command: 'echo h1'}\n"
      "steps:\n"
      "  - fault: {power_loss: {}}\n"
      "    duration: 1s\n"
      "    targets: {hosts: [h1, h2], mode: {count: 1}}\n"
      "  - fault: {power_loss: {}}\n"
      "    duration: 2s\n";
  auto l = with({{}, "rack=p2,!canary"}, file);
  ASSERT_TRUE(l.ok()) << all(l);
  EXPECT_EQ(l.experiment.targets().selector(), "rack=p2,!canary");
  EXPECT_TRUE(l.experiment.targets().from_command().empty());
  EXPECT_EQ(l.experiment.steps(0).targets().selector(), "rack=p2,!canary");
  EXPECT_EQ(l.experiment.steps(0).targets().hosts_size(), 0);
  EXPECT_EQ(l.experiment.steps(0).targets().mode().count(), 1u) << "the step's mode is kept";
  EXPECT_FALSE(l.experiment.steps(1).has_targets()) << "a step without targets keeps using the experiment's";
  EXPECT_EQ(l.overrides, std::vector<std::string>{"-l rack=p2,!canary"});

  // -l comes after every --set.
  auto after = with({{"steps.0.targets.selector=rack=r9"}, "rack=p2"});
  ASSERT_TRUE(after.ok()) << all(after);
  EXPECT_EQ(after.experiment.steps(0).targets().selector(), "rack=p2");

  auto bad = with({{}, "rack in (p1"});
  ASSERT_EQ(bad.diagnostics.size(), 2u) << all(bad);
  for (const auto& d : bad.diagnostics) {
    EXPECT_EQ(d.file, "-l rack in (p1");
    EXPECT_TRUE(d.field == "targets.selector" || d.field == "steps[0].targets.selector") << d.field;
  }
}

TEST(ExperimentTargets, OneOfSelectorHostsAndFromCommand) {
  auto both = parse_experiment(
      "name: t\ntargets: {selector: a=b, from_command: 'echo x'}\nsteps:\n  - fault: {power_loss: {}}\n    duration: 1s\n",
      "exp.yaml");
  ASSERT_EQ(both.diagnostics.size(), 1u) << all(both);
  EXPECT_EQ(both.diagnostics[0].field, "targets");
  EXPECT_EQ(both.diagnostics[0].pos.line, 2);

  auto timeout = parse_experiment(
      "name: t\ntargets: {from_command: 'echo x', from_command_timeout: 1h}\nsteps:\n  - fault: {power_loss: {}}\n"
      "    duration: 1s\n",
      "exp.yaml");
  ASSERT_EQ(timeout.diagnostics.size(), 1u) << all(timeout);
  EXPECT_EQ(timeout.diagnostics[0].field, "targets.from_command_timeout");

  auto hosts = parse_experiment(
      "name: t\ntargets: {hosts: [h1, '']}\nsteps:\n  - fault: {power_loss: {}}\n    duration: 1s\n", "exp.yaml");
  ASSERT_EQ(hosts.diagnostics.size(), 1u) << all(hosts);
  EXPECT_EQ(hosts.diagnostics[0].field, "targets.hosts[1]");

  auto good = parse_experiment(
      "name: t\ntargets: {from_command: 'etcdctl ... | leader-rack', from_command_timeout: 10s}\nsteps:\n"
      "  - fault: {power_loss: {}}\n    duration: 1s\n",
      "exp.yaml");
  EXPECT_TRUE(good.ok()) << all(good);
}

TEST(ValidateCommand, TakesTheOverridesOfRun) {
  auto validate = [](std::vector<std::string> args, std::string* err) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    testing::internal::CaptureStderr();
    int rc = validate_main(static_cast<int>(argv.size()), argv.data());
    *err = testing::internal::GetCapturedStderr();
    return rc;
  };
  const std::string file = "tests/data/experiments/single-host-blackhole.yaml";
  std::string err;
  EXPECT_EQ(validate({"validate", file, "--set", "steps.0.duration=45s", "-l", "rack=p2"}, &err), 0) << err;
  EXPECT_EQ(validate({"validate", file, "--set", "steps.0.duration=45"}, &err), 2);
  EXPECT_NE(err.find("--set steps.0.duration=45: steps[0].duration: "), std::string::npos) << err;
  EXPECT_EQ(validate({"validate", file, "--bogus"}, &err), 2);
  EXPECT_NE(err.find("firedrill validate: "), std::string::npos) << err;
}

}  // namespace
}  // namespace firedrill::experiment
