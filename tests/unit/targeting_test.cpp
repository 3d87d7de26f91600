// The selector parser and the target modes, as tables: what parses, what each
// selector matches, and the position and expectation of every malformed one.
#include <gtest/gtest.h>

#include "controller/targeting/selector.h"
#include "controller/targeting/targets.h"

namespace firedrill::controller {
namespace {

std::vector<Host> fleet() {
  // Two dcs, three racks, a canary and a database.
  return {
      {"p1-h1", {{"dc", "pangyo"}, {"rack", "p1"}, {"host", "p1-h1"}, {"role", "web"}}},
      {"p1-h2", {{"dc", "pangyo"}, {"rack", "p1"}, {"host", "p1-h2"}, {"role", "db"}}},
      {"p2-h1", {{"dc", "pangyo"}, {"rack", "p2"}, {"host", "p2-h1"}, {"role", "web"}, {"canary", ""}}},
      {"p2-h2", {{"dc", "pangyo"}, {"rack", "p2"}, {"host", "p2-h2"}}},
      {"c1-h1", {{"dc", "chuncheon"}, {"rack", "c1"}, {"host", "c1-h1"}, {"role", "web"}}},
      {"c1-h2", {{"dc", "chuncheon"}, {"rack", "c1"}, {"host", "c1-h2"}, {"role", "db"}}},
  };
}

std::vector<std::string> select(const std::string& text) {
  auto s = Selector::parse(text);
  EXPECT_TRUE(s) << text << ": " << s.error().message;
  std::vector<std::string> out;
  if (!s) return out;
  for (auto& h : fleet()) {
    if (s->matches(h.tags)) out.push_back(h.id);
  }
  return out;
}

using V = std::vector<std::string>;

TEST(Selector, MatchesTable) {
  struct Case {
    const char* text;
    V hosts;
  } cases[] = {
      {"", {"p1-h1", "p1-h2", "p2-h1", "p2-h2", "c1-h1", "c1-h2"}},
      {"dc=pangyo", {"p1-h1", "p1-h2", "p2-h1", "p2-h2"}},
      {"dc==chuncheon", {"c1-h1", "c1-h2"}},
      {"  dc = chuncheon  ", {"c1-h1", "c1-h2"}},
      {"rack in (p1,p2)", {"p1-h1", "p1-h2", "p2-h1", "p2-h2"}},
      {"rack in ( p2 , c1 )", {"p2-h1", "p2-h2", "c1-h1", "c1-h2"}},
      {"rack notin (p1)", {"p2-h1", "p2-h2", "c1-h1", "c1-h2"}},
      {"!canary", {"p1-h1", "p1-h2", "p2-h2", "c1-h1", "c1-h2"}},
      {"canary", {"p2-h1"}},
      {"role!=db", {"p1-h1", "p2-h1", "p2-h2", "c1-h1"}},  // absent tag matches !=
      {"role notin (db,web)", {"p2-h2"}},
      {"dc=pangyo,rack in (p1,p2),!canary", {"p1-h1", "p1-h2", "p2-h2"}},
      {"dc=pangyo, role=web, !canary", {"p1-h1"}},
      {"dc=nowhere", {}},
      {"host=p1-h1", {"p1-h1"}},
      {"k8s.io/zone", {}},
  };
  for (auto& c : cases) EXPECT_EQ(select(c.text), c.hosts) << "selector: " << c.text;
}

TEST(Selector, CanonicalText) {
  auto s = Selector::parse(" dc == pangyo ,rack in (p2, p1,p1), !canary,role!=db");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->to_string(), "dc=pangyo,rack in (p1,p2),!canary,role!=db");
  auto again = Selector::parse(s->to_string());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->to_string(), s->to_string());
}

