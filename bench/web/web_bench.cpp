// web: the dashboard (controller/web) measured in a real headless Chromium
// (web_bench.py: python3-selenium, chromium-driver) against a real controller
// (`firedrill serve --web-listen`, its own process) with simulated agents over mTLS
// (bench/fanout/sim_fleet.h, certificates made as the fan-out bench makes them):
//   - the Fleet page at each fleet size (--agents, default 1,000 and 10,000), side by
//     side: first contentful paint, DOM interactive and "drawn" (the page's script has
//     drawn the fleet: usable), from navigation start, median over --loads fresh loads,
//     and the 10,000/1,000 ratio (target: under 1 s at 10,000);
//   - the push channel: during a run with 3 probes at 100 ms (on --live-agents agents),
//     the controller's CPU (/proc/PID/stat) over a window with no browser, one with
//     --browsers browsers on the run's live page, and one with none again: the extra
//     CPU of the browsers (target: under 5% of a CPU);
//   - page weight: bytes of the HTML, CSS, script and the Fleet page's data at each size.
// Prints a table and writes JSON (--json). Every process it starts (controller,
// simulated agents, the browsers' script and its Chromiums, one process group) is
// bounded in time and ended on the way out.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "bench/fanout/sim_fleet.h"
#include "common/spawn.h"
#include "common/time.h"
#include "firedrill/v1/run.grpc.pb.h"
#include "firedrill/v1/web.grpc.pb.h"
#include "tests/support/postgres.h"

namespace {

using namespace firedrill;
using namespace firedrill::bench;
using namespace std::chrono_literals;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Settings {
  std::vector<int> sizes{1000, 10000};
  int loads = 5, browsers = 10, live_agents = 1000;
  double window_s = 20;
  std::string python = "/usr/bin/python3";
};

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[(v.size() - 1) / 2];
}

// A one-use login link for cn:NAME, asked over the controller's API socket (root: admin).
std::string login_link(const std::string& socket, const std::string& name) {
  auto stub = v1::WebService::NewStub(grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  v1::CreateLoginLinkRequest req;
  req.set_as(name);
  req.set_ttl_seconds(3600);
  v1::CreateLoginLinkResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  if (!stub->CreateLoginLink(&ctx, req, &resp).ok()) return "";
  return fmt::format("https://127.0.0.1:{}{}", resp.port(), resp.path());
}

// The last line of `text` that parses as a JSON object.
Json last_json(const std::string& text) {
  Json out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto j = Json::parse(line, nullptr, false);
    if (j.is_object()) out = std::move(j);
  }
  return out;
}

// A controller with the dashboard and `n` simulated agents connected, ended with it.
struct Stage {
  Controller ctl;
  std::unique_ptr<Sims> sims;
  std::string url, error;
  ~Stage() {
    sims.reset();
    ctl.kill(SIGTERM);
  }
};

void open_stage(Stage& s, Fleet& fleet, int n) {
  int port = support::free_loopback_port(), web = support::free_loopback_port();
  s.ctl = make_controller(fleet, FDW_FIREDRILL_BIN, fmt::format("web-{}", n), port,
                          {"--web-listen", fmt::format("127.0.0.1:{}", web), "--viewer", "cn:bench"});
  s.url = fmt::format("https://127.0.0.1:{}", web);
  if (!s.ctl.start() || !s.ctl.wait_says("dashboard on https://", 0, 30s)) {
    s.error = "the controller did not start:\n" + read_file(s.ctl.log);
    return;
  }
  s.sims = std::make_unique<Sims>(fleet, port, std::vector<int>{}, 1000ms, static_cast<size_t>(n));
  auto c0 = Clock::now();
  if (!s.sims->ok() || !wait_live(*api_stub(s.ctl.api), n, std::chrono::seconds(60 + n / 20))) {
    s.error = fmt::format("only {} of {} agents live", live_agents(*api_stub(s.ctl.api)), n);
    return;
  }
  std::cerr << fmt::format("  {} agents connected in {:.1f} s\n", n, std::chrono::duration<double>(Clock::now() - c0).count());
}

