// fanout: one real controller (`firedrill serve`, its own process) and N lightweight
// simulated agents in this process, each with its own mTLS connection and certificate,
// speaking the real AgentService protocol over loopback. Measures, over repeats:
//   - ApplyFault on all N (an `inject` on the empty selector) to the last ack,
//   - halt to the last agent's confirmation,
//   - the controller's resident memory.
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

#include "common/time.h"
#include "controller/session/agent_service.h"
#include "controller/session/certs.h"
#include "firedrill/v1/agent.grpc.pb.h"
#include "firedrill/v1/controller.grpc.pb.h"

namespace {

using namespace firedrill;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- simulated agents

class SimAgent final : public grpc::ClientBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  SimAgent(std::string id, std::shared_ptr<grpc::Channel> channel, std::atomic<int>* registered,
           std::atomic<int>* ended)
      : id_(std::move(id)), channel_(std::move(channel)), registered_(registered), ended_(ended) {
    stub_ = v1::AgentService::NewStub(channel_);
    stub_->async()->Connect(&ctx_, this);
    v1::AgentMessage hello;
    hello.mutable_hello()->set_agent_id(id_);
    (*hello.mutable_hello()->mutable_tags())["dc"] = "sim";
    (*hello.mutable_hello()->mutable_tags())["rack"] = "r" + std::to_string(std::hash<std::string>{}(id_) % 100);
    hello.mutable_hello()->mutable_capabilities()->add_fault_kinds("network.blackhole");
    hello.mutable_hello()->set_version("sim");
    // No clock: the Hello waits for the TLS handshake, so a stamp taken here would be
    // stale; the controller takes an unstamped Hello as offset 0 (same host here).
    send(std::move(hello));
    StartRead(&in_);
    StartCall();
  }

  void send(v1::AgentMessage m) {
    std::lock_guard l(mu_);
    if (done_) return;
    queue_.push_back(std::move(m));
    if (!writing_) {
      writing_ = true;
      StartWrite(&queue_.front());
    }
  }

