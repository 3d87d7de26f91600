// The report's fidelity section: what a fault did on each host, said only from the
// parts its agent reported and only for the kinds whose parts mean it; the spreads
// across hosts beside the worst clock error; the HTML table with each host's parts.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "controller/evidence/html_report.h"
#include "controller/evidence/report_model.h"

namespace firedrill::evidence {
namespace {

using namespace std::chrono_literals;

const WallTime t0 = WallTime(std::chrono::seconds(1'800'000'000));
const WallTime kNotBefore = t0 + 10s;

Json event(EventKind kind, WallTime at, Json data) {
  return Json{{"kind", std::string(to_string(kind))}, {"at", format_time(at)}, {"run", "r-1"}, {"data", std::move(data)}};
}

// One host's apply: its parts at these offsets (us) from not_before.
FaultApplied applied(const std::string& host, const std::string& kind, bool lose_unsynced,
                     const std::vector<std::pair<std::string, int>>& parts, int64_t clock_max_error_us = -1) {
  FaultApplied a;
  a.host = host;
  a.agent_id = host;
  a.step = 1;
  a.fault_id = "r-1.1." + host;
  a.fault_kind = kind;
  a.not_before = kNotBefore;
  a.applied_at = kNotBefore;
  a.expires_at = kNotBefore + 60s;
  a.lose_unsynced = lose_unsynced;
  for (auto& [part, us] : parts) {
    a.effects.push_back({part, kNotBefore + std::chrono::microseconds(us),
                         part == "network cut" ? "kernel: first dropped packet" : "agent"});
  }
  if (clock_max_error_us >= 0) {
    a.clock_synchronized = 1;
    a.clock_max_error_us = clock_max_error_us;
    a.clock_est_error_us = clock_max_error_us / 10;
  }
  return a;
}

Json evidence_of(const std::vector<FaultApplied>& applies) {
  RunCreated c;
  c.experiment_name = "fidelity";
  Json events = Json::array({event(EventKind::kRunCreated, t0, c)});
  for (auto& a : applies) events.push_back(event(EventKind::kFaultApplied, kNotBefore, a));
  Verdict v;
  v.outcome = "pass";
  events.push_back(event(EventKind::kVerdict, kNotBefore + 70s, v));
  return Json{{"events", events}};
}

std::string did(const FidelityHost& h) { return fmt::format("{}", fmt::join(h.did, "; ")); }

const FidelityHost* host(const ReportModel& m, const std::string& name) {
  for (auto& h : m.fidelity.hosts) {
    if (h.host == name) return &h;
  }
  return nullptr;
}

TEST(ReportFidelity, APowerLossSaysWhatEachHostsAgentReportedAndNothingMore) {
  auto evidence = evidence_of({
      // Everything, in order, with its data file system shut down.
      applied("p1-h1", "power_loss", true, {{"network cut", 40}, {"freeze", 900}, {"fs shutdown", 950}, {"kill", 1800}},
              3000),
      // lose_unsynced asked, no shutdown reported (an older agent, say).
      applied("p1-h2", "power_loss", true, {{"network cut", 90}, {"freeze", 1000}, {"kill", 2600}}, 5000),
      // The old drill: no lose_unsynced; its freeze came after the kill.
      applied("p2-h1", "power_loss", false, {{"network cut", 70}, {"kill", 1500}, {"freeze", 1700}}),
  });
  auto model = build_model(evidence);
  ASSERT_TRUE(model) << model.error().message;
  auto& m = *model;
  ASSERT_EQ(m.fidelity.hosts.size(), 3u);

  auto* full = host(m, "p1-h1");
  ASSERT_NE(full, nullptr);
  ASSERT_EQ(full->parts.size(), 4u);
  EXPECT_EQ(full->parts[0].offset_us, 40);
  EXPECT_EQ(full->parts[0].source, "kernel: first dropped packet");
  EXPECT_NE(did(*full).find("both ways, ARP"), std::string::npos) << did(*full);
  EXPECT_NE(did(*full).find("no process saw the rest coming"), std::string::npos) << did(*full);
  EXPECT_NE(did(*full).find("shut down without flushing"), std::string::npos) << did(*full);
  EXPECT_NE(did(*full).find("no SIGTERM"), std::string::npos) << did(*full);
  EXPECT_NE(full->clock.find("synchronised, max error 3ms"), std::string::npos) << full->clock;

  auto* asked = host(m, "p1-h2");
  ASSERT_NE(asked, nullptr);
  EXPECT_EQ(did(*asked).find("shut down without flushing"), std::string::npos) << did(*asked);
  EXPECT_NE(did(*asked).find("lose_unsynced was asked, but the agent reported no data file system shut down"),
            std::string::npos)
      << did(*asked);

  auto* old = host(m, "p2-h1");
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(did(*old).find("no process saw the rest coming"), std::string::npos) << did(*old);
  EXPECT_NE(did(*old).find("page cache outlived the cut"), std::string::npos) << did(*old);
  EXPECT_EQ(old->clock, "not reported");

  // Spreads per part across the hosts that reported it, beside the worst clock error.
  std::map<std::string, FidelitySpread> spread;
  for (auto& sp : m.fidelity.spreads) spread[sp.part] = sp;
  EXPECT_EQ(spread["network cut"].hosts, 3);
  EXPECT_EQ(spread["network cut"].spread_us, 50);
  EXPECT_EQ(spread["kill"].spread_us, 1100);
  EXPECT_EQ(spread["fs shutdown"].hosts, 1);
  EXPECT_EQ(spread["network cut"].max_clock_error_us, 5000);

  // The page: a row per host with its parts, and the spreads.
  auto html = render_html(Json{{"evidence", evidence}});
  ASSERT_TRUE(html) << html.error().message;
  EXPECT_NE(html->find("id=\"fidelity-spreads\""), std::string::npos);
  size_t rows = 0;
  for (auto at = html->find("class=\"fidelity-row\""); at != std::string::npos;
       at = html->find("class=\"fidelity-row\"", at + 1)) {
    ++rows;
  }
  EXPECT_EQ(rows, 3u);
  auto row = html->find("<tr class=\"fidelity-row\"><td class=\"nowrap\">p1-h1</td>");
  ASSERT_NE(row, std::string::npos);
  auto row_text = html->substr(row, html->find("</tr>", row) - row);
  EXPECT_NE(row_text.find("fs shutdown"), std::string::npos) << row_text;
  EXPECT_NE(row_text.find("kernel: first dropped packet"), std::string::npos) << row_text;
}

TEST(ReportFidelity, ANetworkCutOfAPartialFaultClaimsNoPowerCut) {
  auto model = build_model(evidence_of({
      applied("h1", "network.drop", false, {{"network cut", 120}}),
      applied("h2", "network.partition", false, {{"network cut", 140}}),
      applied("h3", "network.blackhole", false, {{"network cut", 100}}),
  }));
  ASSERT_TRUE(model) << model.error().message;
  for (auto* name : {"h1", "h2"}) {
    auto* h = host(*model, name);
    ASSERT_NE(h, nullptr) << name;
    EXPECT_EQ(h->parts.size(), 1u) << name;
    EXPECT_TRUE(h->did.empty()) << name << ": " << did(*h);
  }
  auto* blackhole = host(*model, "h3");
  ASSERT_NE(blackhole, nullptr);
  EXPECT_NE(did(*blackhole).find("every packet"), std::string::npos);
  EXPECT_EQ(did(*blackhole).find("SIGKILL"), std::string::npos);
}

TEST(ReportFidelity, NoPartsReportedNoSection) {
  auto model = build_model(evidence_of({applied("h1", "power_loss", true, {})}));
  ASSERT_TRUE(model) << model.error().message;
  EXPECT_TRUE(model->fidelity.hosts.empty());
  EXPECT_TRUE(model->fidelity.spreads.empty());
}

}  // namespace
}  // namespace firedrill::evidence
