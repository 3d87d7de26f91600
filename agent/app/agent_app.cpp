#include "agent/app/agent_app.h"
#include "agent/app/watcher.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include <boost/program_options.hpp>

#include "agent/bpf/features.h"
#include "agent/core/command_handler.h"
#include "agent/core/engines.h"
#include "agent/enroll/enroll.h"
#include "agent/enroll/renewal.h"
#include "agent/core/fault_manager.h"
#include "agent/journal/journal.h"
#include "agent/local/control_socket.h"
#include "agent/metrics/agent_metrics.h"
#include "agent/net/cidr.h"
#include "agent/session/controller_session.h"
#include "agent/power/power_engine.h"
#include "agent/proc/selector.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/metrics/http_server.h"
#include "common/service_manager.h"
#include "common/signals.h"
#include "common/time.h"
#include "common/yaml/config_file.h"
#include "firedrill/v1/config.pb.h"

namespace firedrill::agent {
namespace po = boost::program_options;

namespace {

constexpr const char* kUsage = R"(firedrill-agent - the firedrill per-host fault injector

SYNOPSIS
  firedrill-agent [OPTIONS]
  firedrill-agent ctl SUBCOMMAND [...]     drive a running agent (see: ctl --help)
  firedrill-agent features                 print what this kernel offers
  firedrill-agent enroll ...               join a fleet with a join token (see: enroll --help)

DESCRIPTION
  Injects faults on this host with eBPF when told to by the controller (or by the
  local control socket): drops traffic, kills processes and keeps them down, and
  simulates power loss. Every fault carries a lease: it is reverted when its time is
  up, when the controller is silent past the lease grace, and when the agent dies
  (attachments are bpf_links owned by this process; the rest is journaled in the
  state directory and undone on the next start).

OPTIONS)";

class LogEvents : public EventSink {
 public:
  void emit(const v1::Event& event) override {
    static auto log = logger("agent.events");
    log->debug("event {}", event.ShortDebugString());
    if (forward) forward->emit(event);
  }
  EventSink* forward = nullptr;  // the controller session, when there is one
};

}  // namespace