TEST(Selector, MalformedTable) {
  struct Case {
    const char* text;
    size_t position;
    const char* expected;  // a piece of what the error says was expected
  } cases[] = {
      {"dc=pangyo,", 11, "a requirement after ','"},
      {",dc=pangyo", 1, "a tag key"},
      {"dc=pangyo rack=p1", 11, "',' between requirements"},
      {"rack in (p1,p2", 15, "',' or ')' but found end of input"},
      {"rack in p1", 9, "'(' to open"},
      {"rack in ()", 10, "a value"},
      {"rack in (p1,,p2)", 13, "a value"},
      {"rack within (p1)", 6, "an operator"},
      {"dc=pan*gyo", 7, "a value character"},
      {"dc=!pangyo", 4, "a value character"},
      {"!", 2, "a tag key"},
      {"!=db", 2, "a tag key"},
      {"dc=pangyo,,rack=p1", 11, "a tag key"},
      {"role!db", 6, "'=' after '!'"},
      {"-dc=x", 1, "starts with a letter or digit"},
      {"dc=pangyo,rack in (p1;p2)", 22, "',' or ')' but found ';'"},
  };
  for (auto& c : cases) {
    SelectorSyntaxError syntax;
    auto r = Selector::parse(c.text, &syntax);
    ASSERT_FALSE(r) << "parsed but should not: " << c.text;
    EXPECT_EQ(syntax.position, c.position) << c.text << ": " << r.error().message;
    EXPECT_NE(syntax.expected.find(c.expected), std::string::npos) << c.text << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(std::string("\"") + c.text + "\""), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(fmt::format("position {}", c.position)), std::string::npos) << r.error().message;
  }
}

v1::Targets targets(const std::string& selector, const std::string& mode, uint64_t seed = 0) {
  v1::Targets t;
  t.set_selector(selector);
  auto m = parse_mode(mode);
  EXPECT_TRUE(m) << mode;
  if (m) *t.mutable_mode() = *m;
  t.set_seed(seed);
  return t;
}

TEST(Targets, ModesTable) {
  struct Case {
    const char* selector;
    const char* mode;
    V chosen;
  } cases[] = {
      {"dc=pangyo", "all", {"p1-h1", "p1-h2", "p2-h1", "p2-h2"}},
      {"dc=pangyo", "count(2)", {"p1-h1", "p1-h2"}},
      {"dc=pangyo", "percent(50)", {"p1-h1", "p1-h2"}},
      {"dc=pangyo", "percent(30)", {"p1-h1", "p1-h2"}},  // 1.2 hosts rounds up
      {"dc=pangyo", "percent(1)", {"p1-h1"}},            // at least one
      {"dc=pangyo", "percent(100)", {"p1-h1", "p1-h2", "p2-h1", "p2-h2"}},
      {"", "one-per(dc)", {"c1-h1", "p1-h1"}},
      {"dc=pangyo", "one-per(rack)", {"p1-h1", "p2-h1"}},
      {"", "one-per(role)", {"c1-h2", "c1-h1"}},  // db: c1-h2 first by id, web: c1-h1
  };
  for (auto& c : cases) {
    auto r = resolve(fleet(), targets(c.selector, c.mode));
    ASSERT_TRUE(r) << c.selector << " " << c.mode << ": " << r.error().message;
    auto want = c.chosen;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(r->targets, want) << c.selector << " " << c.mode;
  }
}

TEST(Targets, SeedChoosesReproduciblyAmongMatches) {
  auto a = resolve(fleet(), targets("", "count(3)", 42));
  auto b = resolve(fleet(), targets("", "count(3)", 42));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->targets, b->targets);
  EXPECT_EQ(a->matched.size(), 6u);
  // Across seeds the choice varies (with 20 seeds, certainly more than one subset).
  std::set<V> seen;
  for (uint64_t s = 1; s <= 20; ++s) seen.insert(resolve(fleet(), targets("", "count(3)", s))->targets);
  EXPECT_GT(seen.size(), 1u);
}

TEST(Targets, ErrorsTable) {
  struct Case {
    const char* selector;
    const char* mode;
    const char* says;
  } cases[] = {
      {"dc=nowhere", "all", "matches none of the 6 live agents"},
      {"dc=chuncheon", "count(3)", "needs 3 hosts but selector \"dc=chuncheon\" matches only 2"},
      {"dc=pangyo", "one-per(zone)", "has tag 'zone'"},
      {"dc=(", "all", "position 4"},
  };
  for (auto& c : cases) {
    auto r = resolve(fleet(), targets(c.selector, c.mode));
    ASSERT_FALSE(r) << c.selector;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
  }
}

TEST(Targets, ModeText) {
  for (const char* bad : {"count(0)", "count(x)", "count 3", "percent(0)", "percent(101)", "one-per()", "some"}) {
    auto m = parse_mode(bad);
    EXPECT_FALSE(m) << bad;
    if (!m) {
      EXPECT_NE(m.error().message.find(bad), std::string::npos) << m.error().message;
    }
  }
  for (const char* good : {"all", "count(3)", "percent(25)", "one-per(rack)"}) {
    auto m = parse_mode(good);
    ASSERT_TRUE(m) << good;
    EXPECT_EQ(format_mode(*m), good);
  }
}

}  // namespace
}  // namespace firedrill::controller
