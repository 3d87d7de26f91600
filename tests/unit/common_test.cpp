#include <gtest/gtest.h>

#include "common/cli.h"
#include "common/log.h"
#include "common/result.h"
#include "common/time.h"

namespace firedrill {
namespace {

using namespace std::chrono_literals;

TEST(Duration, ParsesUnitsAndCompounds) {
  struct Case {
    const char* text;
    std::chrono::nanoseconds want;
  } cases[] = {
      {"500ms", 500ms}, {"10s", 10s}, {"5m", 5min}, {"2h", 2h}, {"1h30m", 90min},
      {"1.5s", 1500ms}, {"100us", 100us}, {"7ns", 7ns}, {"1d", 24h}, {"0s", 0s},
  };
  for (auto& c : cases) {
    auto r = parse_duration(c.text);
    ASSERT_TRUE(r) << c.text << ": " << r.error().describe();
    EXPECT_EQ(*r, c.want) << c.text;
  }
}

TEST(Duration, RejectsWithPosition) {
  struct Case {
    const char* text;
    const char* says;
  } cases[] = {
      {"", "empty duration"}, {"10", "missing unit"}, {"10x", "unknown unit 'x'"},
      {"s", "position 1"}, {"-5s", "position 1"}, {"5s 3m", "position 3"},
  };
  for (auto& c : cases) {
    auto r = parse_duration(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << c.text << " -> " << r.error().message;
  }
}

TEST(Duration, FormatsShortestExactForm) {
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(10min), "10m");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(-3s), "-3s");
}

TEST(Time, ProtoRoundTripKeepsNanoseconds) {
  auto t = WallTime(std::chrono::duration_cast<WallClock::duration>(1'700'000'000'123'456'789ns));
  EXPECT_EQ(from_proto(to_proto(t)), t);
  EXPECT_EQ(format_utc(t), "2023-11-14T22:13:20.123Z");
}

TEST(Result, CarriesErrnoAndContext) {
  auto fails = []() -> Result<int> { return sys_error(ENOENT, "open {}", "/nope"); };
  auto outer = [&]() -> Result<int> {
    FD_ASSIGN(v, fails(), "load config");
    return v + 1;
  };
  auto r = outer();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(r.error().message, "load config: open /nope");
  EXPECT_NE(r.error().describe().find("No such file"), std::string::npos);
}


TEST(Cli, ParsesOptionsPositionalsAndHelp) {
  namespace po = boost::program_options;
  std::string id, command;
  po::options_description desc("test");
  desc.add_options()("help,h", "help")("id", po::value(&id), "id")("command", po::value(&command), "command");
  po::positional_options_description pos;
  pos.add("command", 1);
  auto parse = [&](std::vector<const char*> args) {
    args.insert(args.begin(), "prog");
    po::variables_map vm;
    return parse_options(static_cast<int>(args.size()), const_cast<char**>(args.data()), desc, vm, &pos);
  };
  auto r = parse({"apply", "--id", "f1"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(*r);
  EXPECT_EQ(command, "apply");
  EXPECT_EQ(id, "f1");
  r = parse({"--help"});
  ASSERT_TRUE(r);
  EXPECT_TRUE(*r);
  r = parse({"--bogus"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("bogus"), std::string::npos) << r.error().message;
  r = parse({"--id"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("id"), std::string::npos) << r.error().message;
  r = parse({"apply", "extra"});
  EXPECT_FALSE(r);
}

TEST(Cli, VerbOptionsGiveExitCodes) {
  namespace po = boost::program_options;
  po::options_description desc("test");
  desc.add_options()("help,h", "help");
  auto run = [&](std::vector<const char*> args) {
    args.insert(args.begin(), "prog");
    po::variables_map vm;
    return parse_verb_options(static_cast<int>(args.size()), const_cast<char**>(args.data()), desc, vm, "prog");
  };
  EXPECT_EQ(run({}), std::nullopt);
  EXPECT_EQ(run({"--help"}), 0);
  EXPECT_EQ(run({"--bogus"}), 2);
  EXPECT_EQ(usage_error("prog", "bad"), 2);
  EXPECT_EQ(usage_error("prog", "bad", 1), 1);
}

TEST(Log, OptionsNameTheBadOne) {
  auto c = parse_log_options("json", "debug");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->format, LogFormat::kJson);
  EXPECT_EQ(c->level, spdlog::level::debug);
  c = parse_log_options("xml", "info");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message.rfind("--log-format: ", 0), 0u) << c.error().message;
  c = parse_log_options("text", "loud");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message.rfind("--log-level: ", 0), 0u) << c.error().message;
}

}  // namespace
}  // namespace firedrill