  void heartbeat() {
    v1::AgentMessage hb;
    *hb.mutable_heartbeat()->mutable_clock() = to_proto(WallClock::now());
    send(std::move(hb));
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (!registered_once_) {
      registered_once_ = true;
      registered_->fetch_add(1);
    }
    if (in_.has_apply() || in_.has_revert() || in_.has_revert_all()) {
      // A simulated agent applies nothing: it answers at once, as a real one does for
      // a fault that takes effect at once.
      v1::AgentMessage ack;
      auto* a = ack.mutable_ack();
      a->set_command_id(in_.command_id());
      a->set_status(v1::ACK_APPLIED);
      if (in_.has_apply()) a->set_fault_id(in_.apply().fault_id());
      if (in_.has_revert()) a->set_fault_id(in_.revert().fault_id());
      *a->mutable_at() = to_proto(WallClock::now());
      send(std::move(ack));
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard l(mu_);
    queue_.pop_front();
    if (!ok || queue_.empty()) {
      writing_ = false;
      return;
    }
    StartWrite(&queue_.front());
  }

  void OnDone(const grpc::Status& s) override {
    {
      std::lock_guard l(mu_);
      done_ = true;
      status_ = s;
    }
    ended_->fetch_add(1);
    done_cv_.notify_all();
  }

  void cancel() { ctx_.TryCancel(); }
  bool wait_done(std::chrono::milliseconds within) {
    std::unique_lock l(mu_);
    return done_cv_.wait_for(l, within, [&] { return done_; });
  }
  bool registered() const { return registered_once_; }
  std::string status() {
    std::lock_guard l(mu_);
    return fmt::format("{} {}", static_cast<int>(status_.error_code()), status_.error_message());
  }

 private:
  std::string id_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
  grpc::ClientContext ctx_;
  v1::ControllerMessage in_;
  std::atomic<int>* registered_;
  std::atomic<int>* ended_;
  std::atomic<bool> registered_once_{false};
  std::mutex mu_;
  std::condition_variable done_cv_;
  std::deque<v1::AgentMessage> queue_;
  bool writing_ = false;
  bool done_ = false;
  grpc::Status status_;
};

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
  std::string json_path, heartbeat = "5s", grace = "10s", key_type = "p256";
  bool quick = false, insecure = false;
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
    ("insecure", po::bool_switch(&insecure), "plaintext streams (to see what TLS costs)")
    ("json", po::value(&json_path), "write the results as JSON here");
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
  pid_t ctl_pid = ::fork();
  if (ctl_pid == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<std::string> a = {FDC_FIREDRILL_BIN, "serve", "--listen", "127.0.0.1:0", "--tls-ca", dir + "/ca.pem",
                                  "--tls-cert", dir + "/controller.pem", "--tls-key", dir + "/controller.key",
                                  "--state-dir", dir + "/state", "--api", api, "--heartbeat", heartbeat,
                                  "--lease-grace", grace};
    if (insecure) a.push_back("--insecure");
    std::vector<char*> args;
    for (auto& s : a) args.push_back(s.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  auto cleanup = [&] {
    if (ctl_pid > 0) {
      ::kill(ctl_pid, SIGKILL);
      ::waitpid(ctl_pid, nullptr, 0);
      ctl_pid = -1;
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
  grpc::ChannelArguments api_args;
  api_args.SetMaxReceiveMessageSize(256 << 20);
  auto api_stub = v1::ControllerService::NewStub(
      grpc::CreateCustomChannel("unix:" + api, grpc::InsecureChannelCredentials(), api_args));
  long rss_idle = status_kib(ctl_pid, "VmRSS");

  // Connect every agent, a batch at a time (each is a TLS handshake on both sides).
  std::atomic<int> registered{0}, ended{0};
  std::vector<std::unique_ptr<SimAgent>> sims;
  sims.reserve(static_cast<size_t>(agents));
  std::atomic<size_t> made{0};  // sims[0, made) exist; the heartbeat thread reads up to it
  // Heartbeats at the interval the controller asked for, spread over it, from the
  // first agent on (the first ones must not go silent while the rest connect).
  std::atomic<bool> stop{false};
  auto hb_interval = std::chrono::duration_cast<std::chrono::nanoseconds>(*parse_duration(heartbeat));
  std::thread beats([&] {
    size_t i = 0;
    auto step = hb_interval / agents;
    auto next = Clock::now();
    while (!stop) {
      size_t n = made.load();
      if (n > 0) {
        if (i >= n) i = 0;
        if (sims[i]->registered()) sims[i]->heartbeat();
        ++i;
      }
      next += step;
      if (next > Clock::now()) std::this_thread::sleep_until(next);
    }
  });
  auto c0 = Clock::now();
  for (int i = 0; i < agents; ++i) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ca->cert;
    o.pem_cert_chain = certs[i].cert;
    o.pem_private_key = certs[i].key;
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per agent, as in a fleet
    auto ch = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                        insecure ? grpc::InsecureChannelCredentials() : grpc::SslCredentials(o), args);
    sims.push_back(std::make_unique<SimAgent>(fmt::format("sim-{:05d}", i), ch, &registered, &ended));
    made.store(sims.size());
    if ((i + 1) % batch == 0 || i + 1 == agents) {
      auto deadline = Clock::now() + 120s;
      while (registered.load() + ended.load() < i + 1 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
      if ((i + 1) % (batch * 4) == 0 || i + 1 == agents) {
        std::cerr << fmt::format("connected {} agents in {:.1f} s (controller CPU {:.1f} s, ours {:.1f} s)\n", i + 1,
                                 std::chrono::duration<double>(Clock::now() - c0).count(), cpu_seconds(ctl_pid),
                                 cpu_seconds(::getpid()));
      }
    }
  }
  double connect_s = std::chrono::duration<double>(Clock::now() - c0).count();
  certs.clear();
  certs.shrink_to_fit();
  if (registered.load() < agents) {
    std::cerr << fmt::format("fanout_bench: only {} of {} agents registered ({} streams ended)\n", registered.load(),
                             agents, ended.load());
    for (auto& s : sims) {
      if (!s->registered()) {
        std::cerr << "  first failure: " << s->status() << "\n";
        break;
      }
    }
  }
  // Wait until the controller lists them all live.
  size_t live = 0;
  for (int i = 0; i < 300; ++i) {
    grpc::ClientContext ctx;
    v1::ControllerStatus st;
    if (api_stub->GetStatus(&ctx, {}, &st).ok()) live = st.live_agents();
    if (live >= static_cast<size_t>(registered.load())) break;
    std::this_thread::sleep_for(100ms);
  }
  long rss_connected = status_kib(ctl_pid, "VmRSS");

  Stats apply_last_ack, apply_rpc, halt_last, halt_rpc, target_ack;
  size_t apply_failures = 0, halt_unconfirmed = 0;
  for (int r = 0; r < repeats; ++r) {
    v1::InjectRequest req;
    req.mutable_spec()->mutable_network()->mutable_blackhole();
    *req.mutable_duration() = to_proto_duration(60s);
    req.set_description("fanout bench");
    req.set_requested_by("fanout_bench");
    v1::InjectResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 120s);
    auto s0 = Clock::now();
    auto st = api_stub->Inject(&ctx, req, &resp);
    apply_rpc.add(std::chrono::duration<double, std::milli>(Clock::now() - s0).count());
    if (!st.ok() || !resp.applied()) {
      std::cerr << "inject failed: " << st.error_message() << " " << resp.error().substr(0, 500) << "\n";
      ++apply_failures;
    } else {
      apply_last_ack.add(ms_of(resp.dispatch_to_last_ack()));
      auto sent = from_proto(resp.not_before());
      for (auto& t : resp.targets()) {
        if (t.has_acked_at()) target_ack.add(std::chrono::duration<double, std::milli>(from_proto(t.acked_at()) - sent).count());
      }
    }

    v1::HaltRequest hreq;
    hreq.set_reason("fanout bench round " + std::to_string(r));
    hreq.set_requested_by("fanout_bench");
    v1::HaltResponse hresp;
    grpc::ClientContext hctx;
    hctx.set_deadline(std::chrono::system_clock::now() + 120s);
    auto h0 = Clock::now();
    auto hs = api_stub->Halt(&hctx, hreq, &hresp);
    halt_rpc.add(std::chrono::duration<double, std::milli>(Clock::now() - h0).count());
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
  stop = true;
  beats.join();
  for (auto& s : sims) s->cancel();
  for (auto& s : sims) s->wait_done(5s);
  sims.clear();
  cleanup();

  auto pass = [](bool ok) { return ok ? "PASS" : "FAIL"; };
  bool apply_ok = apply_last_ack.pct(99) < 1000 && apply_failures == 0;
  bool halt_ok = halt_last.pct(99) < 1000 && halt_unconfirmed == 0;
  bool rss_ok = hwm > 0 && hwm < 512 * 1024;
  std::cout << fmt::format(
      "fanout: {} simulated agents, each its own mTLS connection over loopback, against one controller\n"
      "  setup: certificates {:.1f} s, {} agents registered in {:.1f} s ({} live at the controller)\n"
      "  heartbeat {}, lease grace {}, {} repeats\n\n",
      agents, certs_s, registered.load(), connect_s, live, heartbeat, grace, repeats);
  std::cout << fmt::format("  {:<44} {:>10} {:>10} {:>10}  {}\n", "measure", "p50", "p99", "max", "target");
  auto row = [](const char* name, const Stats& s, const char* target) {
    std::cout << fmt::format("  {:<44} {:>8.1f}ms {:>8.1f}ms {:>8.1f}ms  {}\n", name, s.pct(50), s.pct(99), s.max(), target);
  };
  row("ApplyFault on all -> last ack (controller)", apply_last_ack, pass(apply_ok));
  row("  inject RPC, CLI's view (guard, store, 10k rows)", apply_rpc, "");
  row("  per-target ack after dispatch (pooled)", target_ack, "");
  row("halt -> last confirmation (controller)", halt_last, pass(halt_ok));
  row("  halt RPC, CLI's view", halt_rpc, "");
  std::cout << fmt::format("\n  controller RSS: idle {:.0f} MiB, {} agents connected {:.0f} MiB, after the runs {:.0f} MiB, "
                           "peak {:.0f} MiB  (target < 512 MiB: {})\n",
                           rss_idle / 1024.0, agents, rss_connected / 1024.0, rss / 1024.0, hwm / 1024.0, pass(rss_ok));
  std::cout << fmt::format("  failures: {} inject(s) not applied everywhere, {} halt confirmation(s) missing\n",
                           apply_failures, halt_unconfirmed);
  std::cout << "\n  published anchors: a managed cloud fault service starts actions about 13 s after an experiment\n"
               "  starts; a popular Kubernetes chaos tool never finished injecting into 6,000 pods.\n";

  if (!json_path.empty()) {
    nlohmann::json j = {
        {"suite", "fanout"},
        {"agents", agents},
        {"registered", registered.load()},
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
        {"failures", {{"inject", apply_failures}, {"halt_unconfirmed", halt_unconfirmed}}},
        {"targets", {{"apply_p99_under_1s", apply_ok}, {"halt_p99_under_1s", halt_ok}, {"rss_under_512mib", rss_ok}}},
    };
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  return apply_ok && halt_ok && rss_ok ? 0 : 1;
}