Result<AgentConfig> parse_agent_options(int argc, char** argv, bool* exit_now) {
  AgentConfig c;
  std::vector<std::string> tags, allow, protect;
  bool no_default_protect = false, no_watcher = false;
  std::string controllers, tags_file, log_format = "text", log_level = "info", lease = "5s", hook_timeout = "60s";
  po::options_description desc(kUsage);
  desc.add_options()
    ("help,h", "print this help")
    ("id", po::value(&c.id), "agent id, unique in the fleet (default: the hostname)")
    ("tag", po::value(&tags)->composing(), "a tag key=value (repeatable): dc=pangyo, rack=p1, host=p1-h1")
    ("tags-file", po::value(&tags_file), "a file of key=value lines, added to --tag")
    ("controller", po::value(&controllers),
     "controller address HOST:PORT, or several, HOST:PORT,HOST:PORT,...: tried in order (with backoff and jitter) "
     "until one accepts the stream; a follower names the leader and the agent goes there. Without it, local "
     "control only")
    ("tls-ca", po::value(&c.tls_ca),
     "CA certificate (PEM) that signed the controller's certificate (default, with none of --tls-*: STATE_DIR/ca.pem "
     "of `firedrill-agent enroll`)")
    ("tls-cert", po::value(&c.tls_cert), "this agent's certificate (PEM; default STATE_DIR/agent.pem, renewed there)")
    ("tls-key", po::value(&c.tls_key), "this agent's private key (PEM; default STATE_DIR/agent.key)")
    ("insecure", po::bool_switch(&c.insecure), "plaintext to the controller (labs only; logged loudly)")
    ("lease-grace", po::value(&lease)->default_value(lease), "revert everything when the controller is silent this long")
    ("workload-cgroup", po::value(&c.workload_cgroup), "cgroup v2 subtree holding this host's workloads (power loss kills it)")
    ("boot-hook", po::value(&c.boot_hooks)->composing(), "a command run (by /bin/sh -c) when power is restored (repeatable)")
    ("boot-hook-timeout", po::value(&hook_timeout)->default_value(hook_timeout), "each boot hook is killed (with its process group) after this long")
    ("data-dir", po::value(&c.data_dirs)->composing(), "a data directory on a file system of its own (ext4, xfs) that a power loss with lose_unsynced shuts down without flushing, and mounts again at restore (repeatable)")
    ("state-dir", po::value(&c.state_dir)->default_value(c.state_dir), "journal and state")
    ("interface", po::value(&c.interfaces)->composing(), "a data interface faults may act on (repeatable)")
    ("allow", po::value(&allow)->composing(), "management traffic never dropped: CIDR[,PROTO[,PORT[-PORT]]] (repeatable)")
    ("local-socket", po::value(&c.local_socket), "serve the local control socket at this path")
    ("protect", po::value(&protect)->composing(),
     "a process name (comm) no fault may touch (repeatable), beside the defaults sshd and "
     "systemd-journal; the agent, its parent (the watcher) and pid 1 are always protected. "
     "A fault that selects one is refused, naming it")
    ("no-watcher", po::bool_switch(&no_watcher),
     "run without firedrill-agent's own watcher (a parent that restarts the agent and, when it "
     "cannot, finishes what the journal owes): for systemd, whose unit restarts it")
    ("max-restarts", po::value(&c.watcher_max_restarts)->default_value(c.watcher_max_restarts),
     "the watcher restarts an agent that died at most this often in a minute (0: never), "
     "then finishes what the journal owes and exits")
    ("no-default-protect", po::bool_switch(&no_default_protect), "drop sshd and systemd-journal from the protected list")
    ("metrics-listen", po::value(&c.metrics_listen),
     "serve /metrics (Prometheus text format) on ADDR:PORT, e.g. 127.0.0.1:9464 or [::1]:9464")
    ("log-format", po::value(&log_format)->default_value(log_format), "text or json")
    ("log-level", po::value(&log_level)->default_value(log_level), "trace, debug, info, warn, error");
  add_config_options(desc);
  po::variables_map vm;
  auto answered = parse_options_with_config(argc, argv, desc, vm, {v1::AgentConfigFile::descriptor(), "agent configuration"});
  if (!answered) return make_error("{} (see firedrill-agent --help)", answered.error().describe());
  if (*answered) {  // --help or --print-config
    *exit_now = true;
    return c;
  }
  auto log_config = parse_log_options(log_format, log_level);
  if (!log_config) return log_config.error();
  c.log = *log_config;
  FD_ASSIGN(grace, parse_duration(lease), "--lease-grace");
  if (grace <= std::chrono::nanoseconds::zero()) return make_error("--lease-grace must be positive");
  c.lease_grace = grace;
  FD_ASSIGN(hook_limit, parse_duration(hook_timeout), "--boot-hook-timeout");
  if (hook_limit < std::chrono::milliseconds(1)) return make_error("--boot-hook-timeout must be at least 1ms");
  c.boot_hook_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(hook_limit);
  if (!tags_file.empty()) {
    std::ifstream in(tags_file);
    if (!in) return sys_error(errno, "--tags-file {}", tags_file);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty() || line[0] == '#') continue;
      auto t = parse_tag(line);
      if (!t) return t.error().context(fmt::format("{}:{}", tags_file, n));
      tags.push_back(line);
    }
  }
  if (no_default_protect) c.protected_comms.clear();
  c.watcher = !no_watcher;
  if (c.watcher_max_restarts < 0) return make_error("--max-restarts must be 0 or more");
  for (auto& p : protect) {
    if (p.empty() || p.size() > 15 || p.find('/') != std::string::npos) {
      return make_error("--protect '{}': a process name (comm) of 1-15 characters, without '/'", p);
    }
    c.protected_comms.push_back(p);
  }
  for (auto& t : tags) {
    FD_ASSIGN(kv, parse_tag(t), "--tag");
    c.tags[kv.first] = kv.second;
  }
  for (auto& a : allow) {
    FD_ASSIGN(e, parse_allow(a), "--allow");
    FD_TRY(net::Cidr::parse(e.peer_cidr()), "--allow '{}'", a);
    c.allow.push_back(e);
  }
  if (!c.metrics_listen.empty()) FD_TRY(metrics::parse_listen_address(c.metrics_listen), "--metrics-listen");
  if (c.id.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    c.id = host;
  }
  if (!controllers.empty()) {
    FD_ASSIGN(list, parse_controller_list(controllers), "controllers");
    c.controllers = std::move(list);
  }
  if (c.controllers.empty() && c.local_socket.empty()) {
    return make_error("nothing to obey: give --controller, --local-socket, or both");
  }
  // An enrolled host's certificate is in its state directory (firedrill-agent enroll).
  if (!c.controllers.empty() && !c.insecure && c.tls_ca.empty() && c.tls_cert.empty() && c.tls_key.empty()) {
    auto enrolled = agent_tls_files(c.state_dir);
    if (std::filesystem::exists(enrolled.cert)) {
      c.tls_ca = enrolled.ca;
      c.tls_cert = enrolled.cert;
      c.tls_key = enrolled.key;
    }
  }
  if (!c.controllers.empty() && !c.insecure && (c.tls_ca.empty() || c.tls_cert.empty() || c.tls_key.empty())) {
    return make_error("--controller needs --tls-ca, --tls-cert and --tls-key, or a certificate of `firedrill-agent "
                      "enroll` in --state-dir {} (or --insecure for a lab)",
                      c.state_dir);
  }
  return c;
}

int features_main() {
  init_logging({});
  const auto& f = bpf::features();
  std::cout << "kernel " << f.kernel_release << "\n";
  for (auto& d : f.details) {
    std::cout << (d.available() ? "  yes " : "  no  ") << d.name();
    if (!d.detail().empty()) std::cout << "  (" << d.detail() << ")";
    std::cout << "\n";
  }
  return 0;
}