// The Fleet page, --loads fresh loads in one browser.
Json measure_fleet(Stage& s, const Settings& st) {
  auto link = login_link(s.ctl.api, "bench");
  if (link.empty()) return {{"error", "no login link"}};
  SpawnOptions o;
  o.argv = {st.python, FDW_SCRIPT, "fleet", "--url", s.url, "--link", link, "--loads", std::to_string(st.loads)};
  o.timeout = std::chrono::seconds(120 + 10 * st.loads);
  o.max_output = 1 << 20;
  auto r = spawn(o);
  auto j = last_json(r.out);
  if (r.status() != 0 || !j.contains("loads")) return {{"error", r.describe() + "\n" + r.err.substr(0, 4000)}};
  std::vector<double> paint, interactive, drawn;
  for (auto& l : j["loads"]) {
    paint.push_back(l["first_paint_ms"]);
    interactive.push_back(l["dom_interactive_ms"]);
    drawn.push_back(l["drawn_ms"]);
  }
  auto& last = j["loads"].back();
  // The page's own request for each (the fleet's data: the first, of the page's view).
  auto first = [](const Json& a) { return a.is_array() && !a.empty() ? a[0] : Json{{"wire", nullptr}, {"body", nullptr}}; };
  return {{"first_paint_ms", median(paint)},
          {"dom_interactive_ms", median(interactive)},
          {"drawn_ms", median(drawn)},
          {"bytes", {{"html", last["html_bytes"]}, {"css", first(last["css_bytes"])}, {"script", first(last["js_bytes"])},
                     {"fleet_data", first(last["fleet_bytes"])}}},  // {"wire": as sent, "body": as read}
          {"hosts_shown", last["total"]},
          {"rack_rows", last["racks"]},
          {"table_rows", last["rows"]},
          {"loads", j["loads"]}};
}

// The machine's 1-minute load average (the CPUs are shared with other work).
double load_average() {
  std::istringstream in(read_file("/proc/loadavg"));
  double one = NAN;
  in >> one;
  return one;
}

// The controller's CPU (share of one CPU) over `seconds`; the load average at its end
// in `load`.
double cpu_share(pid_t pid, double seconds, Json& load) {
  double c0 = cpu_seconds(pid);
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  double share = (cpu_seconds(pid) - c0) / std::chrono::duration<double>(Clock::now() - t0).count();
  load.push_back(load_average());
  return share;
}

