// fanout: one real controller (`firedrill serve`, its own process) and N lightweight
// simulated agents (sim_agents.h, a child process of their own), each with its own
// mTLS connection and certificate, speaking the real AgentService protocol over
// loopback, at the product's default heartbeat and lease grace. For each fleet size
// (--agents 1000,10000,...) and each of the two lease protocols side by side (old:
// renewals on the controller's timer, a heartbeat every interval, as earlier agents;
// new: renewal by heartbeat, LeaseRenewal in proto/firedrill/v1/agent.proto),
// a fresh controller, and:
//   - idle: the CPU each side uses with nothing to do, the messages on the wire
//     (gRPC messages and HTTP/2 PINGs, both ways) per agent and second, and the
//     controller's CPU per message;
//   - the controller's resident memory, connected, per agent;
//   - ApplyFault on all N (an `inject` on the empty selector) to the last ack, and
//     halt to the last agent's confirmation (p50/p99 over repeats).
// Prints a table with old/new ratios and writes JSON (--json). Targets, 10,000 agents
// on the new protocol: idle under 10% of a CPU, RSS under 512 MiB, apply and halt
// p99 under 500 ms.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <functional>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "common/spawn.h"
#include "common/time.h"
#include "bench/fanout/sim_fleet.h"
#include "controller/session/agent_service.h"
#include "controller/session/certs.h"
#include "firedrill/v1/agent.grpc.pb.h"
#include "firedrill/v1/controller.grpc.pb.h"

namespace {

using namespace firedrill;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using bench::cpu_seconds;
using bench::read_file;
using bench::Stats;
using bench::status_kib;

// ---------------------------------------------------------------- helpers

double ms_of(const google::protobuf::Duration& d) {
  return std::chrono::duration<double, std::milli>(from_proto(d)).count();
}

}  // namespace

namespace {

struct Settings {
  int repeats = 5, batch = 500;
  std::string heartbeat = "1s", grace = "5s";
  double idle_window_s = 30;
  std::string wrap, keep_log;
};

struct CaseResult {
  int agents = 0;
  bool new_protocol = false;
  int registered = 0, ended = 0;
  double connect_s = 0;
  size_t live = 0;
  long rss_idle = -1, rss_connected = -1, rss_end = -1, hwm = -1;
  double idle_ctl = NAN, idle_sim = NAN;  // share of a CPU
  double messages = 0, pings = 0;         // on the wire in the idle window, both ways
  double msgs_per_agent_s = NAN, cpu_us_per_msg = NAN;
  Stats apply_last_ack, apply_rpc, halt_last, halt_rpc, target_ack;
  Stats apply_cpu_ctl, apply_cpu_sim, halt_cpu_ctl, halt_cpu_sim;
  size_t apply_failures = 0, halt_unconfirmed = 0;
  std::string error;

