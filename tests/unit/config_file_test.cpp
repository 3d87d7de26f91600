// --config FILE for firedrill-agent and firedrill serve: every kind of error in a file,
// all of them at once with FILE:LINE:COL and the field; flags over the file; values
// from the file checked as flags are; --print-config gives back a file that loads to
// the same configuration.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "agent/app/agent_app.h"
#include "tests/support/process.h"

namespace firedrill {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("fdcfg-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    auto p = (dir_ / name).string();
    std::ofstream(p) << text;
    return p;
  }

  // parse_agent_options on `args`; stdout (--print-config) in *out when given.
  Result<agent::AgentConfig> agent(std::vector<std::string> args, std::string* out = nullptr) {
    args.insert(args.begin(), "firedrill-agent");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    bool exit_now = false;
    ::testing::internal::CaptureStdout();
    auto r = agent::parse_agent_options(static_cast<int>(argv.size()), argv.data(), &exit_now);
    std::string printed = ::testing::internal::GetCapturedStdout();
    if (out) *out = printed;
    return r;
  }

  std::filesystem::path dir_;
};

TEST_F(ConfigFile, AgentReadsEveryKindOfSetting) {
  auto f = write("agent.yaml", R"(id: p1-h1
tags: {dc: pangyo, rack: p1}
controller: 10.9.0.1:7443
tls: {ca: /etc/t/ca.pem, cert: /etc/t/a.pem, key: /etc/t/a.key}
lease_grace: 1500ms
boot_hooks: ["systemctl start app.target", /etc/rc.local]
boot_hook_timeout: 2m
interfaces: [eth1, eth2]
allow: ["10.9.0.0/24,tcp,22"]
data_dirs: [/srv/redis, /srv/postgresql]
state_dir: /tmp/fd-state
log: {format: json, level: debug}
)");
  auto c = agent({"--config", f});
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ(c->id, "p1-h1");
  EXPECT_EQ(c->tags, (std::map<std::string, std::string>{{"dc", "pangyo"}, {"rack", "p1"}}));
  EXPECT_EQ(c->controllers, (std::vector<std::string>{"10.9.0.1:7443"}));
  EXPECT_EQ(c->tls_key, "/etc/t/a.key");
  EXPECT_EQ(c->lease_grace, std::chrono::milliseconds(1500));
  EXPECT_EQ(c->boot_hooks, (std::vector<std::string>{"systemctl start app.target", "/etc/rc.local"}));
  EXPECT_EQ(c->boot_hook_timeout, std::chrono::minutes(2));
  EXPECT_EQ(c->interfaces, (std::vector<std::string>{"eth1", "eth2"}));
  ASSERT_EQ(c->allow.size(), 1u);
  EXPECT_EQ(c->data_dirs, (std::vector<std::string>{"/srv/redis", "/srv/postgresql"}));
  EXPECT_EQ(c->state_dir, "/tmp/fd-state");
  EXPECT_EQ(c->log.format, LogFormat::kJson);
  EXPECT_EQ(c->log.level, spdlog::level::debug);
}

// Several controllers, tried in the order given: in the file and on the command line.
TEST_F(ConfigFile, AgentTakesAListOfControllersInOrder) {
  auto f = write("agent.yaml", "controller: c2.site-b:7443, c1.site-a:7443,[fd00::1]:7443\ninsecure: true\n");
  auto c = agent({"--config", f});
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ(c->controllers, (std::vector<std::string>{"c2.site-b:7443", "c1.site-a:7443", "[fd00::1]:7443"}));
  auto flag = agent({"--config", f, "--controller", "a:1,b:2"});
  ASSERT_TRUE(flag) << flag.error().describe();
  EXPECT_EQ(flag->controllers, (std::vector<std::string>{"a:1", "b:2"}));
  for (auto [bad, says] : {std::pair{"a:7443,,b:7443", "'' is not HOST:PORT"}, std::pair{"a:7443,b", "'b' is not HOST:PORT"},
                           std::pair{"a:7443,a:7443", "a:7443 is listed twice"}, std::pair{"a:http", "has no port"},
                           std::pair{"[fd00::1]", "is not HOST:PORT"}}) {
    auto r = agent({"--insecure", "--controller", bad});
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().describe().find(says), std::string::npos) << r.error().describe();
  }
}