// The push channel: a run with 3 probes at 100 ms; no browser, --browsers on its live
// page, none again.
Json measure_push(Stage& s, const Settings& st) {
  auto runs = v1::RunService::NewStub(grpc::CreateChannel("unix:" + s.ctl.api, grpc::InsecureChannelCredentials()));
  std::string probe = s.ctl.argv[3];  // the agents' port of this controller: something to connect to
  std::string yaml = "name: web-bench-live\ntargets: {selector: \"rack=r1\"}\n"
                     "steps: [{fault: {network: {blackhole: {}}}, duration: 600s}]\nprobes:\n";
  for (int i = 1; i <= 3; ++i) yaml += fmt::format("  - {{name: p{}, tcp: {{address: \"{}\"}}, interval: 100ms}}\n", i, probe);
  yaml += "slo: {latency: {max: 50ms}}\n";
  v1::StartRunRequest req;
  req.set_experiment_file("web-bench-live.yaml");
  req.set_experiment_yaml(yaml);
  v1::StartRunResponse resp;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    auto status = runs->StartRun(&ctx, req, &resp);
    if (!status.ok() || resp.run_id().empty()) {
      std::string why = status.error_message() + resp.error();
      for (auto& e : resp.errors()) why += " " + e.field() + ": " + e.message();
      return {{"error", "the run did not start: " + why}};
    }
  }
  const std::string run = resp.run_id();
  auto abort_run = [&] {
    v1::AbortRunRequest a;
    a.set_run_id(run);
    a.set_reason("web bench done");
    v1::AbortRunResponse ar;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    (void)runs->AbortRun(&ctx, a, &ar);
  };
  // Measured with the fault in effect and the probes sampling.
  bool observing = false;
  for (auto deadline = Clock::now() + 60s; Clock::now() < deadline && !observing; std::this_thread::sleep_for(200ms)) {
    v1::GetRunRequest g;
    g.set_run_id(run);
    v1::RunRecord rec;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    observing = runs->GetRun(&ctx, g, &rec).ok() && rec.phase() == v1::RUN_PHASE_OBSERVE;
  }
  if (!observing) {
    abort_run();
    return {{"error", "the run did not reach its observe phase within 60 s"}};
  }
  pid_t pid = s.ctl.pid;
  std::cerr << fmt::format("  run {} observing; {:.0f} s with no browser\n", run, st.window_s);
  Json load = Json::array();
  double before = cpu_share(pid, st.window_s, load);

  std::vector<std::string> links;
  for (int i = 0; i < st.browsers; ++i) links.push_back(login_link(s.ctl.api, "bench"));  // one use each
  std::string joined;
  for (auto& l : links) joined += (joined.empty() ? "" : ",") + l;
  std::string out_path = s.ctl.log + ".browsers";
  SpawnOptions o;
  o.argv = {st.python, FDW_SCRIPT, "live", "--url", s.url, "--run", run, "--links", joined, "--hold",
            fmt::format("{}", st.window_s + 3)};
  o.output_file = out_path;
  auto started = start(o);
  if (!started) {
    abort_run();
    return {{"error", "cannot start the browsers: " + started.error().describe()}};
  }
  pid_t py = *started;
  auto end_browsers = [&](std::chrono::seconds grace) {
    for (auto deadline = Clock::now() + grace; Clock::now() < deadline; std::this_thread::sleep_for(100ms)) {
      if (::waitpid(py, nullptr, WNOHANG) == py) return true;
    }
    ::kill(-py, SIGKILL);  // the script's group: its drivers and Chromiums
    ::waitpid(py, nullptr, 0);
    return false;
  };
  bool ready = false;
  for (auto deadline = Clock::now() + std::chrono::seconds(60 + 20 * st.browsers); Clock::now() < deadline && !ready;
       std::this_thread::sleep_for(100ms)) {
    ready = read_file(out_path).find("ready\n") != std::string::npos;
    if (::waitpid(py, nullptr, WNOHANG) == py) break;
  }
  if (!ready) {
    end_browsers(0s);
    abort_run();
    return {{"error", "the browsers did not open the live page:\n" + read_file(out_path).substr(0, 4000)}};
  }
  std::cerr << fmt::format("  {} browsers on the live page; {:.0f} s\n", st.browsers, st.window_s);
  double with = cpu_share(pid, st.window_s, load);
  bool exited = end_browsers(60s);
  auto pages = last_json(read_file(out_path));
  std::cerr << fmt::format("  browsers closed; {:.0f} s with no browser\n", st.window_s);
  double after = cpu_share(pid, st.window_s, load);
  abort_run();
  if (!exited || !pages.contains("points_after")) {
    return {{"error", "the browsers' script failed:\n" + read_file(out_path).substr(0, 4000)}};
  }
  // Samples pushed to each page during its hold (3 probes at 100 ms: about 30 a second).
  std::vector<double> pushed;
  for (size_t i = 0; i < pages["points_after"].size(); ++i) {
    double n = 0;
    for (size_t k = 0; k < pages["points_after"][i].size(); ++k) {
      n += pages["points_after"][i][k].get<double>() - pages["points_before"][i][k].get<double>();
    }
    pushed.push_back(n / pages["held_s"].get<double>());
  }
  double base = (before + after) / 2;
  return {{"run", run},
          {"browsers", st.browsers},
          {"window_s", st.window_s},
          {"controller_cpu_share", {{"no_browser_before", before}, {"browsers", with}, {"no_browser_after", after}}},
          {"extra_cpu_share", with - base},
          {"load_average_1m", std::move(load)},
          {"samples_pushed_per_s_per_page", pushed},
          {"streams_open", pages["streams_open"]}};
}

}  // namespace

