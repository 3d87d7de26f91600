// `firedrill serve`: the controller daemon, and its composition root. Agents stream to
// it over mTLS; operators talk to it through the API socket. On start it migrates the
// store of an older release (importing 0.1.0's run files), ends the runs a previous
// life left in flight (their faults are reverted on every agent as it registers) and
// restores a halt that was not released. With a PostgreSQL store shared by several
// controllers it is first a follower (follower.h: the agent port refuses streams naming
// the leader, the API answers reads and records halts) until it holds the leader lease;
// then it builds the leader's fleet, runs and API on the same agent port and socket,
// acts on halts recorded at followers (halt_watcher.h), and exits with status 3 when it
// loses the lease.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <boost/program_options.hpp>

#include "common/cli.h"
#include "common/join_token.h"
#include "common/log.h"
#include "common/metrics/http_server.h"
#include "common/read_file.h"
#include "common/service_manager.h"
#include "common/signals.h"
#include "common/socket_access.h"
#include "common/yaml/config_file.h"
#include "firedrill/v1/config.pb.h"
#include "controller/api/services.h"
#include "controller/auth/unix_listener.h"
#include "controller/cli/verbs.h"
#include "controller/daemon/api_server.h"
#include "controller/daemon/controller_registry.h"
#include "controller/daemon/follower.h"
#include "controller/daemon/halt_watcher.h"
#include "controller/daemon/import.h"
#include "controller/enroll/enroll_server.h"
#include "controller/experiment/loader.h"
#include "controller/leader/elector.h"
#include "controller/metrics/controller_metrics.h"
#include "controller/runner/fleet_adapter.h"
#include "controller/runner/run_ids.h"
#include "controller/runner/run_manager.h"
#include "controller/runner/run_recorder.h"
#include "controller/session/agent_service.h"
#include "controller/store/pg.h"
#include "controller/store/postgres_store.h"
#include "controller/web/web_server.h"

namespace firedrill::controller {
namespace po = boost::program_options;
namespace {

auto log() {
  static auto l = logger("controller");
  return l;
}

constexpr const char* kUsage = R"(firedrill serve - the firedrill controller daemon

SYNOPSIS
  firedrill serve --tls-ca CA --tls-cert CERT --tls-key KEY [--api-listen HOST:PORT] [OPTIONS]
  firedrill serve --insecure [OPTIONS]          (labs only)

DESCRIPTION
  Accepts one stream per agent on --listen (mutual TLS: an agent's certificate
  common name is the only agent id it may register as), keeps their leases renewed,
  and serves the operators' API on a Unix socket (--api) for `firedrill agents`,
  `plan`, `inject`, `halt`, `release`, `runs` and the other verbs.

  With --api-listen the same API is also served over mutual TLS (the fleet's CA and
  this controller's certificate, --tls-*) for remote callers (`firedrill VERB --api
  https://HOST:PORT --tls-cert C --tls-key K --tls-ca CA`; `firedrill certs client`
  makes C and K); a caller there is cn:NAME, its client certificate's common name,
  and a client without a certificate of the fleet's CA is refused in the handshake.

  Callers are identified by their connection (the kernel's peer credentials on the
  API socket, the client certificate over TLS), never by what they say. Roles: viewer (reads), operator (inject, run,
  abort, halt, release), approver (approves runs), admin (all of it, and schedules).
  Root and the user the controller runs as are admins; --api-group members are
  operators; --viewer/--operator/--approver/--admin add others (a user, group:NAME,
  uid:N or cn:NAME). --approval-policy ENV=N[:WHO,...] makes runs in environment ENV
  ("*": any other) wait for N approvals from distinct people matching WHO; nobody
  approves their own run.

  Enrollment: with --ca-key (the key of --tls-ca) the controller signs agent
  certificates itself. `firedrill tokens create` makes a join token; on the host,
  `firedrill-agent enroll --controller HOST:PORT --token T` makes its key, sends a
  certificate request to --enroll-listen (TLS without a client certificate, on a port
  of its own) and gets a certificate of --cert-lifetime (default 30d) back. Agents
  renew it over their stream at two thirds of its life. `firedrill agents revoke ID`
  refuses an agent's certificates at once, and after restarts.