TEST_F(ConfigFile, FlagsWinOverTheFileAndReplaceItsLists) {
  auto f = write("agent.yaml", "local_socket: /run/a.sock\nlease_grace: 3s\ninterfaces: [eth1, eth2]\n"
                               "tags: {dc: pangyo}\nstate_dir: /tmp/from-file\ninsecure: true\n");
  auto c = agent({"--config", f, "--lease-grace", "7s", "--interface", "eth9", "--tag", "rack=p2"});
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ(c->lease_grace, std::chrono::seconds(7));                         // flag
  EXPECT_EQ(c->interfaces, (std::vector<std::string>{"eth9"}));              // flag list, not merged
  EXPECT_EQ(c->tags, (std::map<std::string, std::string>{{"rack", "p2"}}));  // flag list, not merged
  EXPECT_EQ(c->state_dir, "/tmp/from-file");                                 // file over the default
  EXPECT_EQ(c->local_socket, "/run/a.sock");                                 // file
  EXPECT_TRUE(c->insecure);                                                  // a switch from the file
  // Without flags the file's values stand, and the defaults under them.
  auto d = agent({"--config", f});
  ASSERT_TRUE(d) << d.error().describe();
  EXPECT_EQ(d->lease_grace, std::chrono::seconds(3));
  EXPECT_EQ(d->boot_hook_timeout, std::chrono::seconds(60));
}

TEST_F(ConfigFile, EveryErrorAtOnceWithFileLineColumnAndField) {
  auto f = write("bad.yaml", R"(id: h1
lease_grace: soon
tls: {ca: a.pem, kye: a.key}
interfaces: eth1
insecure: "yes"
log: {format: xml, level: loud}
tags: [dc=pangyo]
local_socket: /run/a.sock
id: h2
)");
  auto c = agent({"--config", f});
  ASSERT_FALSE(c);
  std::string e = c.error().describe();
  EXPECT_THAT(e, HasSubstr(f + ":2:14: lease_grace: bad duration"));
  EXPECT_THAT(e, HasSubstr(f + ":3:18: tls.kye: unknown field 'kye' in TlsFiles (did you mean 'key'?)"));
  EXPECT_THAT(e, HasSubstr(f + ":4:13: interfaces: expected a list, found a scalar"));
  EXPECT_THAT(e, HasSubstr(f + ":5:11: insecure: expected true or false, found a quoted string"));
  EXPECT_THAT(e, HasSubstr(f + ":6:15: log.format: 'xml' is not one of: text, json"));
  EXPECT_THAT(e, HasSubstr(f + ":6:27: log.level: 'loud' is not one of: trace, debug, info, warn, error, off"));
  EXPECT_THAT(e, HasSubstr(f + ":7:7: tags: expected a mapping of names to values, found a list"));
  EXPECT_THAT(e, HasSubstr(f + ":9:1: id: duplicate key"));
  // One line per error, in the order of the file.
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 7) << e;
  EXPECT_LT(e.find(":2:14:"), e.find(":9:1:"));
}

TEST_F(ConfigFile, FileLevelErrors) {
  struct Case {
    std::string text;
    std::string says;
  };
  std::vector<Case> cases = {
      {"", "the file is empty (expected the agent configuration as a mapping)"},
      {"id: [h1\nlease_grace: 5s\n", ":2:12: YAML syntax error"},
      {"id: h1\n---\nid: h2\n", ":3:1: a file holds one agent configuration; found a second YAML document"},
      // yaml-cpp 0.7's LoadAll never returns on these (fuzz: experiment_loader_fuzz).
      {",C", ":1:1: YAML syntax error: a document cannot start with ','"},
      {"# c\n,\n", ":2:1: YAML syntax error: a document cannot start with ','"},
      {"[a],\n", ":1:4: YAML syntax error: a document cannot start with ','"},
      {"- id: h1\n", ":1:1: expected a mapping (AgentConfigFile), found a list"},
  };
  for (auto& c : cases) {
    auto f = write("f.yaml", c.text);
    auto r = agent({"--config", f});
    ASSERT_FALSE(r) << c.text;
    EXPECT_THAT(r.error().describe(), HasSubstr(c.says)) << c.text;
  }
  auto missing = agent({"--config", (dir_ / "nope.yaml").string()});
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().describe(), HasSubstr("--config " + (dir_ / "nope.yaml").string() + ": cannot read"));
  EXPECT_THAT(missing.error().describe(), HasSubstr("No such file"));
}

TEST_F(ConfigFile, ValuesFromTheFileAreCheckedAsFlagsAre) {
  // The schema takes any string; the flag's own check refuses the CIDR, and a zero
  // lease grace, as it would on the command line.
  auto f = write("a.yaml", "local_socket: /run/a.sock\nallow: [\"10.0.0.0/99\"]\n");
  auto r = agent({"--config", f});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().describe(), HasSubstr("--allow"));
  auto g = write("g.yaml", "local_socket: /run/a.sock\nlease_grace: 0s\n");
  auto s = agent({"--config", g});
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().describe(), HasSubstr("--lease-grace must be positive"));
}

