// firedrill-agent's command line: defaults, durations, and refusals that name the option.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent/app/agent_app.h"

namespace firedrill::agent {
namespace {

Result<AgentConfig> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "firedrill-agent");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  bool exit_now = false;
  return parse_agent_options(static_cast<int>(argv.size()), argv.data(), &exit_now);
}

TEST(AgentOptions, Defaults) {
  auto c = parse({"--local-socket", "/tmp/x.sock", "--id", "h1"});
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ(c->id, "h1");
  EXPECT_EQ(c->lease_grace, std::chrono::seconds(5));
  EXPECT_EQ(c->boot_hook_timeout, std::chrono::seconds(60));
  EXPECT_EQ(c->state_dir, "/var/lib/firedrill-agent");
}

TEST(AgentOptions, DurationsAndRepeatables) {
  auto c = parse({"--local-socket", "/tmp/x.sock", "--lease-grace", "1500ms", "--boot-hook-timeout", "2m",
                  "--boot-hook", "systemctl start redis", "--boot-hook", "/etc/rc.local", "--tag", "dc=pangyo",
                  "--tag", "rack=p1", "--allow", "10.9.0.1,tcp,7443"});
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ(c->lease_grace, std::chrono::milliseconds(1500));
  EXPECT_EQ(c->boot_hook_timeout, std::chrono::minutes(2));
  EXPECT_EQ(c->boot_hooks, (std::vector<std::string>{"systemctl start redis", "/etc/rc.local"}));
  EXPECT_EQ(c->tags.at("dc"), "pangyo");
  EXPECT_EQ(c->tags.at("rack"), "p1");
  ASSERT_EQ(c->allow.size(), 1u);
}

TEST(AgentOptions, RefusalsNameTheOption) {
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  std::vector<Case> cases = {
      {{"--local-socket", "s", "--boot-hook-timeout", "soon"}, "--boot-hook-timeout"},
      {{"--local-socket", "s", "--boot-hook-timeout", "0s"}, "--boot-hook-timeout"},
      {{"--local-socket", "s", "--lease-grace", "-1s"}, "--lease-grace"},
      {{"--local-socket", "s", "--lease-grace", "0s"}, "--lease-grace"},
      {{"--local-socket", "s", "--tag", "nokey"}, "--tag"},
      {{"--local-socket", "s", "--allow", "10.0.0.0/99"}, "--allow"},
      {{"--controller", "c:1"}, "--tls-ca"},
      {{}, "--controller"},
      {{"--local-socket", "s", "--no-such-option"}, "no-such-option"},
  };
  for (auto& c : cases) {
    auto r = parse(c.args);
    ASSERT_FALSE(r) << c.names;
    EXPECT_NE(r.error().describe().find(c.names), std::string::npos) << r.error().describe();
  }
}

}  // namespace
}  // namespace firedrill::agent