  Agents revert every fault when the controller is silent for the lease grace, so a
  controller that dies leaves nothing behind. On start, runs a previous life left in
  flight are recorded aborted and their faults reverted on every agent as it comes
  back; a halt that was not released stays in force. A controller that takes over from
  a lost leader of a shared PostgreSQL store within the agents' grace continues its
  runs instead: it re-adopts the faults the agents still hold (a fault that is not
  what the run's record holds is reverted), restarts the probes (the gap between the
  lost leader's last renewal and the takeover counts as no success) and signs the rest
  of the run's evidence with its own key; the report records the handover.

  The blast-radius guard applies to every run: the run's own limits, and these
  fleet-wide ones: --protect, --budget-hosts/--budget-percent (shared by concurrent
  runs), and --controller-domain (the controller refuses to target its own failure
  domain unless another live controller of the store lives in another value of that
  key: every controller writes its domain and address to the store's controllers
  registry as it runs, and the rule reads who is alive there).

  The state (agents, runs, schedules, evidence) is kept in SQLite under --state-dir,
  or with --store postgres://... in a PostgreSQL database that several controllers
  share: one leads at a time (a lease in the database, as long as --lease-grace, with
  an epoch that fences the writes of a leader that lost it). A controller is a
  follower until it holds the lease, and commands agents only while it holds it; one
  that loses it stops its agent streams at once (agents revert within their grace)
  and exits with status 3, for its supervisor to start it again as a follower.
  A follower refuses every agent stream with "not the leader; the leader is X at
  ADDR" and the leader's address (--advertise), where agents given a list of
  controllers (firedrill-agent --controller a:7443,b:7443) go next; its API answers
  reads from the database and refuses every call that changes state, naming the
  leader. Every controller's certificate comes from the fleet's CA.

  With --web-listen the controller serves its dashboard over HTTPS (its --tls-*
  material): the fleet, the runs, each run live with its probe charts, the signed
  reports, the schedules, and a fleet-wide halt. People sign in with a client
  certificate of the fleet's CA (`firedrill certs user --name NAME --role ROLE`) or a
  login link (`firedrill web login --as NAME`); they are cn:NAME to the roles above.

OPTIONS)";

// "key=value"
Result<std::pair<std::string, std::string>> key_value(const std::string& text, const char* option) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    return make_error("{} '{}': expected KEY=VALUE", option, text);
  }
  return std::pair{text.substr(0, eq), text.substr(eq + 1)};
}

void raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

}  // namespace

