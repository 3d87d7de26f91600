// fanout: one real controller (`firedrill serve`, its own process) and N lightweight
// simulated agents (sim_agents.h, a child process of their own), each with its own
// mTLS connection and certificate, speaking the real AgentService protocol over
// loopback. Measures, over repeats:
//   - ApplyFault on all N (an `inject` on the empty selector) to the last ack,
//   - halt to the last agent's confirmation,
//   - the controller's resident memory.
//   - the CPU each side used (the controller, the simulated fleet), idle and per RPC.
// Prints a table and writes JSON (--json). Targets: both p99 under 1 s with 10,000
// agents, controller RSS under 512 MiB.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
#include "bench/fanout/sim_agents.h"
#include "controller/session/agent_service.h"
#include "controller/session/certs.h"
#include "firedrill/v1/agent.grpc.pb.h"
#include "firedrill/v1/controller.grpc.pb.h"

namespace {

using namespace firedrill;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- helpers

struct Stats {
  std::vector<double> ms;
  void add(double v) { ms.push_back(v); }
  double pct(double p) const {
    if (ms.empty()) return NAN;
    auto v = ms;
    std::sort(v.begin(), v.end());
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
  }
  double max() const { return ms.empty() ? NAN : *std::max_element(ms.begin(), ms.end()); }
  nlohmann::json json() const { return {{"p50_ms", pct(50)}, {"p99_ms", pct(99)}, {"max_ms", max()}, {"samples", ms}}; }
};

double ms_of(const google::protobuf::Duration& d) {
  return std::chrono::duration<double, std::milli>(from_proto(d)).count();
}

long status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

void raise_fd_limit(size_t need) {
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  if (r.rlim_cur < need) {
    r.rlim_max = r.rlim_cur = need;  // root may raise the hard limit up to nr_open
  }
  if (::setrlimit(RLIMIT_NOFILE, &r) != 0) {
    std::cerr << "fanout: cannot raise the fd limit to " << need << ": " << std::strerror(errno) << "\n";
  }
}

// CPU seconds (user + system) a process has used.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return NAN;
  std::istringstream rest(text.substr(close + 2));
  std::string f;
  std::vector<std::string> fields;
  while (rest >> f) fields.push_back(f);
  if (fields.size() < 13) return NAN;
  return (std::stod(fields[11]) + std::stod(fields[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::string read_file(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  int agents = 10000, repeats = 10, batch = 500;
  std::string json_path, heartbeat = "5s", grace = "10s", key_type = "p256", wrap, keep_log;
  bool quick = false;
  po::options_description desc(R"(fanout_bench - one controller, many simulated agents, over mTLS on loopback

Measures ApplyFault on every agent to the last ack, halt to the last confirmation,
and the controller's resident memory (p50/p99 over repeats). Needs root (fd limits).

OPTIONS)");
  desc.add_options()
    ("help,h", "print this help")
    ("agents", po::value(&agents), "simulated agents (default 10000)")
    ("repeats", po::value(&repeats), "inject+halt rounds (default 10)")
    ("batch", po::value(&batch), "agents connecting at once (default 500)")
    ("heartbeat", po::value(&heartbeat), "the controller's heartbeat interval (default 5s)")
    ("lease-grace", po::value(&grace), "the controller's lease grace (default 10s)")
    ("key-type", po::value(&key_type), "agent keys: p256 (default) or ed25519")
    ("quick", po::bool_switch(&quick), "1,000 agents, 3 repeats")
    ("json", po::value(&json_path), "write the results as JSON here")
    ("keep-log", po::value(&keep_log), "copy the controller's log here at the end")
    ("wrap", po::value(&wrap), "run the controller under this command (e.g. 'heaptrack -o /tmp/ctl'; split at spaces)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "fanout_bench: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (quick) {
    agents = 1000;
    repeats = 3;
  }
  auto kt = controller::parse_key_type(key_type);
  if (!kt || agents <= 0 || repeats <= 0 || batch <= 0) {
    std::cerr << "fanout_bench: bad --key-type, --agents, --repeats or --batch\n";
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  controller::tune_grpc_runtime();
  raise_fd_limit(static_cast<size_t>(agents) * 3 + 1024);

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
  std::vector<controller::Pem> certs;
  certs.reserve(static_cast<size_t>(agents));
  for (int i = 0; i < agents; ++i) {
    auto p = controller::issue_cert(*ca, controller::CertRole::kAgent, fmt::format("sim-{:05d}", i), {}, *kt, 1);
    if (!p) {
      std::cerr << "fanout_bench: " << p.error().message << "\n";
      return 1;
    }
    certs.push_back(std::move(*p));
  }
  double certs_s = std::chrono::duration<double>(Clock::now() - t0).count();

  // The controller: the real daemon, in its own process, so its memory is its own.
  std::string log_path = dir + "/controller.log", api = dir + "/api.sock";
  pid_t ctl_pid = -1;
  {
    SpawnOptions o;
    std::istringstream words(wrap);
    for (std::string w; words >> w;) o.argv.push_back(w);
    o.argv.insert(o.argv.end(), {FDC_FIREDRILL_BIN, "serve", "--listen", "127.0.0.1:0", "--tls-ca", dir + "/ca.pem",
                                 "--tls-cert", dir + "/controller.pem", "--tls-key", dir + "/controller.key",
                                 "--state-dir", dir + "/state", "--api", api, "--heartbeat", heartbeat,
                                 "--lease-grace", grace});
    std::filesystem::remove(log_path);
    o.output_file = log_path;
    auto started = start(o);
    if (!started) {
      std::cerr << "fanout_bench: cannot start the controller: " << started.error().describe() << "\n";
      return 1;
    }
    ctl_pid = *started;
  }
  pid_t sim_pid = -1;
  std::function<void()> stop_sims = [] {};
  auto cleanup = [&] {
    stop_sims();
    if (ctl_pid > 0) {
      ::kill(ctl_pid, SIGKILL);
      ::waitpid(ctl_pid, nullptr, 0);
      ctl_pid = -1;
    }
    if (!keep_log.empty()) {
      std::error_code ec;
      std::filesystem::copy_file(log_path, keep_log, std::filesystem::copy_options::overwrite_existing, ec);
    }
    std::filesystem::remove_all(dir);
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
    std::cerr << "fanout_bench: the controller did not start:\n" << read_file(log_path);
    cleanup();
    return 1;
  }
  long rss_idle = status_kib(ctl_pid, "VmRSS");

  // The simulated agents: a child process of their own, forked before this process
  // starts gRPC, so that their CPU and memory are theirs alone.
  int report_pipe[2], command_pipe[2];
  if (::pipe2(report_pipe, O_CLOEXEC) != 0 || ::pipe2(command_pipe, O_CLOEXEC) != 0) {
    std::cerr << "fanout_bench: pipe: " << std::strerror(errno) << "\n";
    cleanup();
    return 1;
  }
  bench::SimAgentsConfig sim_config;
  sim_config.port = port;
  sim_config.ca_pem = ca->cert;
  sim_config.batch = static_cast<size_t>(batch);
  sim_config.heartbeat = std::chrono::duration_cast<std::chrono::milliseconds>(*parse_duration(heartbeat));
  sim_config.agents.reserve(certs.size());
  for (int i = 0; i < agents; ++i) {
    sim_config.agents.push_back({fmt::format("sim-{:05d}", i), std::move(certs[i].cert), std::move(certs[i].key)});
  }
  certs.clear();
  sim_config.report_fd = report_pipe[1];
  sim_config.command_fd = command_pipe[0];
  auto c0 = Clock::now();
  sim_pid = ::fork();
  if (sim_pid == 0) {
    ::_exit(bench::run_sim_agents(sim_config));
  }
  ::close(report_pipe[1]);
  ::close(command_pipe[0]);
  stop_sims = [&, fd = command_pipe[1]] {
    if (sim_pid <= 0) return;
    (void)!::write(fd, "stop\n", 5);
    ::close(fd);
    ::waitpid(sim_pid, nullptr, 0);
    sim_pid = -1;
  };
  sim_config.agents.clear();
  sim_config.agents.shrink_to_fit();

  // Progress lines from the simulation: "R <registered> <ended> <first error>".
  int registered = 0, ended = 0;
  std::string first_error, pending;
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
      line >> tag >> registered >> ended;
      std::getline(line, first_error);
      if (!first_error.empty() && first_error[0] == ' ') first_error.erase(0, 1);
    }
  };
  int shown = 0;
  auto connect_deadline = Clock::now() + std::chrono::seconds(60 + agents / 20);
  while (registered + ended < agents && Clock::now() < connect_deadline) {
    read_progress(100);
    if (registered >= shown + batch * 4 || (registered + ended >= agents && shown < registered)) {
      shown = registered;
      std::cerr << fmt::format("connected {} agents in {:.1f} s (controller CPU {:.1f} s, agents {:.1f} s)\n",
                               registered, std::chrono::duration<double>(Clock::now() - c0).count(),
                               cpu_seconds(ctl_pid), cpu_seconds(sim_pid));
    }
  }
  double connect_s = std::chrono::duration<double>(Clock::now() - c0).count();
  if (registered < agents) {
    std::cerr << fmt::format("fanout_bench: only {} of {} agents registered ({} streams ended); first failure: {}\n",
                             registered, agents, ended, first_error);
  }
  grpc::ChannelArguments api_args;
  api_args.SetMaxReceiveMessageSize(256 << 20);
  auto api_stub = v1::ControllerService::NewStub(
      grpc::CreateCustomChannel("unix:" + api, grpc::InsecureChannelCredentials(), api_args));
  // Wait until the controller lists them all live.
  size_t live = 0;
  for (int i = 0; i < 300; ++i) {
    grpc::ClientContext ctx;
    v1::ControllerStatus st;
    if (api_stub->GetStatus(&ctx, {}, &st).ok()) live = st.live_agents();
    if (live >= static_cast<size_t>(registered)) break;
    std::this_thread::sleep_for(100ms);
  }
  long rss_connected = status_kib(ctl_pid, "VmRSS");

  // What the connected fleet costs with nothing to do (heartbeats, lease renewals,
  // keepalives), on each side of the loopback.
  const double idle_window_s = 5;
  double idle_ctl0 = cpu_seconds(ctl_pid), idle_sim0 = cpu_seconds(sim_pid);
  std::this_thread::sleep_for(std::chrono::duration<double>(idle_window_s));
  double idle_ctl = (cpu_seconds(ctl_pid) - idle_ctl0) / idle_window_s;
  double idle_sim = (cpu_seconds(sim_pid) - idle_sim0) / idle_window_s;
  std::cerr << fmt::format("idle: controller {:.0f}% of a CPU, simulated agents {:.0f}%\n", idle_ctl * 100,
                           idle_sim * 100);

  Stats apply_last_ack, apply_rpc, halt_last, halt_rpc, target_ack;
  // CPU seconds each side spent during the inject and the halt RPCs.
  Stats apply_cpu_ctl, apply_cpu_sim, halt_cpu_ctl, halt_cpu_sim;
  size_t apply_failures = 0, halt_unconfirmed = 0;
  for (int r = 0; r < repeats; ++r) {
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
    auto st = api_stub->Inject(&ctx, req, &resp);
    apply_rpc.add(std::chrono::duration<double, std::milli>(Clock::now() - s0).count());
    apply_cpu_ctl.add((cpu_seconds(ctl_pid) - cc0) * 1000);
    apply_cpu_sim.add((cpu_seconds(sim_pid) - b0) * 1000);
    if (!st.ok() || !resp.applied()) {
      std::cerr << "inject failed: " << st.error_message() << " " << resp.error().substr(0, 500) << "\n";
      ++apply_failures;
    } else {
      apply_last_ack.add(ms_of(resp.dispatch_to_last_ack()));
      // An inject is a run: its not_before is the staged common start, after the acks.
      for (auto& t : resp.faults()) {
        if (t.has_acked_at()) {
          target_ack.add(std::chrono::duration<double, std::milli>(from_proto(t.acked_at()) - requested).count());
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
    halt_rpc.add(std::chrono::duration<double, std::milli>(Clock::now() - h0).count());
    halt_cpu_ctl.add((cpu_seconds(ctl_pid) - cc0) * 1000);
    halt_cpu_sim.add((cpu_seconds(sim_pid) - b0) * 1000);
    if (hs.ok()) {
      halt_last.add(ms_of(hresp.to_last_confirmation()));
      halt_unconfirmed += hresp.unconfirmed_size();
    } else {
      std::cerr << "halt failed: " << hs.error_message() << "\n";
    }
    grpc::ClientContext rctx;
    v1::ReleaseResponse rresp;
    (void)api_stub->Release(&rctx, {}, &rresp);
    std::cerr << fmt::format("round {}: apply to last ack {:.1f} ms, halt to last confirmation {:.1f} ms\n", r + 1,
                             apply_last_ack.ms.empty() ? NAN : apply_last_ack.ms.back(),
                             halt_last.ms.empty() ? NAN : halt_last.ms.back());
  }
  long rss = status_kib(ctl_pid, "VmRSS"), hwm = status_kib(ctl_pid, "VmHWM");

  // The controller's own account of each fan-out: how long handing the commands to
  // the streams took, against the last ack.
  {
    std::istringstream log(read_file(log_path));
    std::string line;
    while (std::getline(log, line)) {
      auto at = line.find("sent to all in");
      if (at != std::string::npos) std::cerr << "controller: " << line.substr(at) << "\n";
    }
  }
  read_progress(0);
  int ended_during_runs = ended;
  stop_sims();
  cleanup();

  auto pass = [](bool ok) { return ok ? "PASS" : "FAIL"; };
  bool apply_ok = apply_last_ack.pct(99) < 1000 && apply_failures == 0;
  bool halt_ok = halt_last.pct(99) < 1000 && halt_unconfirmed == 0;
  bool rss_ok = hwm > 0 && hwm < 512 * 1024;
  std::cout << fmt::format(
      "fanout: {} simulated agents, each its own mTLS connection over loopback, against one controller\n"
      "  setup: certificates {:.1f} s, {} agents registered in {:.1f} s ({} live at the controller)\n"
      "  heartbeat {}, lease grace {}, {} repeats\n\n",
      agents, certs_s, registered, connect_s, live, heartbeat, grace, repeats);
  std::cout << fmt::format("  {:<44} {:>10} {:>10} {:>10}  {}\n", "measure", "p50", "p99", "max", "target");
  auto row = [](const char* name, const Stats& s, const char* target) {
    std::cout << fmt::format("  {:<44} {:>8.1f}ms {:>8.1f}ms {:>8.1f}ms  {}\n", name, s.pct(50), s.pct(99), s.max(), target);
  };
  row("ApplyFault on all -> last ack (controller)", apply_last_ack, pass(apply_ok));
  row("  inject RPC, CLI's view (guard, store, 10k rows)", apply_rpc, "");
  row("  per-target ack after the request (pooled)", target_ack, "");
  row("halt -> last confirmation (controller)", halt_last, pass(halt_ok));
  row("  halt RPC, CLI's view", halt_rpc, "");
  std::cout << fmt::format("\n  controller RSS: idle {:.0f} MiB, {} agents connected {:.0f} MiB, after the runs {:.0f} MiB, "
                           "peak {:.0f} MiB  (target < 512 MiB: {})\n",
                           rss_idle / 1024.0, agents, rss_connected / 1024.0, rss / 1024.0, hwm / 1024.0, pass(rss_ok));
  std::cout << fmt::format("\n  CPU (ms, p50 over rounds; 2 CPUs give 2,000 ms per second of wall time)\n"
                           "    inject RPC: controller {:.0f}, simulated agents {:.0f}\n"
                           "    halt RPC:   controller {:.0f}, simulated agents {:.0f}\n"
                           "    idle with {} agents connected: controller {:.0f}% of a CPU, simulated agents {:.0f}%\n",
                           apply_cpu_ctl.pct(50), apply_cpu_sim.pct(50), halt_cpu_ctl.pct(50), halt_cpu_sim.pct(50),
                           agents, idle_ctl * 100, idle_sim * 100);
  std::cout << fmt::format("  failures: {} inject(s) not applied everywhere, {} halt confirmation(s) missing, "
                           "{} agent stream(s) ended\n",
                           apply_failures, halt_unconfirmed, ended_during_runs);
  std::cout << "\n  published anchors: a managed cloud fault service starts actions about 13 s after an experiment\n"
               "  starts; a popular Kubernetes chaos tool never finished injecting into 6,000 pods.\n";

  if (!json_path.empty()) {
    nlohmann::json j = {
        {"suite", "fanout"},
        {"agents", agents},
        {"registered", registered},
        {"repeats", repeats},
        {"heartbeat", heartbeat},
        {"lease_grace", grace},
        {"agent_key_type", key_type},
        {"certificates_s", certs_s},
        {"connect_s", connect_s},
        {"apply_to_last_ack", apply_last_ack.json()},
        {"inject_rpc", apply_rpc.json()},
        {"per_target_ack", {{"p50_ms", target_ack.pct(50)}, {"p99_ms", target_ack.pct(99)}, {"max_ms", target_ack.max()}}},
        {"halt_to_last_confirmation", halt_last.json()},
        {"halt_rpc", halt_rpc.json()},
        {"controller_rss_kib", {{"idle", rss_idle}, {"connected", rss_connected}, {"end", rss}, {"peak", hwm}}},
        {"cpu_ms",
         {{"inject_controller", apply_cpu_ctl.json()},
          {"inject_agents", apply_cpu_sim.json()},
          {"halt_controller", halt_cpu_ctl.json()},
          {"halt_agents", halt_cpu_sim.json()},
          {"idle_controller_cpu_share", idle_ctl},
          {"idle_agents_cpu_share", idle_sim}}},
        {"failures", {{"inject", apply_failures}, {"halt_unconfirmed", halt_unconfirmed}, {"streams_ended", ended_during_runs}}},
        {"targets", {{"apply_p99_under_1s", apply_ok}, {"halt_p99_under_1s", halt_ok}, {"rss_under_512mib", rss_ok}}},
    };
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  return apply_ok && halt_ok && rss_ok ? 0 : 1;
}