TEST_F(ConfigFile, PrintConfigLoadsBackToTheSameConfiguration) {
  auto f = write("agent.yaml", "local_socket: /run/a.sock\ntags: {dc: pangyo}\nboot_hooks: [\"a b\", c]\n"
                               "allow: [\"10.9.0.1,tcp,7443\"]\ninsecure: true\n");
  std::string printed;
  auto c = agent({"--config", f, "--lease-grace", "2s", "--log-format", "json", "--print-config"}, &printed);
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_THAT(printed, HasSubstr("lease_grace: 2s"));
  EXPECT_THAT(printed, HasSubstr("state_dir: /var/lib/firedrill-agent"));  // a default
  EXPECT_THAT(printed, HasSubstr("format: json"));
  EXPECT_THAT(printed, HasSubstr("dc: pangyo"));
  auto again = write("printed.yaml", printed);
  std::string reprinted;
  auto d = agent({"--config", again, "--print-config"}, &reprinted);
  ASSERT_TRUE(d) << d.error().describe() << "\n" << printed;
  EXPECT_EQ(reprinted, printed);
  auto e = agent({"--config", again});
  ASSERT_TRUE(e) << e.error().describe();
  EXPECT_EQ(e->lease_grace, std::chrono::seconds(2));
  EXPECT_EQ(e->boot_hooks, (std::vector<std::string>{"a b", "c"}));
  EXPECT_TRUE(e->insecure);
}

// firedrill serve: the same loader on the controller's schema, through the binary.
TEST_F(ConfigFile, ControllerPrintsAndRefuses) {
  auto f = write("controller.yaml", R"(listen: 127.0.0.1:7443
insecure: true
api: {path: /run/x/c.sock, group: root, mode: "0660"}
budget: {hosts: 3, percent: 12.5}
protect: [role=db]
controller_domain: [dc=chuncheon]
lease_grace: 4s
)");
  auto out = support::exec({FD_FIREDRILL_BIN, "serve", "--config", f, "--heartbeat", "2s", "--print-config"});
  ASSERT_EQ(out.code, 0) << out.out;
  for (const char* line : {"listen: 127.0.0.1:7443", "insecure: true", "path: /run/x/c.sock", "group: root",
                           "mode: 0660", "hosts: 3", "percent: 12.5", "- role=db", "- dc=chuncheon", "lease_grace: 4s",
                           "heartbeat: 2s", "state_dir: /var/lib/firedrill"}) {
    EXPECT_THAT(out.out, HasSubstr(line));
  }
  auto bad = write("bad.yaml", "listen: 127.0.0.1:7443\napi: {path: /x, grup: ops}\nbudget: {hosts: -1}\n"
                               "max_message_bytes: lots\n");
  auto refused = support::exec({FD_FIREDRILL_BIN, "serve", "--config", bad});
  EXPECT_EQ(refused.code, 2) << refused.out;
  EXPECT_THAT(refused.out, HasSubstr(bad + ":2:17: api.grup: unknown field 'grup' in ApiSocket (did you mean 'group'?)"));
  EXPECT_THAT(refused.out, HasSubstr(bad + ":3:17: budget.hosts: expected a non-negative integer, found '-1'"));
  EXPECT_THAT(refused.out, HasSubstr(bad + ":4:20: max_message_bytes: expected a non-negative integer, found 'lots'"));
  // The flags' checks still apply: an unknown group for the API socket.
  auto group = write("group.yaml", "insecure: true\napi: {group: no-such-group-fd}\n");
  auto no_group = support::exec({FD_FIREDRILL_BIN, "serve", "--config", group});
  EXPECT_EQ(no_group.code, 2) << no_group.out;
  EXPECT_THAT(no_group.out, HasSubstr("--api-group no-such-group-fd: no such group"));
}

// A printed configuration names the store without its password, from the file or a flag.
TEST_F(ConfigFile, PrintConfigShowsNoPassword) {
  auto f = write("controller.yaml", "insecure: true\nstore: postgres://fd:s3cret@db.example:5432/fd\n");
  auto out = support::exec({FD_FIREDRILL_BIN, "serve", "--config", f, "--print-config"});
  ASSERT_EQ(out.code, 0) << out.out;
  EXPECT_THAT(out.out, HasSubstr("store: postgres://fd:***@db.example:5432/fd"));
  EXPECT_THAT(out.out, Not(HasSubstr("s3cret")));
  auto flag = support::exec({FD_FIREDRILL_BIN, "serve", "--insecure", "--store",
                             "postgres://db.example/fd?password=s3cret&sslmode=require", "--print-config"});
  ASSERT_EQ(flag.code, 0) << flag.out;
  EXPECT_THAT(flag.out, HasSubstr("password=***&sslmode=require"));
  EXPECT_THAT(flag.out, Not(HasSubstr("s3cret")));
}

}  // namespace
}  // namespace firedrill