int serve_main(int argc, char** argv) {
  AgentServerConfig agents;
  FleetConfig fleet_config;
  std::string state_dir = "/var/lib/firedrill", api = default_api_socket(), api_group, api_mode, api_listen;
  std::string metrics_listen, web_listen, store_url, fleet_id, controller_id, advertise, enroll_listen, ca_key,
      cert_lifetime = "30d";
  std::string leader_lease;
  std::string lease = "5s", heartbeat = "1s", lost_after = "0s", max_clock_offset = "1s", log_format = "text", log_level = "info";
  std::vector<std::string> protect, controller_domain;
  auth::AccessConfig access_config;
  uint32_t budget_hosts = 0;
  double budget_percent = 0;
  size_t max_message = 1u << 20;
  agents.listen = "0.0.0.0:7443";

  po::options_description desc(kUsage);
  desc.add_options()
    ("help,h", "print this help")
    ("listen", po::value(&agents.listen)->default_value(agents.listen), "address for agent streams")
    ("tls-ca", po::value(&agents.tls_ca), "CA certificate (PEM) that signed the agents' certificates")
    ("tls-cert", po::value(&agents.tls_cert), "this controller's certificate (PEM)")
    ("tls-key", po::value(&agents.tls_key), "this controller's private key (PEM)")
    ("insecure", po::bool_switch(&agents.insecure), "plaintext agent streams, no identities (labs only; logged loudly)")
    ("state-dir", po::value(&state_dir)->default_value(state_dir), "store and state")
    ("store", po::value(&store_url),
     "postgres://USER:PASSWORD@HOST:PORT/DATABASE: keep the state in PostgreSQL, shared by several controllers "
     "(default: SQLite under --state-dir)")
    ("fleet", po::value(&fleet_id),
     "the fleet's id, kept in a PostgreSQL store, which refuses controllers of another fleet "
     "(default: ca-sha256: and the SHA-256 of the --tls-ca certificate, as join tokens carry it)")
    ("controller-id", po::value(&controller_id),
     "this controller's name in the leader lease of a PostgreSQL store (default: HOSTNAME:PID)")
    ("advertise", po::value(&advertise),
     "HOST:PORT where agents reach this controller's --listen, given to them by followers when this one leads "
     "(default: the --listen host, this host's name for a wildcard, and the port bound); the controller's "
     "certificate must name HOST")
    ("api", po::value(&api)->default_value(api), "the API's Unix socket (default /run/firedrill/controller.sock, or $FIREDRILL_API)")
    ("api-group", po::value(&api_group), "the API socket's group: its members are operators (default: the controller's own group)")
    ("api-mode", po::value(&api_mode), "the API socket's mode, octal (default 0600; 0660 with --api-group)")
    ("api-listen", po::value(&api_listen),
     "also serve the API over mutual TLS on HOST:PORT (the fleet CA and --tls-cert/--tls-key); callers are cn:NAME "
     "of their client certificate")
    ("lease-grace", po::value(&lease)->default_value(lease), "agents revert everything after this much silence")
    ("leader-lease", po::value(&leader_lease),
     "with --store postgres://...: the leader lease; a lost leader is replaced this long after its last renewal "
     "(default: a third of --lease-grace, at least 1s: a takeover then comes within the agents' grace and runs go "
     "on)")
    ("heartbeat", po::value(&heartbeat)->default_value(heartbeat), "how often agents report")
    ("lost-after", po::value(&lost_after), "an agent silent this long is lost (default: max(3 heartbeats, lease grace))")
    ("max-clock-offset", po::value(&max_clock_offset),
     "agents whose clock is further than this from ours (measured on every heartbeat) are refused faults with a common start (default 1s)")
    ("protect", po::value(&protect)->composing(), "a selector of hosts no run may target (repeatable)")
    ("budget-hosts", po::value(&budget_hosts), "at most this many hosts under fault across all runs (0: no limit)")
    ("budget-percent", po::value(&budget_percent), "at most this share of the live fleet under fault across all runs")
    ("controller-domain", po::value(&controller_domain)->composing(),
     "KEY=VALUE of the controller's own failure domain (repeatable); kept in the store's controllers registry")
    ("max-message-bytes", po::value(&max_message)->default_value(max_message), "agent messages above this close the stream")
    ("viewer", po::value(&access_config.viewers)->composing(), "WHO may read (a user, group:NAME, uid:N, cn:NAME; repeatable)")
    ("operator", po::value(&access_config.operators)->composing(), "WHO may inject, run, abort, halt and release (repeatable)")
    ("approver", po::value(&access_config.approvers)->composing(), "WHO may approve runs (repeatable)")
    ("admin", po::value(&access_config.admins)->composing(), "WHO may do everything, schedules too (repeatable)")
    ("approval-policy", po::value(&access_config.approval_policy)->composing(),
     "ENV=N[:WHO,...]: runs in environment ENV ('*': any other) need N approvals from distinct people matching WHO (repeatable)")
    ("enroll-listen", po::value(&enroll_listen),
     "accept enrollments (`firedrill-agent enroll`) on HOST:PORT: TLS with --tls-cert, no client certificate")
    ("ca-key", po::value(&ca_key),
     "the fleet CA's private key (of --tls-ca): this controller signs enrolled and renewed agent certificates")
    ("cert-lifetime", po::value(&cert_lifetime)->default_value(cert_lifetime),
     "the lifetime of the certificates this controller signs (1m..3650d)")
    ("metrics-listen", po::value(&metrics_listen),
     "serve /metrics (Prometheus text format) on ADDR:PORT, e.g. 127.0.0.1:9465 or [::1]:9465")
    ("web-listen", po::value(&web_listen),
     "serve the dashboard over HTTPS on ADDR:PORT with --tls-cert/--tls-key; people sign in with a client "
     "certificate of --tls-ca or a login link (`firedrill web login`)")
    ("log-format", po::value(&log_format)->default_value(log_format), "text or json")
    ("log-level", po::value(&log_level)->default_value(log_level), "trace, debug, info, warn, error");
  add_config_options(desc);
  po::variables_map vm;
  if (auto done = parse_verb_options_with_config(argc, argv, desc, vm, "firedrill serve",
                                                 {v1::ControllerConfigFile::descriptor(), "controller configuration"})) {
    return *done;
  }
  auto usage = [](const std::string& what) { return usage_error("firedrill serve", what); };
  auto log_config = parse_log_options(log_format, log_level);
  if (!log_config) return usage(log_config.error().message);
  if (!metrics_listen.empty()) {
    if (auto a = metrics::parse_listen_address(metrics_listen); !a) return usage("--metrics-listen " + a.error().message);
  }
  auto api_access = parse_socket_access(api_group, api_mode);
  if (!api_access) return usage(api_access.error().message);
  for (auto [opt, text, out] : {std::tuple{"--lease-grace", &lease, &fleet_config.lease_grace},
                                std::tuple{"--heartbeat", &heartbeat, &fleet_config.heartbeat_interval},
                                std::tuple{"--lost-after", &lost_after, &fleet_config.lost_after},
                                std::tuple{"--max-clock-offset", &max_clock_offset, &fleet_config.max_clock_offset}}) {
    auto d = parse_duration(*text);
    if (!d) return usage(std::string(opt) + ": " + d.error().message);
    *out = *d;
  }
  if (fleet_config.lease_grace < std::chrono::milliseconds(300) || fleet_config.lease_grace > std::chrono::minutes(10)) {
    return usage("--lease-grace must be within 300ms..10m");
  }
  if (fleet_config.heartbeat_interval < std::chrono::milliseconds(100)) return usage("--heartbeat must be at least 100ms");
  // A third of the agents' grace (at least 1s, within it): a takeover comes within the
  // grace even when the agents' last renewal came a third of it before the loss.
  auto grace_ms = std::chrono::duration_cast<std::chrono::milliseconds>(fleet_config.lease_grace);
  auto leader_ttl = std::min(grace_ms, std::max(grace_ms / 3, std::chrono::milliseconds(1000)));
  if (!leader_lease.empty()) {
    auto d = parse_duration(leader_lease);
    if (!d) return usage("--leader-lease: " + d.error().message);
    leader_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    if (leader_ttl < std::chrono::milliseconds(300) || leader_ttl > fleet_config.lease_grace) {
      return usage(fmt::format("--leader-lease must be within 300ms..--lease-grace ({})",
                               format_duration(fleet_config.lease_grace)));
    }
  }
  if (max_message < 4096 || max_message > (64u << 20)) return usage("--max-message-bytes must be within 4096..67108864");
  fleet_config.max_message_bytes = max_message;
  agents.max_message_bytes = max_message;
  fleet_config.require_certificate_id = !agents.insecure;
  fleet_config.guard.protected_selectors = protect;
  fleet_config.guard.budget_hosts = budget_hosts;
  fleet_config.guard.budget_percent = budget_percent;
  for (auto& t : controller_domain) {
    auto kv = key_value(t, "--controller-domain");
    if (!kv) return usage(kv.error().message);
    fleet_config.guard.controller_domain.push_back(*kv);
  }
  if (auto r = fleet_config.guard.validate(); !r) return usage(r.error().message);
  auto lifetime = parse_duration(cert_lifetime);
  if (!lifetime) return usage("--cert-lifetime: " + lifetime.error().message);
  if (agents.insecure && (!enroll_listen.empty() || !ca_key.empty())) {
    return usage("--enroll-listen and --ca-key need the fleet's TLS material (--tls-ca, --tls-cert, --tls-key), not "
                 "--insecure");
  }
  if (!api_listen.empty() && agents.insecure) {
    return usage("--api-listen needs the fleet's TLS material (--tls-ca, --tls-cert, --tls-key), not --insecure: "
                 "remote callers are identified by their client certificate");
  }
  if (!web_listen.empty()) {
    if (agents.insecure) return usage("--web-listen needs the fleet's TLS material (--tls-ca, --tls-cert, --tls-key), not --insecure");
    if (auto a = metrics::parse_listen_address(web_listen); !a) return usage("--web-listen " + a.error().message);
  }
  bool postgres = is_postgres_url(store_url);
  if (!store_url.empty() && !postgres) {
    return usage("--store: expected postgres://USER:PASSWORD@HOST:PORT/DATABASE (leave it out for SQLite in --state-dir)");
  }
  if (postgres && fleet_id.empty()) {
    if (agents.tls_ca.empty()) return usage("--store postgres://... needs --fleet ID when there is no --tls-ca to take it from");
    // The CA's hash as join tokens carry it (the SHA-256 of its DER certificate).
    auto ca = read_whole_file(agents.tls_ca, "--tls-ca");
    if (!ca) return usage(ca.error().describe());
    auto hash = certificate_sha256(*ca);
    if (!hash) return usage(fmt::format("--tls-ca {}: {}", agents.tls_ca, hash.error().describe()));
    fleet_id = "ca-sha256:" + *hash;
  }
  if (controller_id.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    controller_id = fmt::format("{}:{}", host, ::getpid());
  }
  access_config.api_group = api_access->group_name;
  access_config.controller_uid = ::getuid();
  auto access = auth::Access::make(access_config);
  if (!access) return usage(access.error().message);

  init_logging(*log_config);
  sigset_t sigs = block_stop_signals();
  signal(SIGPIPE, SIG_IGN);
  ::umask(0077);
  raise_fd_limit();

  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    log()->error("state directory {}: {}", state_dir, ec.message());
    return 1;
  }
  std::filesystem::create_directories(std::filesystem::path(api).parent_path(), ec);
  std::unique_ptr<Store> store;
  std::unique_ptr<leader::Elector> elector;
  LeaseHolder previous_leader;
  ApiServerConfig api_config{api, *api_access, api_listen, agents};
  // This controller in the store's controllers registry: its failure domain for the
  // guard's controller-domain rule at every controller, its key for `keys export --all`.
  std::unique_ptr<ControllerRegistry> controllers;
  auto start_registry = [&]() -> bool {
    auto key = evidence::SigningKey::load_or_create(state_dir);
    if (!key) {
      log()->error("{}", key.error().describe());
      return false;
    }
    ControllerRow self{controller_id, advertise, {}, key->public_key().pem(), WallClock::now()};
    for (auto& [k, v] : fleet_config.guard.controller_domain) self.domain[k] = v;
    controllers = std::make_unique<ControllerRegistry>(*store, self,
                                                    std::chrono::duration_cast<std::chrono::milliseconds>(fleet_config.lease_grace));
    if (auto r = controllers->start(); !r) {
      log()->error("{}", r.error().describe());
      return false;
    }
    fleet_config.guard.live_peers = [r = controllers.get()] { return r->live_peers(); };
    return true;
  };
  if (postgres) {
    PostgresOptions o;
    o.url = store_url;
    o.fleet = fleet_id;
    auto opened = open_postgres_store(o);
    if (!opened) {
      log()->error("{}", opened.error().describe());
      return 1;
    }
    // Nothing is written, and no agent commanded, before this controller leads.
    LeaderLease& lease = (*opened)->lease();
    store = std::move(*opened);
    // Held to the same bound as agents' clocks, at start and again on coming to lead.
    auto clock_fits = [&](const char* when) {
      auto c = lease.compare_clock(5);
      if (!c) {
        log()->error("{}: {}", when, c.error().describe());
        return false;
      }
      if (auto why = clock_refusal(*c, fleet_config.max_clock_offset); !why.empty()) {
        log()->error("{}: store {}: {}", when, pg::redact(store_url), why);
        return false;
      }
      log()->info("{}: this host's clock is within {} of the database's (offset {}{})", when,
                  format_duration(fleet_config.max_clock_offset), c->offset.count() < 0 ? "-" : "+",
                  format_duration(std::chrono::abs(c->offset)));
      return true;
    };
    if (!clock_fits("clock")) return 1;
    if (!start_registry()) return 1;
    log()->info("controller {} of fleet {}: waiting for the leader lease", controller_id, fleet_id);
    FollowerConfig follower{controller_id, advertise, leader_ttl, fleet_config, state_dir, api_config,
                            {web_listen, agents.tls_ca, agents.tls_cert, agents.tls_key}};
    auto led = follow_until_leading(follower, *store, lease, agents, *access, sigs, &previous_leader);
    if (!led) {
      log()->error("{}", led.error().describe());
      return 1;
    }
    if (!*led) return 0;  // stopped while a follower
    elector = std::move(*led);
    if (!clock_fits("clock on coming to lead")) {
      elector->stop(true);  // let another lead at once
      return 1;
    }
  } else {
    auto opened = open_sqlite_store(state_dir + "/" + kStoreFileName);
    if (!opened) {
      log()->error("{}", opened.error().describe());
      return 1;
    }
    store = std::move(*opened);
    if (!start_registry()) return 1;
  }
  if (auto imported = import_files(state_dir, *store); !imported) {
    log()->error("{}", imported.error().describe());
    return 1;
  }

  web::Feed web_feed;  // the dashboard's live updates: outlives the fleet's callbacks into it
  Fleet fleet(fleet_config, store.get(), runner::run_of_fault);
  Revocations revocations;  // read by the agent server's streams: outlive it
  EnrolledTags enrolled;
  AgentServer agent_server(fleet);
  auto enrollment = Enrollment::open(
      {agents.insecure ? "" : agents.tls_ca, ca_key, std::chrono::duration_cast<std::chrono::seconds>(*lifetime)}, *store,
      revocations, enrolled);
  if (!enrollment) {
    log()->error("enrollment: {}", enrollment.error().describe());
    return 1;
  }
  agent_server.set_revocations(&revocations);
  agent_server.set_enrolled_tags(&enrolled);
  agent_server.set_renewer([e = enrollment->get()](const std::string& id, const std::string& csr) {
    return e->renew_message(id, csr);
  });
  // After a takeover the runs in flight go on here (runner/takeover.h): the faults the
  // agents report are re-adopted, so the agent port opens once the runs know what to
  // expect; otherwise at once (a restart reverts what agents report as they come).
  runner::RunManagerConfig run_config;
  runner::Readoption readoption;
  if (elector && !previous_leader.holder.empty()) {
    auto ttl = std::chrono::duration_cast<WallClock::duration>(leader_ttl);
    run_config.takeover = runner::Takeover{previous_leader.holder, previous_leader.expires_at - ttl, controller_id,
                                           elector->epoch(), WallClock::now(),
                                           std::chrono::duration_cast<std::chrono::nanoseconds>(fleet_config.lease_grace)};
    run_config.readoption = &readoption;
    fleet.set_adoption([&readoption](const v1::Hello& h, const v1::ActiveFault& f) { return readoption.adopt(h, f); },
                       [&readoption](const v1::Hello& h) { readoption.seen(h); });
  }
  auto start_agents = [&]() -> bool {
    if (auto r = agent_server.start(agents); !r) {
      log()->error("{}", r.error().describe());
      return false;
    }
    controllers->set_address(advertised_address(agents.listen, agent_server.port(), advertise));
    return true;
  };
  if (!run_config.takeover && !start_agents()) return 1;
  // Every run keeps a signed evidence log; without one a run still runs, and says so.
  auto run_evidence = evidence::ControllerEvidence::open(state_dir, *store);
  if (!run_evidence) {
    log()->error("evidence unavailable, runs will have no signed log: {}", run_evidence.error().describe());
  }
  evidence::RunRecorder* recorder = run_evidence ? (*run_evidence)->recorder.get() : nullptr;
  metrics::Registry registry;
  std::unique_ptr<ControllerMetrics> controller_metrics;
  if (!metrics_listen.empty()) {
    controller_metrics = std::make_unique<ControllerMetrics>(registry, fleet, *store);
    if (recorder) controller_metrics->watch(*recorder);
  }
  runner::SystemClock clock;
  runner::FleetAdapter fleet_driver(fleet);
  run_config.store = store.get();
  run_config.policy_approvals = [&access](const std::string& environment) -> uint32_t {
    auto rule = access->rule_for(environment);
    return rule ? rule->required : 0;
  };
  runner::RunManager runs(
      run_config, &clock, &fleet_driver, [recorder, &controller_metrics, &web_feed, &web_listen](const v1::RunRecord&, bool) {
        std::vector<std::unique_ptr<runner::RunObserver>> out;
        if (recorder) out.push_back(recorder->for_run());
        if (controller_metrics) out.push_back(controller_metrics->for_run());
        if (!web_listen.empty()) out.push_back(web_feed.for_run());
        return out;
      });
  auto aborted = runs.start();
  if (!aborted) {
    log()->error("{}", aborted.error().describe());
    return 1;
  }
  if (run_config.takeover) {
    log()->info("took over from {} (its last lease renewal {}): runs it left in flight go on here", run_config.takeover->from,
                format_utc(run_config.takeover->lost_at));
    if (!start_agents()) return 1;
  }

  ApiServer api_server;
  if (auto r = api_server.bind(api_config); !r) {
    log()->error("{}", r.error().describe());
    return 1;
  }
  ApiContext context{.fleet = fleet,
                     .store = *store,
                     .runs = runs,
                     .state_dir = state_dir,
                     .access = *access,
                     .unix_peers = api_server.peers(),
                     .evidence = run_evidence ? run_evidence->get() : nullptr,
                     .enrollment = enrollment->get(),
                     .controller_id = controller_id};
  EnrollServer enroll_server(**enrollment);
  if (!enroll_listen.empty()) {
    if (auto r = enroll_server.start({enroll_listen, agents.tls_cert, agents.tls_key, agents.tls_ca}); !r) {
      log()->error("{}", r.error().describe());
      return 1;
    }
    if (!(*enrollment)->can_sign()) {
      log()->warn("enrollment on {} is refused to every host: no --ca-key to sign with", enroll_listen);
    }
  }
  std::unique_ptr<web::WebServer> web_server;
  if (!web_listen.empty()) {
    web_server = std::make_unique<web::WebServer>(context, web_feed);
    if (auto r = web_server->start({web_listen, agents.tls_ca, agents.tls_cert, agents.tls_key}); !r) {
      log()->error("{}", r.error().describe());
      return 1;
    }
    web_feed.watch(fleet);
  }
  api_server.add_service(web::make_web_service(context, web_server.get()));
  if (auto r = api_server.start(context); !r) {
    log()->error("{}", r.error().describe());
    return 1;
  }
  int api_port = api_server.tls_port();
  metrics::MetricsServer metrics_server;
  if (!metrics_listen.empty()) {
    if (auto r = metrics_server.start(metrics_listen, registry); !r) {
      log()->error("{}", r.error().describe());
      return 1;
    }
    log()->info("metrics on {} (port {})", metrics_listen, metrics_server.port());
  }
  log()->info("access: {}", access->describe());
  log()->info("firedrill controller {} ready: agents on {} (port {}), API on {}{}, state in {}, lease grace {}{}",
              FIREDRILL_VERSION, agents.listen, agent_server.port(), api,
              api_listen.empty() ? "" : fmt::format(" and over TLS on {} (port {})", api_listen, api_port)
                  + (web_server ? fmt::format(", dashboard on {} (port {})", web_listen, web_server->port()) : ""),
              state_dir,
              format_duration(fleet_config.lease_grace),
              aborted->empty() ? "" : fmt::format("; {} run(s) from before the restart recorded aborted", aborted->size()));

  // Halts asked at followers (or while none led) are the leader's to act on.
  std::unique_ptr<HaltWatcher> halts;
  if (elector) {
    halts = std::make_unique<HaltWatcher>(*store, fleet);
    halts->start();
  }
  notify_ready(fmt::format("agents on {}, API on {}", agents.listen, api));
  int sig = 0;
  bool lost_lease = false;
  if (elector) {
    // Leading is checked as often as a stop signal: a controller that no longer holds
    // the lease stops commanding within this poll.
    timespec poll{0, 100'000'000};
    while ((sig = sigtimedwait(&sigs, nullptr, &poll)) <= 0) {
      if (!elector->leading()) {
        lost_lease = true;
        break;
      }
    }
  } else {
    sigwait(&sigs, &sig);
  }
  notify_stopping();
  if (lost_lease) {
    // Another controller may lead already: no command, no revert from this one. Agents
    // revert at their grace what no leader renews.
    log()->error("lost the leader lease: agent streams closed; exiting for a restart as a follower");
    agent_server.stop();
  } else {
    log()->info("signal {}: stopping; runs in flight are reverted and recorded aborted", strsignal(sig));
  }
  if (halts) halts->stop();
  if (web_server) web_server->stop();
  metrics_server.stop();
  enroll_server.stop();
  api_server.stop();
  runs.stop(lost_lease ? std::string("the controller lost the leader lease")
                       : fmt::format("the controller stopped ({})", strsignal(sig)));
  agent_server.stop();
  if (elector) elector->stop(!lost_lease);
  log()->info("bye");
  return lost_lease ? 3 : 0;
}

}  // namespace firedrill::controller