  double kib_per_agent() const {
    return registered > 0 ? static_cast<double>(rss_connected - rss_idle) / registered : NAN;
  }
  nlohmann::json json(const Settings& st) const {
    return {
        {"agents", agents},
        {"protocol", new_protocol ? "new: renewal by heartbeat" : "old: renewals on the controller's timer"},
        {"registered", registered},
        {"live", live},
        {"connect_s", connect_s},
        {"idle",
         {{"window_s", st.idle_window_s},
          {"controller_cpu_share", idle_ctl},
          {"agents_cpu_share", idle_sim},
          {"messages_both_ways", messages},
          {"of_which_http2_pings", pings},
          {"messages_per_agent_per_s", msgs_per_agent_s},
          {"controller_cpu_us_per_message", cpu_us_per_msg}}},
        {"controller_rss_kib",
         {{"idle", rss_idle}, {"connected", rss_connected}, {"end", rss_end}, {"peak", hwm},
          {"per_agent", kib_per_agent()}}},
        {"apply_to_last_ack", apply_last_ack.json()},
        {"inject_rpc", apply_rpc.json()},
        {"per_target_ack", {{"p50_ms", target_ack.pct(50)}, {"p99_ms", target_ack.pct(99)}, {"max_ms", target_ack.max()}}},
        {"halt_to_last_confirmation", halt_last.json()},
        {"halt_rpc", halt_rpc.json()},
        {"cpu_ms",
         {{"inject_controller", apply_cpu_ctl.json()},
          {"inject_agents", apply_cpu_sim.json()},
          {"halt_controller", halt_cpu_ctl.json()},
          {"halt_agents", halt_cpu_sim.json()}}},
        {"failures", {{"inject", apply_failures}, {"halt_unconfirmed", halt_unconfirmed}, {"streams_ended", ended},
                      {"error", error}}},
    };
  }
};

// One controller, `identities.size()` simulated agents on one protocol.
CaseResult run_case(const std::string& dir, const std::vector<bench::SimAgentIdentity>& identities,
                    const std::string& ca_pem, bool new_protocol, const Settings& st) {
  CaseResult out;
  out.agents = static_cast<int>(identities.size());
  out.new_protocol = new_protocol;
  const int agents = out.agents;
  std::string state = fmt::format("{}/state-{}-{}", dir, agents, new_protocol ? "new" : "old");
  std::string log_path = state + ".log", api = state + ".sock";
  pid_t ctl_pid = -1;
  {
    SpawnOptions o;
    std::istringstream words(st.wrap);
    for (std::string w; words >> w;) o.argv.push_back(w);
    o.argv.insert(o.argv.end(), {FDC_FIREDRILL_BIN, "serve", "--listen", "127.0.0.1:0", "--tls-ca", dir + "/ca.pem",
                                 "--tls-cert", dir + "/controller.pem", "--tls-key", dir + "/controller.key",
                                 "--state-dir", state, "--api", api, "--heartbeat", st.heartbeat, "--lease-grace",
                                 st.grace});
    std::filesystem::remove(log_path);
    o.output_file = log_path;
    auto started = start(o);
    if (!started) {
      out.error = "cannot start the controller: " + started.error().describe();
      return out;
    }
    ctl_pid = *started;
  }
  pid_t sim_pid = -1;
  int command_fd = -1;
  auto stop_sims = [&] {
    if (sim_pid <= 0) return;
    (void)!::write(command_fd, "stop\n", 5);
    ::close(command_fd);
    ::waitpid(sim_pid, nullptr, 0);
    sim_pid = -1;
  };
  auto cleanup = [&] {
    stop_sims();
    if (ctl_pid > 0) {
      ::kill(ctl_pid, SIGKILL);
      ::waitpid(ctl_pid, nullptr, 0);
      ctl_pid = -1;
    }
    if (!st.keep_log.empty()) {
      std::error_code ec;
      std::filesystem::copy_file(log_path, fmt::format("{}.{}-{}", st.keep_log, agents, new_protocol ? "new" : "old"),
                                 std::filesystem::copy_options::overwrite_existing, ec);
    }
  };
  // The port it bound, from the listener line of its log.
  int port = 0;
  for (int i = 0; i < 200 && port == 0; ++i) {
    std::this_thread::sleep_for(50ms);
    std::smatch m;
    auto log = read_file(log_path);
    if (std::regex_search(log, m, std::regex(R"(\(port (\d+),)"))) port = std::stoi(m[1]);
  }
  if (port == 0) {
    out.error = "the controller did not start: " + read_file(log_path);
    cleanup();
    return out;
  }
  out.rss_idle = status_kib(ctl_pid, "VmRSS");

  // The simulated agents: a child process of their own, so that their CPU and memory
  // are theirs alone.
  int report_pipe[2], command_pipe[2];
  if (::pipe2(report_pipe, O_CLOEXEC) != 0 || ::pipe2(command_pipe, O_CLOEXEC) != 0) {
    out.error = fmt::format("pipe: {}", std::strerror(errno));
    cleanup();
    return out;
  }
  {
    bench::SimAgentsConfig sim_config;
    sim_config.port = port;
    sim_config.ca_pem = ca_pem;
    sim_config.batch = static_cast<size_t>(st.batch);
    sim_config.heartbeat = std::chrono::duration_cast<std::chrono::milliseconds>(*parse_duration(st.heartbeat));
    sim_config.lease_by_heartbeat = new_protocol;
    // Earlier agents pinged every 10 s; the new ones watch the stream themselves.
    sim_config.keepalive = new_protocol ? 60000ms : 10000ms;
    sim_config.agents = identities;
    sim_config.report_fd = report_pipe[1];
    sim_config.command_fd = command_pipe[0];
    sim_pid = ::fork();
    if (sim_pid == 0) ::_exit(bench::run_sim_agents(sim_config));
  }
  ::close(report_pipe[1]);
  ::close(command_pipe[0]);
  command_fd = command_pipe[1];
  auto c0 = Clock::now();

  // Progress lines from the simulation: "R <registered> <ended> <first error>" and
  // "M <sent> <received> <pings sent> <pings received>".
  std::string first_error, pending;
  uint64_t counts[4] = {0, 0, 0, 0};
  uint64_t count_lines = 0;
  auto read_progress = [&](int timeout_ms) {
    pollfd pfd{report_pipe[0], POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) <= 0) return;
    char buf[4096];
    ssize_t n = ::read(report_pipe[0], buf, sizeof buf);
    if (n <= 0) return;
    pending.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
      std::istringstream line(pending.substr(0, nl));
      std::string tag;
      line >> tag;
      if (tag == "M") {
        line >> counts[0] >> counts[1] >> counts[2] >> counts[3];
        ++count_lines;
        continue;
      }
      line >> out.registered >> out.ended;
      std::getline(line, first_error);
      if (!first_error.empty() && first_error[0] == ' ') first_error.erase(0, 1);
    }
  };
  // The simulation's counters now: asks for a report and waits for it.
  auto read_counts = [&] {
    uint64_t before = count_lines;
    (void)!::write(command_fd, "count\n", 6);
    for (int i = 0; i < 100 && count_lines == before; ++i) read_progress(50);
    return std::array<uint64_t, 4>{counts[0], counts[1], counts[2], counts[3]};
  };
  int shown = 0;
  auto connect_deadline = Clock::now() + std::chrono::seconds(60 + agents / 20);
  while (out.registered + out.ended < agents && Clock::now() < connect_deadline) {
    read_progress(100);
    if (out.registered >= shown + st.batch * 4 || (out.registered + out.ended >= agents && shown < out.registered)) {
      shown = out.registered;
      std::cerr << fmt::format("  connected {} agents in {:.1f} s (controller CPU {:.1f} s, agents {:.1f} s)\n",
                               out.registered, std::chrono::duration<double>(Clock::now() - c0).count(),
                               cpu_seconds(ctl_pid), cpu_seconds(sim_pid));
    }
  }
  out.connect_s = std::chrono::duration<double>(Clock::now() - c0).count();
  if (out.registered < agents) {
    std::cerr << fmt::format("fanout_bench: only {} of {} agents registered ({} streams ended); first failure: {}\n",
                             out.registered, agents, out.ended, first_error);
    out.error = first_error;
  }
  grpc::ChannelArguments api_args;
  api_args.SetMaxReceiveMessageSize(256 << 20);
  auto api_stub = v1::ControllerService::NewStub(
      grpc::CreateCustomChannel("unix:" + api, grpc::InsecureChannelCredentials(), api_args));
  // Wait until the controller lists them all live.
  for (int i = 0; i < 300; ++i) {
    grpc::ClientContext ctx;
    v1::ControllerStatus status;
    if (api_stub->GetStatus(&ctx, {}, &status).ok()) out.live = status.live_agents();
    if (out.live >= static_cast<size_t>(out.registered)) break;
    std::this_thread::sleep_for(100ms);
  }
  // Registration's own traffic settles (Hello, first lease, first heartbeat) before
  // the idle window opens.
  std::this_thread::sleep_for(3s);
  out.rss_connected = status_kib(ctl_pid, "VmRSS");

  // What the connected fleet costs with nothing to do (heartbeats, lease renewals,
  // keepalives), on each side of the loopback.
  auto m0 = read_counts();
  double idle_ctl0 = cpu_seconds(ctl_pid), idle_sim0 = cpu_seconds(sim_pid);
  auto w0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(st.idle_window_s));
  double idle_ctl_s = cpu_seconds(ctl_pid) - idle_ctl0, idle_sim_s = cpu_seconds(sim_pid) - idle_sim0;
  double window = std::chrono::duration<double>(Clock::now() - w0).count();
  auto m1 = read_counts();
  out.idle_ctl = idle_ctl_s / window;
  out.idle_sim = idle_sim_s / window;
  out.messages = static_cast<double>((m1[0] - m0[0]) + (m1[1] - m0[1]) + (m1[2] - m0[2]) + (m1[3] - m0[3]));
  out.pings = static_cast<double>((m1[2] - m0[2]) + (m1[3] - m0[3]));
  if (out.registered > 0) out.msgs_per_agent_s = out.messages / out.registered / window;
  if (out.messages > 0) out.cpu_us_per_msg = idle_ctl_s * 1e6 / out.messages;
  std::cerr << fmt::format("  idle: controller {:.1f}% of a CPU, simulated agents {:.1f}%; {:.3f} messages per agent "
                           "per second, {:.0f} us of controller CPU per message\n",
                           out.idle_ctl * 100, out.idle_sim * 100, out.msgs_per_agent_s, out.cpu_us_per_msg);

  for (int r = 0; r < st.repeats; ++r) {
    v1::InjectRequest req;
    req.mutable_spec()->mutable_network()->mutable_blackhole();
    *req.mutable_duration() = to_proto_duration(60s);
    req.set_description("fanout bench");
    v1::InjectResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 120s);
    double cc0 = cpu_seconds(ctl_pid), b0 = cpu_seconds(sim_pid);
    auto s0 = Clock::now();
    auto requested = WallClock::now();  // the controller is on this host: one clock
    auto status = api_stub->Inject(&ctx, req, &resp);
    out.apply_rpc.add(std::chrono::duration<double, std::milli>(Clock::now() - s0).count());
    out.apply_cpu_ctl.add((cpu_seconds(ctl_pid) - cc0) * 1000);
    out.apply_cpu_sim.add((cpu_seconds(sim_pid) - b0) * 1000);
    if (!status.ok() || !resp.applied()) {
      std::cerr << "inject failed: " << status.error_message() << " " << resp.error().substr(0, 500) << "\n";
      ++out.apply_failures;
    } else {
      out.apply_last_ack.add(ms_of(resp.dispatch_to_last_ack()));
      // An inject is a run: its not_before is the staged common start, after the acks.
      for (auto& t : resp.faults()) {
        if (t.has_acked_at()) {
          out.target_ack.add(std::chrono::duration<double, std::milli>(from_proto(t.acked_at()) - requested).count());
        }
      }
    }

    v1::HaltRequest hreq;
    hreq.set_reason("fanout bench round " + std::to_string(r));
    v1::HaltResponse hresp;
    grpc::ClientContext hctx;
    hctx.set_deadline(std::chrono::system_clock::now() + 120s);
    cc0 = cpu_seconds(ctl_pid);
    b0 = cpu_seconds(sim_pid);
    auto h0 = Clock::now();
    auto hs = api_stub->Halt(&hctx, hreq, &hresp);
    out.halt_rpc.add(std::chrono::duration<double, std::milli>(Clock::now() - h0).count());
    out.halt_cpu_ctl.add((cpu_seconds(ctl_pid) - cc0) * 1000);
    out.halt_cpu_sim.add((cpu_seconds(sim_pid) - b0) * 1000);
    if (hs.ok()) {
      out.halt_last.add(ms_of(hresp.to_last_confirmation()));
      out.halt_unconfirmed += hresp.unconfirmed_size();
    } else {
      std::cerr << "halt failed: " << hs.error_message() << "\n";
      ++out.halt_unconfirmed;
    }
    grpc::ClientContext rctx;
    v1::ReleaseResponse rresp;
    (void)api_stub->Release(&rctx, {}, &rresp);
    std::cerr << fmt::format("  round {}: apply to last ack {:.1f} ms, halt to last confirmation {:.1f} ms\n", r + 1,
                             out.apply_last_ack.ms.empty() ? NAN : out.apply_last_ack.ms.back(),
                             out.halt_last.ms.empty() ? NAN : out.halt_last.ms.back());
  }
  out.rss_end = status_kib(ctl_pid, "VmRSS");
  out.hwm = status_kib(ctl_pid, "VmHWM");
  read_progress(0);
  cleanup();
  ::close(report_pipe[0]);
  return out;
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    item.erase(std::remove(item.begin(), item.end(), '_'), item.end());
    out.push_back(std::stoi(item));
  }
  return out;
}