int run(int argc, char** argv) {
  namespace po = boost::program_options;
  Settings st;
  std::string sizes_text = "1000,10000", json_path;
  bool quick = false;
  po::options_description desc(R"(web_bench - the dashboard in headless Chromium against a real controller

The Fleet page at each fleet size (first paint, DOM interactive, drawn; median over
loads; ratio of the largest size to the smallest), the push channel's controller CPU
with browsers on a live run page against none, and page weight. Needs root (fd limits),
chromium, chromium-driver and python3-selenium.

OPTIONS)");
  desc.add_options()
    ("help,h", "print this help")
    ("agents", po::value(&sizes_text), "fleet sizes, comma-separated (default 1000,10000)")
    ("loads", po::value(&st.loads), "Fleet page loads per size (default 5)")
    ("browsers", po::value(&st.browsers), "browsers on the live run page (default 10)")
    ("live-agents", po::value(&st.live_agents), "the fleet size the push channel is measured on (default 1000; 0: none)")
    ("window", po::value(&st.window_s), "seconds per CPU window (default 20)")
    ("quick", po::bool_switch(&quick), "1,000 agents, 2 loads, 3 browsers, 5 s windows")
    ("json", po::value(&json_path), "write the results as JSON here");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    st.sizes.clear();
    std::istringstream in(sizes_text);
    for (std::string item; std::getline(in, item, ',');) st.sizes.push_back(std::stoi(item));
  } catch (const std::exception& e) {
    std::cerr << "web_bench: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (quick) {
    st.sizes = {1000};
    st.loads = 2;
    st.browsers = 3;
    st.window_s = 5;
  }
  bool sizes_ok = !st.sizes.empty() && std::all_of(st.sizes.begin(), st.sizes.end(), [](int n) { return n > 0 && n <= 100000; });
  if (!sizes_ok || st.loads < 1 || st.loads > 50 || st.browsers < 1 || st.browsers > 20 || st.window_s <= 0 ||
      st.window_s > 300) {
    std::cerr << "web_bench: --agents 1..100000 each, --loads 1..50, --browsers 1..20, --window 0..300 s\n";
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  const int most = *std::max_element(st.sizes.begin(), st.sizes.end());
  raise_fd_limit(static_cast<size_t>(most) * 3 + 1024);
  Fleet fleet;
  auto t0 = Clock::now();
  if (auto e = make_fleet(fleet, most, "web"); !e.empty()) {
    std::cerr << "web_bench: certificates: " << e << "\n";
    return 1;
  }
  std::cerr << fmt::format("web: {} certificates in {:.1f} s\n", most, std::chrono::duration<double>(Clock::now() - t0).count());

  Json fleet_cases = Json::array(), push;
  for (int n : st.sizes) {
    std::cerr << fmt::format("{} agents:\n", n);
    Stage stage;
    open_stage(stage, fleet, n);
    Json c = stage.error.empty() ? measure_fleet(stage, st) : Json{{"error", stage.error}};
    c["agents"] = n;
    if (!c.contains("error")) {
      std::cerr << fmt::format("  Fleet page: first paint {:.0f} ms, drawn {:.0f} ms\n", c["first_paint_ms"].get<double>(),
                               c["drawn_ms"].get<double>());
    }
    fleet_cases.push_back(c);
    if (n == st.live_agents && stage.error.empty()) push = measure_push(stage, st);
  }
  if (push.is_null() && st.live_agents > 0) push = {{"error", fmt::format("--live-agents {} is not among --agents", st.live_agents)}};

  auto num = [](const Json& j, const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : NAN; };
  std::cout << "web: the dashboard in headless Chromium against one controller with simulated agents over mTLS\n"
               "  (loopback, 2 CPUs shared with the simulation and the browsers); medians over "
            << st.loads << " fresh loads\n\n";
  std::cout << fmt::format("  {:>6} {:>10} {:>12} {:>9} {:>13} {:>13} {:>13} {:>15} {:>5}\n", "agents", "1st paint",
                           "interactive", "drawn", "HTML B", "CSS B", "JS B", "fleet data B", "rows");
  for (auto& c : fleet_cases) {
    if (c.contains("error")) {
      std::cout << fmt::format("  {:>6} failed: {}\n", c["agents"].get<int>(), c["error"].get<std::string>());
      continue;
    }
    auto& b = c["bytes"];
    auto bytes = [](const Json& x) { return fmt::format("{}/{}", x["wire"].dump(), x["body"].dump()); };
    std::cout << fmt::format("  {:>6} {:>8.0f}ms {:>10.0f}ms {:>7.0f}ms {:>13} {:>13} {:>13} {:>15} {:>5}\n",
                             c["agents"].get<int>(), num(c, "first_paint_ms"), num(c, "dom_interactive_ms"),
                             num(c, "drawn_ms"), bytes(b["html"]), bytes(b["css"]), bytes(b["script"]),
                             bytes(b["fleet_data"]), c["table_rows"].dump());
  }
  Json ratios, targets;
  const Json *small = nullptr, *large = nullptr;
  for (auto& c : fleet_cases) {
    if (c.contains("error")) continue;
    if (!small || c["agents"] < (*small)["agents"]) small = &c;
    if (!large || c["agents"] > (*large)["agents"]) large = &c;
  }
  bool all_ok = small != nullptr;
  if (small && large && small != large) {
    ratios = {{"of", fmt::format("{} over {} agents", (*large)["agents"].get<int>(), (*small)["agents"].get<int>())},
              {"first_paint", num(*large, "first_paint_ms") / num(*small, "first_paint_ms")},
              {"drawn", num(*large, "drawn_ms") / num(*small, "drawn_ms")},
              {"fleet_data_bytes", (*large)["bytes"]["fleet_data"]["body"].get<double>() /
                                       (*small)["bytes"]["fleet_data"]["body"].get<double>()}};
    std::cout << fmt::format("\n  {}: first paint {:.2f}x, drawn {:.2f}x, fleet data {:.2f}x\n", ratios["of"].get<std::string>(),
                             ratios["first_paint"].get<double>(), ratios["drawn"].get<double>(),
                             ratios["fleet_data_bytes"].get<double>());
  }
  std::cout << "\n  1st paint: first contentful paint; interactive: DOM interactive; drawn: the page's script drew\n"
               "  the fleet (per rack; a rack's hosts on a click), all from navigation start; B: bytes as sent/as read\n"
               "  (sent gzip-compressed when the browser accepts it); rows: table rows drawn\n";
  if (large) {
    bool ok = num(*large, "drawn_ms") < 1000;
    all_ok = all_ok && ok;
    targets["fleet_drawn_under_1s"] = ok;
    std::cout << fmt::format("\n  target at {} agents: drawn {:.0f} ms < 1000 {}\n", (*large)["agents"].get<int>(),
                             num(*large, "drawn_ms"), ok ? "PASS" : "FAIL");
  }
  if (push.contains("error")) {
    all_ok = false;
    std::cout << "\n  push channel: failed: " << push["error"].get<std::string>() << "\n";
  } else if (!push.is_null()) {
    auto& cpu = push["controller_cpu_share"];
    double extra = push["extra_cpu_share"];
    bool ok = extra < 0.05;
    all_ok = all_ok && ok;
    targets["push_extra_cpu_under_5pct"] = ok;
    std::vector<double> rate = push["samples_pushed_per_s_per_page"];
    std::cout << fmt::format(
        "\n  push channel: run with 3 probes at 100 ms on {} agents, controller CPU over {:.0f} s windows:\n"
        "    no browser {:.1f}%, {} browsers on the live page {:.1f}%, no browser again {:.1f}%\n"
        "    extra CPU of {} browsers: {:.1f}% of a CPU (target < 5% {}); samples pushed per page {:.1f}..{:.1f}/s\n"
        "    (machine load average at the windows' ends: {})\n",
        st.live_agents, st.window_s, cpu["no_browser_before"].get<double>() * 100, st.browsers,
        cpu["browsers"].get<double>() * 100, cpu["no_browser_after"].get<double>() * 100, st.browsers, extra * 100,
        ok ? "PASS" : "FAIL", rate.empty() ? NAN : *std::min_element(rate.begin(), rate.end()),
        rate.empty() ? NAN : *std::max_element(rate.begin(), rate.end()), push["load_average_1m"].dump());
  }
  if (!json_path.empty()) {
    std::ofstream(json_path) << Json{{"suite", "web"}, {"loads", st.loads}, {"fleet_page", fleet_cases},
                                     {"ratios", ratios}, {"push", push}, {"targets", targets}}
                                    .dump(2)
                             << "\n";
  }
  return all_ok ? 0 : 1;
}

// An unexpected answer (a JSON field missing) ends the run with the processes it started
// ended too (their owners' destructors run as the exception unwinds).
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "web_bench: " << e.what() << "\n";
    return 1;
  }
}
