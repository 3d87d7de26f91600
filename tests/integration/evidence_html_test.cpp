// The report page looked at as a person would: Debian's chromium renders it headless,
// and the DOM it builds must show the verdict, the timeline with its milestones, a
// chart per probe and every SLO row; printing it to PDF must give a few clean pages.
// Chromium is a real process here; a missing chromium fails the test.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/spawn.h"
#include "controller/evidence/document.h"
#include "controller/evidence/html_report.h"
#include "tests/unit/evidence_fixture.h"

namespace firedrill::evidence {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/fdv-html-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

std::string chromium_binary() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// Runs chromium headless (bounded in time) with `args` and returns its standard output.
std::string run_chromium(const TempDir& dir, const std::vector<std::string>& args) {
  firedrill::SpawnOptions o;
  o.argv = {chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + dir.path + "/profile"};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.timeout = std::chrono::seconds(120);
  o.max_output = 64 << 20;
  auto r = firedrill::spawn(o);
  EXPECT_EQ(r.status(), 0) << "chromium failed: " << r.describe() << "\n" << r.err;
  return r.out;
}

struct Page {
  TempDir dir;
  std::string file;
  Json doc;
};

std::unique_ptr<Page> render_page(bool fail_failover) {
  auto p = std::make_unique<Page>();
  auto store = controller::open_sqlite_store(p->dir.path + "/state.db");
  EXPECT_TRUE(store) << store.error().message;
  auto key = SigningKey::generate();
  testing::FixtureClock clock;
  testing::RunShape shape;
  shape.fail_failover = fail_failover;
  auto log = testing::write_fixture_run(**store, *key, clock, shape);
  EXPECT_TRUE(log) << log.error().message;
  FindingBook book(**store, &*key, clock.fn());
  EXPECT_TRUE(book.add({shape.run_id, "high", "minho.lee", "2026-12-31", "Failover <slow> & \"unclear\"", "", "me"}));
  auto doc = build_document(**store, shape.run_id, *key, clock.now, "firedrill test");
  EXPECT_TRUE(doc) << doc.error().message;
  p->doc = *doc;
  auto html = render_html(*doc);
  EXPECT_TRUE(html) << html.error().message;
  p->file = p->dir.path + "/report.html";
  std::ofstream(p->file) << *html;
  return p;
}

TEST(EvidenceHtml, ChromiumShowsVerdictTimelineChartsAndEverySloRow) {
  ASSERT_FALSE(chromium_binary().empty()) << "chromium is not installed (scripts/install-deps.sh installs it)";
  for (bool failing : {false, true}) {
    SCOPED_TRACE(failing ? "failing run" : "passing run");
    auto page = render_page(failing);
    std::string dom = run_chromium(page->dir, {"--dump-dom", "file://" + page->file});
    ASSERT_GT(dom.size(), 10000u) << "chromium produced no DOM";

    // The verdict, at the top: the first element of the body's header.
    std::string verdict = failing ? "FAIL" : "PASS";
    EXPECT_THAT(dom, ::testing::HasSubstr("<div class=\"verdict-word\" id=\"verdict\">" + verdict + "</div>"));
    auto header = dom.find("<header id=\"summary\"");
    ASSERT_NE(header, std::string::npos);
    EXPECT_LT(header, dom.find("<section")) << "the verdict is not above the sections";

    // The timeline SVG with its steps, hosts and milestones.
    auto svg_at = dom.find("<svg id=\"timeline-svg\"");
    ASSERT_NE(svg_at, std::string::npos);
    std::string svg = dom.substr(svg_at, dom.find("</svg>", svg_at) - svg_at);
    EXPECT_THAT(svg, ::testing::HasSubstr("class=\"step\""));
    EXPECT_THAT(svg, ::testing::HasSubstr("id=\"marker-fault_applied\""));
    EXPECT_THAT(svg, ::testing::HasSubstr("id=\"marker-detection\""));
    EXPECT_THAT(svg, ::testing::HasSubstr("id=\"marker-fault_lifted\""));
    EXPECT_THAT(svg, ::testing::HasSubstr("id=\"marker-recovery\""));
    if (failing) {
      EXPECT_EQ(svg.find("id=\"marker-failover\""), std::string::npos) << "a run that never failed over shows failover";
    } else {
      EXPECT_THAT(svg, ::testing::HasSubstr("id=\"marker-failover\""));
    }
    // Every host's apply is on the timeline (hosts in one pixel column share a tick).
    std::regex host_tick("class=\"host-tick\"[^>]*><title>(\\d+) hosts? applied</title>");
    int ticked = 0;
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), host_tick); it != std::sregex_iterator(); ++it) {
      ticked += std::stoi((*it)[1]);
    }
    EXPECT_EQ(ticked, 6);

    // One chart per sampled probe, each with its fault window shaded.
    for (const char* probe : {"messaging", "web"}) {
      auto at = dom.find(fmt::format("<svg id=\"probe-{}\"", probe));
      ASSERT_NE(at, std::string::npos) << probe;
      std::string chart = dom.substr(at, dom.find("</svg>", at) - at);
      EXPECT_THAT(chart, ::testing::HasSubstr("class=\"fault-window\"")) << probe;
      EXPECT_THAT(chart, ::testing::HasSubstr("<polyline class=\"lat\"")) << probe;
      EXPECT_THAT(chart, ::testing::HasSubstr("class=\"bad\"")) << probe;
    }

    // The fidelity section: a row per host with its parts from not_before, and the
    // spread of each part across the hosts.
    auto fid = dom.find("<table id=\"fidelity-table\"");
    ASSERT_NE(fid, std::string::npos);
    std::string fidelity = dom.substr(fid, dom.find("</table>", fid) - fid);
    std::regex fidelity_row("<tr class=\"fidelity-row\">");
    EXPECT_EQ(std::distance(std::sregex_iterator(fidelity.begin(), fidelity.end(), fidelity_row), std::sregex_iterator()),
              6);
    EXPECT_THAT(fidelity, ::testing::HasSubstr("kernel: first dropped packet"));
    EXPECT_THAT(fidelity, ::testing::HasSubstr("no SIGTERM"));
    auto spreads_at = dom.find("<table id=\"fidelity-spreads\"");
    ASSERT_NE(spreads_at, std::string::npos);
    std::string spreads = dom.substr(spreads_at, dom.find("</table>", spreads_at) - spreads_at);
    EXPECT_THAT(spreads, ::testing::HasSubstr("<td>network cut</td>"));
    EXPECT_THAT(spreads, ::testing::HasSubstr("<td>kill</td>"));

    // Every SLO of the run has its row with target, measured value and result.
    auto& slos = page->doc["report"]["results"]["slos"];
    ASSERT_EQ(slos.size(), 4u);
    for (auto& s : slos) {
      std::string name = s["name"];
      std::regex row("<tr class=\"slo-row\" data-slo=\"" + name + "\">(.*?)</tr>");
      std::smatch m;
      ASSERT_TRUE(std::regex_search(dom, m, row)) << "no row for SLO " << name;
      std::string cells = m[1];
      EXPECT_THAT(cells, ::testing::HasSubstr(s["measured"].get<std::string>())) << name;
      EXPECT_THAT(cells, ::testing::HasSubstr(">" + s["result"].get<std::string>() + "<")) << name;
    }
    // Text from operators is shown as text, never as markup.
    EXPECT_THAT(dom, ::testing::HasSubstr("Failover &lt;slow&gt; &amp; \"unclear\""));
    EXPECT_EQ(dom.find("<slow>"), std::string::npos);
  }
}

TEST(EvidenceHtml, PrintsToAFewPdfPages) {
  ASSERT_FALSE(chromium_binary().empty()) << "chromium is not installed (scripts/install-deps.sh installs it)";
  auto page = render_page(false);
  std::string pdf = page->dir.path + "/report.pdf";
  run_chromium(page->dir, {"--no-pdf-header-footer", "--print-to-pdf=" + pdf, "file://" + page->file});
  std::ifstream in(pdf, std::ios::binary);
  ASSERT_TRUE(in) << "no PDF written";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string bytes = ss.str();
  ASSERT_EQ(bytes.rfind("%PDF-", 0), 0u);
  std::regex page_obj("/Type\\s*/Page[^s]");
  auto pages = std::distance(std::sregex_iterator(bytes.begin(), bytes.end(), page_obj), std::sregex_iterator());
  // Ten sections with two charts and a few tables: more than one page, far fewer than
  // one per event (the 69 events stay folded away).
  EXPECT_GE(pages, 3);
  EXPECT_LE(pages, 16);
}

}  // namespace
}  // namespace firedrill::evidence
