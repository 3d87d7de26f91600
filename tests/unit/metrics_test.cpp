#include <httplib.h>

#include <gtest/gtest.h>

#include "common/metrics/http_server.h"
#include "common/metrics/registry.h"

namespace firedrill::metrics {
namespace {

TEST(MetricsFormat, CounterAndGaugeWithHelpTypeAndLabels) {
  Registry r;
  auto& c = r.counter("fd_things_total", "Things done.", {"kind"});
  c.with({"a"}).inc();
  c.with({"a"}).inc(2);
  c.with({"b"}).inc();
  r.gauge("fd_up", "Whether up.").with({}).set(1);
  EXPECT_EQ(r.render(),
            "# HELP fd_things_total Things done.\n"
            "# TYPE fd_things_total counter\n"
            "fd_things_total{kind=\"a\"} 3\n"
            "fd_things_total{kind=\"b\"} 1\n"
            "# HELP fd_up Whether up.\n"
            "# TYPE fd_up gauge\n"
            "fd_up 1\n");
}

TEST(MetricsFormat, LabelValuesAndHelpAreEscaped) {
  Registry r;
  r.gauge("fd_g", "a \\ b\nc", {"v"}).with({"q\"uote\\back\nline"}).set(2.5);
  EXPECT_EQ(r.render(),
            "# HELP fd_g a \\\\ b\\nc\n"
            "# TYPE fd_g gauge\n"
            "fd_g{v=\"q\\\"uote\\\\back\\nline\"} 2.5\n");
}

TEST(MetricsFormat, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  auto& h = r.histogram("fd_latency_seconds", "Latency.", {"op"}, {0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 2.0, 100.0}) h.with({"apply"}).observe(v);
  EXPECT_EQ(r.render(),
            "# HELP fd_latency_seconds Latency.\n"
            "# TYPE fd_latency_seconds histogram\n"
            "fd_latency_seconds_bucket{op=\"apply\",le=\"0.1\"} 2\n"  // 0.1 itself is <= 0.1
            "fd_latency_seconds_bucket{op=\"apply\",le=\"1\"} 3\n"
            "fd_latency_seconds_bucket{op=\"apply\",le=\"10\"} 4\n"
            "fd_latency_seconds_bucket{op=\"apply\",le=\"+Inf\"} 5\n"
            "fd_latency_seconds_sum{op=\"apply\"} 102.65\n"
            "fd_latency_seconds_count{op=\"apply\"} 5\n");
}

TEST(MetricsFormat, SpecialValues) {
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_value(0.0 / 0.0), "NaN");
  EXPECT_EQ(format_value(12345678901.0), "12345678901");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(0.25), "0.25");
}

TEST(MetricsFormat, CollectorsRefillFamiliesAtEveryScrape) {
  Registry r;
  auto& g = r.gauge("fd_faults", "Faults.", {"kind"});
  std::vector<std::string> kinds = {"a", "b"};
  r.on_scrape([&] {
    g.clear();
    for (auto& k : kinds) g.with({k}).inc();
  });
  EXPECT_NE(r.render().find("fd_faults{kind=\"b\"} 1\n"), std::string::npos);
  kinds = {"a"};
  auto text = r.render();
  EXPECT_EQ(text.find("kind=\"b\""), std::string::npos) << text;  // a series that ended is gone
  EXPECT_NE(text.find("fd_faults{kind=\"a\"} 1\n"), std::string::npos) << text;
}

TEST(MetricsFormat, BadNamesAndLabelCountsAreRefused) {
  Registry r;
  EXPECT_THROW(r.counter("1bad", "x"), std::logic_error);
  EXPECT_THROW(r.counter("fd_x", "x", {"__reserved"}), std::logic_error);
  EXPECT_THROW(r.histogram("fd_h", "x", {"le"}, {1}), std::logic_error);
  EXPECT_THROW(r.histogram("fd_h2", "x", {}, {2, 1}), std::logic_error);
  auto& c = r.counter("fd_ok", "x", {"a"});
  EXPECT_THROW(r.counter("fd_ok", "x"), std::logic_error);
  EXPECT_THROW(c.with({"1", "2"}), std::logic_error);
}

TEST(MetricsListen, AddressesParseOrSayWhy) {
  auto a = parse_listen_address("127.0.0.1:9464");
  ASSERT_TRUE(a) << a.error().describe();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9464);
  auto b = parse_listen_address("[::1]:0");
  ASSERT_TRUE(b) << b.error().describe();
  EXPECT_EQ(b->host, "::1");
  for (auto bad : {"9464", "::1:9464", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:x1", "[::1:9"}) {
    auto r = parse_listen_address(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().describe().find(bad), std::string::npos) << r.error().describe();
  }
}

TEST(MetricsServe, ScrapedOverLoopback) {
  Registry r;
  auto& c = r.counter("fd_scrapes_total", "Scrapes.");
  r.on_scrape([&] { c.with({}).inc(); });
  MetricsServer server;
  auto started = server.start("127.0.0.1:0", r);
  ASSERT_TRUE(started) << started.error().describe();
  ASSERT_GT(server.port(), 0);
  httplib::Client client("127.0.0.1", server.port());
  auto first = client.Get("/metrics");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(first->body.find("fd_scrapes_total 1\n"), std::string::npos) << first->body;
  auto second = client.Get("/metrics");
  ASSERT_TRUE(second);
  EXPECT_NE(second->body.find("fd_scrapes_total 2\n"), std::string::npos) << second->body;
  auto missing = client.Get("/other");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  // A port in use is an error naming the address.
  MetricsServer again;
  auto clash = again.start("127.0.0.1:" + std::to_string(server.port()), r);
  ASSERT_FALSE(clash);
  EXPECT_NE(clash.error().describe().find("--metrics-listen 127.0.0.1:"), std::string::npos)
      << clash.error().describe();
}

}  // namespace
}  // namespace firedrill::metrics