int agent_main(int argc, char** argv) {
  bool exit_now = false;
  auto config = parse_agent_options(argc, argv, &exit_now);
  if (!config) {
    std::cerr << "firedrill-agent: " << config.error().describe() << "\n";
    return 2;
  }
  if (exit_now) return 0;
  init_logging(config->log);
  auto log = logger("agent");
  if (config->watcher && !is_watched_worker()) {
    WatcherPolicy policy;
    policy.max_restarts = config->watcher_max_restarts;
    return run_watcher(argv, *config, policy);
  }

  proc::set_protected_comms(config->protected_comms);
  // Signals are taken synchronously by this thread only; every other thread blocks them.
  sigset_t sigs = block_stop_signals();

  std::error_code ec;
  std::filesystem::create_directories(config->state_dir, ec);
  if (ec) {
    log->error("state directory {}: {}", config->state_dir, ec.message());
    return 1;
  }
  const auto& feats = bpf::features();
  log->info("firedrill-agent {} id={} kernel={} tcx={} xdp_link={} cgroup_v2={}", FIREDRILL_VERSION,
            config->id, feats.kernel_release, feats.tcx, feats.xdp_link,
            feats.cgroup2_mount.empty() ? "none" : feats.cgroup2_mount);

  // With controllers, events go up the stream, and every listed controller's address
  // joins the allow list so that no network fault cuts the agent off from any of them.
  std::unique_ptr<ControllerSession> session;
  std::unique_ptr<CertificateRenewal> renewal;
  if (!config->controllers.empty()) {
    for (auto& controller : config->controllers) {
      auto allow = controller_allow_entries(controller);
      if (!allow) {
        log->error("{}", allow.error().describe());
        return 1;
      }
      for (auto& e : *allow) config->allow.push_back(e);
    }
    // An enrolled certificate (in the state directory) is renewed over the stream;
    // one placed by hand elsewhere is the operator's to replace.
    auto enrolled = agent_tls_files(config->state_dir);
    if (!config->insecure && config->tls_cert == enrolled.cert && config->tls_key == enrolled.key) {
      if (auto r = finish_renewal(enrolled); !r) log->error("{}", r.error().describe());
      auto opened = CertificateRenewal::open(enrolled, config->id);
      if (opened) {
        renewal = std::move(*opened);
      } else {
        log->error("{}: the certificate is not renewed", opened.error().describe());
      }
    }
    session = std::make_unique<ControllerSession>(*config);
    session->set_renewal(renewal.get());
  }
  LogEvents events;
  events.forward = session.get();
  auto journal = journal::Journal::shared(config->state_dir);
  if (!journal) {
    log->error("{}", journal.error().describe());
    return 1;
  }
  // Faults that were held when the agent died ended with it: the controller hears of
  // them in the next Hello, like any revert made while away. (Before the power
  // engine's recovery below, which finishes what those faults still owe.)
  auto recovered = close_faults_held_by_a_dead_agent(**journal, &events);
  if (session) session->report_reverted_while_away(recovered);
  auto engines = make_engines(*config, &events);
  if (!engines) {
    log->error("{}", engines.error().describe());
    return 1;
  }
  FaultManager faults(std::move(*engines), &events, *journal);
  faults.note_ended(recovered);
  CommandHandler handler(faults);
  LocalControlServer local(handler);
  if (!config->local_socket.empty()) {
    if (auto r = local.start(config->local_socket); !r) {
      log->error("{}", r.error().describe());
      return 1;
    }
  }
  if (session) {
    if (auto r = session->start(handler, faults); !r) {
      log->error("{}", r.error().describe());
      return 1;
    }
  }
  // What an agent killed mid-fault still owes (frozen cgroups, data file systems shut
  // down, boots after a power loss) is finished once the agent can be reached: the boots
  // run on the power engine's own thread, so that ctl and the controller are never kept
  // waiting by a hook.
  for (auto& engine : faults.engines()) {
    if (auto* power_engine = dynamic_cast<power::PowerLossEngine*>(engine.get())) {
      // Its events tell the controller: on the stream, or in the next Hello.
      faults.note_ended(power_engine->recover());
    }
  }
  metrics::Registry registry;
  metrics::MetricsServer metrics_server;
  if (!config->metrics_listen.empty()) {
    register_agent_metrics(registry, faults, session.get(), **journal);
    if (auto r = metrics_server.start(config->metrics_listen, registry); !r) {
      log->error("{}", r.error().describe());
      return 1;
    }
    log->info("metrics on {} (port {})", config->metrics_listen, metrics_server.port());
  }
  log->info("ready");
  notify_ready(fmt::format("id {}", config->id));

  // The watchdog is fed only while the fault manager answers: a revert or an apply
  // stuck holding it hangs this loop, systemd restarts the agent, and the restarted
  // agent finishes what its journal says it owed.
  int sig = wait_for_stop_signal(sigs, [&] { (void)faults.empty(); });
  notify_stopping();
  log->info("signal {}: reverting every fault and stopping", strsignal(sig));
  metrics_server.stop();
  local.stop();
  size_t n = faults.revert_all(v1::REVERT_AGENT_SHUTDOWN);
  if (session) session->stop();
  log->info("reverted {} fault(s); bye", n);
  return 0;
}

}  // namespace firedrill::agent