double ratio(double old_value, double new_value) { return new_value > 0 ? old_value / new_value : NAN; }

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  Settings st;
  std::string agents_text = "1000,10000", protocols = "old,new", json_path, key_type = "p256";
  int old_max = 10000;
  bool quick = false;
  po::options_description desc(R"(fanout_bench - one controller, many simulated agents, over mTLS on loopback

For each fleet size and lease protocol (old: renewals on the controller's timer; new:
renewal by heartbeat), a fresh controller: idle CPU and messages, memory per agent,
ApplyFault on every agent to the last ack and halt to the last confirmation (p50/p99
over repeats), side by side with old/new ratios. Needs root (fd limits).

OPTIONS)");
  desc.add_options()
    ("help,h", "print this help")
    ("agents", po::value(&agents_text), "fleet sizes, comma-separated (default 1000,10000)")
    ("protocols", po::value(&protocols), "old, new or old,new (default)")
    ("old-max", po::value(&old_max), "the old protocol only up to this many agents (default 10000: beyond, its "
                                     "message rate saturates a 2-CPU machine)")
    ("repeats", po::value(&st.repeats), "inject+halt rounds per case (default 5)")
    ("batch", po::value(&st.batch), "agents connecting at once (default 500)")
    ("heartbeat", po::value(&st.heartbeat), "the controller's heartbeat interval (default 1s, the product's)")
    ("lease-grace", po::value(&st.grace), "the controller's lease grace (default 5s, the product's)")
    ("idle-window", po::value(&st.idle_window_s), "seconds of idle measured (default 30, the idle heartbeat pace)")
    ("key-type", po::value(&key_type), "agent keys: p256 (default) or ed25519")
    ("quick", po::bool_switch(&quick), "1,000 agents, 2 repeats, a 10 s idle window")
    ("json", po::value(&json_path), "write the results as JSON here")
    ("keep-log", po::value(&st.keep_log), "copy each controller's log to this path plus .N-old/.N-new")
    ("wrap", po::value(&st.wrap), "run the controller under this command (e.g. 'heaptrack -o /tmp/ctl'; split at spaces)");
  po::variables_map vm;
  std::vector<int> sizes;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    sizes = parse_list(agents_text);
  } catch (const std::exception& e) {
    std::cerr << "fanout_bench: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (quick) {
    sizes = {1000};
    st.repeats = 2;
    st.idle_window_s = 10;
  }
  std::vector<bool> modes;
  if (protocols.find("old") != std::string::npos) modes.push_back(false);
  if (protocols.find("new") != std::string::npos) modes.push_back(true);
  auto kt = controller::parse_key_type(key_type);
  bool sizes_ok = !sizes.empty() && std::all_of(sizes.begin(), sizes.end(), [](int n) { return n > 0; });
  if (!kt || !sizes_ok || modes.empty() || st.repeats <= 0 || st.batch <= 0 || st.idle_window_s <= 0 ||
      !parse_duration(st.heartbeat) || !parse_duration(st.grace)) {
    std::cerr << "fanout_bench: bad --key-type, --agents, --protocols, --repeats, --batch, --idle-window, "
                 "--heartbeat or --lease-grace\n";
    return 2;
  }
  const int most = *std::max_element(sizes.begin(), sizes.end());
  std::signal(SIGPIPE, SIG_IGN);
  controller::tune_grpc_runtime();
  bench::raise_fd_limit(static_cast<size_t>(most) * 3 + 1024);

  // TLS material: a CA, the controller, and one certificate per simulated agent.
  std::string dir = "/tmp/fdc-fanout-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  auto t0 = Clock::now();
  auto ca = controller::make_ca("fanout CA", controller::KeyType::kP256, 1);
  auto ctl = controller::issue_cert(*ca, controller::CertRole::kController, "controller", {"127.0.0.1"},
                                    controller::KeyType::kP256, 1);
  if (!ca || !ctl) {
    std::cerr << "fanout_bench: cannot make certificates\n";
    return 1;
  }
  (void)controller::write_pem(dir, "ca", *ca, true);
  (void)controller::write_pem(dir, "controller", *ctl, true);
  std::vector<bench::SimAgentIdentity> identities;
  identities.reserve(static_cast<size_t>(most));
  for (int i = 0; i < most; ++i) {
    auto id = fmt::format("sim-{:05d}", i);
    auto p = controller::issue_cert(*ca, controller::CertRole::kAgent, id, {}, *kt, 1);
    if (!p) {
      std::cerr << "fanout_bench: " << p.error().message << "\n";
      return 1;
    }
    identities.push_back({id, std::move(p->cert), std::move(p->key)});
  }
  double certs_s = std::chrono::duration<double>(Clock::now() - t0).count();

  std::vector<CaseResult> results;
  for (int n : sizes) {
    std::vector<bench::SimAgentIdentity> some(identities.begin(), identities.begin() + n);
    for (bool mode : modes) {
      if (!mode && n > old_max) continue;
      std::cerr << fmt::format("{} agents, {} protocol:\n", n, mode ? "new" : "old");
      results.push_back(run_case(dir, some, ca->cert, mode, st));
    }
  }
  std::filesystem::remove_all(dir);

  auto find = [&](int n, bool mode) -> const CaseResult* {
    for (auto& r : results) {
      if (r.agents == n && r.new_protocol == mode) return &r;
    }
    return nullptr;
  };
  std::cout << fmt::format(
      "fanout: simulated agents, each its own mTLS connection over loopback, against one controller (2 CPUs)\n"
      "  heartbeat {}, lease grace {} (the product's defaults), idle heartbeat of the new protocol 30s (its default),\n"
      "  {} inject+halt rounds per case, idle measured over {:.0f} s; certificates {:.1f} s\n"
      "  old: renewals every grace/3 on the controller's timer, a heartbeat every interval, HTTP/2 keepalive 10 s\n"
      "  new: renewal by heartbeat (LeaseRenewal in proto/firedrill/v1/agent.proto), keepalive 60 s\n\n",
      st.heartbeat, st.grace, st.repeats, st.idle_window_s, certs_s);
  std::cout << fmt::format("  {:>6} {:>4} {:>7} {:>7} {:>9} {:>8} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8} {:>5}\n", "agents",
                           "prot", "idle", "sims", "msg/ag/s", "us/msg", "RSS MiB", "KiB/ag", "apply50", "apply99",
                           "halt50", "halt99", "fail");
  for (auto& r : results) {
    std::cout << fmt::format(
        "  {:>6} {:>4} {:>6.1f}% {:>6.1f}% {:>9.3f} {:>8.0f} {:>8.0f} {:>7.1f} {:>6.0f}ms {:>6.0f}ms {:>6.0f}ms "
        "{:>6.0f}ms {:>5}\n",
        r.agents, r.new_protocol ? "new" : "old", r.idle_ctl * 100, r.idle_sim * 100, r.msgs_per_agent_s,
        r.cpu_us_per_msg, r.rss_connected / 1024.0, r.kib_per_agent(), r.apply_last_ack.pct(50),
        r.apply_last_ack.pct(99), r.halt_last.pct(50), r.halt_last.pct(99),
        r.apply_failures + r.halt_unconfirmed + static_cast<size_t>(r.agents - r.registered));
  }
  std::cout << "\n  idle: controller CPU (share of one CPU) with nothing to do; sims: the simulated fleet's;\n"
               "  msg/ag/s: gRPC messages and HTTP/2 PINGs on the wire, both ways, per agent and second;\n"
               "  us/msg: controller CPU per such message; apply: inject to the last ack; halt: to the last\n"
               "  confirmation; fail: agents not registered + injects not applied + halts unconfirmed\n";
  nlohmann::json ratios = nlohmann::json::array();
  for (int n : sizes) {
    auto o = find(n, false), w = find(n, true);
    if (!o || !w) continue;
    nlohmann::json j = {{"agents", n},
                        {"idle_controller_cpu", ratio(o->idle_ctl, w->idle_ctl)},
                        {"messages_per_agent_per_s", ratio(o->msgs_per_agent_s, w->msgs_per_agent_s)},
                        {"cpu_per_message", ratio(o->cpu_us_per_msg, w->cpu_us_per_msg)},
                        {"rss_connected", ratio(o->rss_connected, w->rss_connected)},
                        {"apply_p99", ratio(o->apply_last_ack.pct(99), w->apply_last_ack.pct(99))},
                        {"halt_p99", ratio(o->halt_last.pct(99), w->halt_last.pct(99))}};
    ratios.push_back(j);
    std::cout << fmt::format(
        "\n  {} agents, old/new: idle CPU {:.1f}x, messages {:.1f}x, CPU per message {:.2f}x, RSS {:.2f}x, "
        "apply p99 {:.2f}x, halt p99 {:.2f}x",
        n, j["idle_controller_cpu"].get<double>(), j["messages_per_agent_per_s"].get<double>(),
        j["cpu_per_message"].get<double>(), j["rss_connected"].get<double>(), j["apply_p99"].get<double>(),
        j["halt_p99"].get<double>());
  }
  std::cout << "\n";
  // The targets: 10,000 agents (or the largest size run) on the new protocol.
  const CaseResult* target = nullptr;
  for (auto& r : results) {
    if (r.new_protocol && (!target || std::abs(r.agents - 10000) < std::abs(target->agents - 10000))) target = &r;
  }
  nlohmann::json targets;
  bool all_ok = true;
  if (target) {
    auto pass = [&](bool ok) {
      all_ok = all_ok && ok;
      return ok ? "PASS" : "FAIL";
    };
    bool ok_fail = target->apply_failures == 0 && target->halt_unconfirmed == 0 && target->registered == target->agents;
    targets = {{"agents", target->agents},
               {"idle_under_10pct", target->idle_ctl < 0.10},
               {"rss_under_512mib", target->rss_connected > 0 && target->hwm < 512 * 1024},
               {"apply_p99_under_500ms", target->apply_last_ack.pct(99) < 500},
               {"halt_p99_under_500ms", target->halt_last.pct(99) < 500},
               {"no_failures", ok_fail}};
    std::cout << fmt::format(
        "\n  targets at {} agents, new protocol: idle {:.1f}% < 10% {}; RSS peak {:.0f} MiB < 512 {}; apply p99 {:.0f} ms "
        "< 500 {}; halt p99 {:.0f} ms < 500 {}; failures {}\n",
        target->agents, target->idle_ctl * 100, pass(targets["idle_under_10pct"]), target->hwm / 1024.0,
        pass(targets["rss_under_512mib"]), target->apply_last_ack.pct(99), pass(targets["apply_p99_under_500ms"]),
        target->halt_last.pct(99), pass(targets["halt_p99_under_500ms"]), pass(ok_fail));
  }
  std::cout << "\n  published anchors: a managed cloud fault service starts actions about 13 s after an experiment\n"
               "  starts; a popular Kubernetes chaos tool never finished injecting into 6,000 pods.\n";

  if (!json_path.empty()) {
    nlohmann::json cases = nlohmann::json::array();
    for (auto& r : results) cases.push_back(r.json(st));
    nlohmann::json j = {
        {"suite", "fanout"},
        {"heartbeat", st.heartbeat},
        {"lease_grace", st.grace},
        {"repeats", st.repeats},
        {"agent_key_type", key_type},
        {"certificates_s", certs_s},
        {"cases", cases},
        {"old_over_new", ratios},
        {"targets", targets},
    };
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  return all_ok ? 0 : 1;
}
