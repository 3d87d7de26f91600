// Every rule of the blast-radius guard as a table: a fleet, targets, a blast radius
// and policy, and the rules that must refuse (with their limit and hosts) or none.
#include <gtest/gtest.h>

#include "controller/guard/guard.h"

namespace firedrill::controller {
namespace {

using V = std::vector<std::string>;

std::vector<Host> fleet() {
  // dc pangyo: racks p1 (2 hosts), p2 (2 hosts); dc chuncheon: rack c1 (2 hosts), and
  // the management host the controller runs on.
  return {
      {"p1-h1", {{"dc", "pangyo"}, {"rack", "p1"}}},
      {"p1-h2", {{"dc", "pangyo"}, {"rack", "p1"}, {"role", "db"}}},
      {"p2-h1", {{"dc", "pangyo"}, {"rack", "p2"}}},
      {"p2-h2", {{"dc", "pangyo"}, {"rack", "p2"}, {"canary", ""}}},
      {"c1-h1", {{"dc", "chuncheon"}, {"rack", "c1"}}},
      {"c1-h2", {{"dc", "chuncheon"}, {"rack", "c1"}}},
      {"m-h1", {{"dc", "chuncheon"}, {"rack", "m"}, {"role", "mgmt"}}},
  };
}

struct Case {
  const char* name;
  V targets;
  v1::BlastRadius radius;
  GuardPolicy policy;
  std::set<std::string> busy;
  bool halted = false;
  // rule -> hosts it must name (empty set: the rule, any hosts)
  std::map<std::string, V> refusals;
  std::string limit_piece = {};  // a piece of the first refusal's limit text
};

GuardPolicy pol(std::function<void(GuardPolicy&)> f) {
  GuardPolicy p;
  f(p);
  return p;
}

v1::BlastRadius radius(std::function<void(v1::BlastRadius&)> f) {
  v1::BlastRadius r;
  f(r);
  return r;
}

TEST(Guard, RulesTable) {
  const V pangyo = {"p1-h1", "p1-h2", "p2-h1", "p2-h2"};
  std::vector<Case> cases = {
      {"no limits allows anything", pangyo, {}, {}, {}, false, {}},
      {"max_hosts within", {"p1-h1", "p1-h2"}, radius([](auto& r) { r.set_max_hosts(2); }), {}, {}, false, {}},
      {"max_hosts over", {"p1-h1", "p1-h2", "p2-h1"}, radius([](auto& r) { r.set_max_hosts(2); }), {}, {}, false,
       {{"max_hosts", {"p1-h1", "p1-h2", "p2-h1"}}}, "2 hosts"},
      {"max_percent within", {"p1-h1", "p1-h2"}, radius([](auto& r) { r.set_max_percent(30); }), {}, {}, false, {}},
      {"max_percent over", {"p1-h1", "p1-h2", "p2-h1"}, radius([](auto& r) { r.set_max_percent(30); }), {}, {}, false,
       {{"max_percent", {"p1-h1", "p1-h2", "p2-h1"}}}, "30% of 7 live hosts"},
      {"max_domains within", pangyo,
       radius([](auto& r) { r.mutable_max_domains()->set_key("dc"); r.mutable_max_domains()->set_count(1); }), {}, {},
       false, {}},
      {"max_domains over", {"p1-h1", "c1-h1"},
       radius([](auto& r) { r.mutable_max_domains()->set_key("dc"); r.mutable_max_domains()->set_count(1); }), {}, {},
       false, {{"max_domains", {"c1-h1", "p1-h1"}}}, "1 value(s) of dc"},
      {"protected by the run", pangyo, radius([](auto& r) { r.add_protected_selectors("role=db"); }), {}, {}, false,
       {{"protected", {"p1-h2"}}}, "role=db"},
      {"protected by the controller", pangyo, {}, pol([](GuardPolicy& p) { p.protected_selectors = {"canary"}; }), {}, false,
       {{"protected", {"p2-h2"}}}, "canary"},
      {"protected elsewhere allows", {"p1-h1"}, radius([](auto& r) { r.add_protected_selectors("role=db"); }), {}, {},
       false, {}},
      {"keep_untouched within", pangyo,
       radius([](auto& r) { r.mutable_keep_untouched()->set_key("dc"); r.mutable_keep_untouched()->set_min(1); }), {},
       {}, false, {}},
      {"keep_untouched over", {"p1-h1", "c1-h2"},
       radius([](auto& r) { r.mutable_keep_untouched()->set_key("dc"); r.mutable_keep_untouched()->set_min(1); }), {},
       {}, false, {{"keep_untouched", {"c1-h2", "p1-h1"}}}, "at least 1 value(s) of dc untouched"},
      {"keep_untouched of racks", {"p1-h1", "p2-h1", "c1-h1"},
       radius([](auto& r) { r.mutable_keep_untouched()->set_key("rack"); r.mutable_keep_untouched()->set_min(2); }), {},
       {}, false, {{"keep_untouched", {"c1-h1", "p1-h1", "p2-h1"}}}, "at least 2"},
      {"fleet budget within", {"p1-h1"}, {}, pol([](GuardPolicy& p) { p.budget_hosts = 3; }), {"c1-h1", "c1-h2"}, false, {}},
      {"fleet budget over in hosts", {"p1-h1", "p1-h2"}, {}, pol([](GuardPolicy& p) { p.budget_hosts = 3; }), {"c1-h1", "c1-h2"}, false,
       {{"fleet_budget", {"p1-h1", "p1-h2"}}}, "3 hosts under fault across all runs"},
      {"fleet budget counts a host once", {"c1-h1", "p1-h1"}, {}, pol([](GuardPolicy& p) { p.budget_hosts = 3; }), {"c1-h1", "c1-h2"},
       false, {}},
      {"fleet budget over in percent", {"p1-h1", "p1-h2"}, {}, pol([](GuardPolicy& p) { p.budget_percent = 50; }), {"c1-h1", "c1-h2"},
       false, {{"fleet_budget", {"p1-h1", "p1-h2"}}}, "50% of the live fleet"},
      {"controller domain", {"p1-h1", "m-h1"}, {}, pol([](GuardPolicy& p) { p.controller_domain = {{"rack", "m"}}; }), {}, false,
       {{"controller_domain", {"m-h1"}}}, "rack=m"},
      {"controller domain with a peer elsewhere", {"p1-h1", "m-h1"}, {},
       pol([](GuardPolicy& p) { p.controller_domain = {{"rack", "m"}}; p.live_peers = [] { return std::vector<std::map<std::string, std::string>>{{{"rack", "p2"}}}; }; }), {}, false, {}},
      {"controller domain, peer in the same domain", {"c1-h1"}, {},
       pol([](GuardPolicy& p) { p.controller_domain = {{"dc", "chuncheon"}}; p.live_peers = [] { return std::vector<std::map<std::string, std::string>>{{{"dc", "chuncheon"}}}; }; }), {}, false,
       {{"controller_domain", {"c1-h1"}}}, "dc=chuncheon"},
      {"halted", {"p1-h1"}, {}, {}, {}, true, {{"halted", {}}}, "no runs while halted"},
      {"unknown target", {"p1-h1", "gone"}, {}, {}, {}, false, {{"live_targets", {"gone"}}}, "live agent"},
      {"several rules at once", pangyo,
       radius([](auto& r) {
         r.set_max_hosts(1);
         r.add_protected_selectors("canary");
       }),
       {}, {}, false, {{"max_hosts", pangyo}, {"protected", {"p2-h2"}}}, "1 hosts"},
  };
  for (auto& c : cases) {
    GuardInput in{fleet(), c.targets, c.radius, c.busy, c.halted, "game day over"};
    auto v = check_guard(c.policy, in);
    EXPECT_EQ(v.allowed(), c.refusals.empty()) << c.name << ": " << describe(v);
    std::map<std::string, V> got;
    for (auto& viol : v.violations()) got[viol.rule()] = V(viol.hosts().begin(), viol.hosts().end());
    ASSERT_EQ(got.size(), c.refusals.size()) << c.name << ": " << describe(v);
    for (auto& [rule, hosts] : c.refusals) {
      ASSERT_TRUE(got.count(rule)) << c.name << ": no " << rule << " in " << describe(v);
      if (!hosts.empty()) {
        auto want = hosts;
        std::sort(want.begin(), want.end());
        EXPECT_EQ(got[rule], want) << c.name;
      }
    }
    if (!c.refusals.empty()) {
      const auto& first = v.violations(0);
      EXPECT_NE(first.limit().find(c.limit_piece), std::string::npos) << c.name << ": limit " << first.limit();
      // The sentence names the rule, its limit and (some of) the hosts.
      EXPECT_NE(first.message().find(first.rule()), std::string::npos) << first.message();
      EXPECT_NE(first.message().find(first.limit()), std::string::npos) << first.message();
      if (first.hosts_size() > 0) {
        EXPECT_NE(first.message().find(first.hosts(0)), std::string::npos) << first.message();
      }
    }
  }
}

TEST(Guard, PolicyValidates) {
  auto bad = pol([](GuardPolicy& p) { p.protected_selectors = {"role in (db"}; });
  auto r = bad.validate();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("position 12"), std::string::npos) << r.error().message;
  EXPECT_TRUE(pol([](GuardPolicy& p) { p.protected_selectors = {"role in (db)"}; }).validate());
  EXPECT_FALSE(pol([](GuardPolicy& p) { p.budget_percent = 120; }).validate());
}

TEST(Guard, DescribeListsEveryRefusal) {
  GuardInput in{fleet(), {"p1-h1", "p1-h2"}, radius([](auto& r) { r.set_max_hosts(1); r.add_protected_selectors("role=db"); }),
                {}, false, ""};
  auto text = describe(check_guard({}, in));
  EXPECT_NE(text.find("max_hosts (limit: 1 hosts): 2 targets: p1-h1, p1-h2"), std::string::npos) << text;
  EXPECT_NE(text.find("protected"), std::string::npos) << text;
  EXPECT_NE(text.find("p1-h2"), std::string::npos) << text;
}

}  // namespace
}  // namespace firedrill::controller
