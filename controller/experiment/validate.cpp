#include "controller/experiment/validate.h"

#include <arpa/inet.h>

#include <charconv>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "common/fault_values.h"
#include "common/time.h"
#include "controller/calendar/calendar.h"
#include "controller/experiment/limits.h"
#include "controller/experiment/text_match.h"
#include "controller/targeting/selector.h"

namespace firedrill::experiment {

namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

bool valid_cidr(const std::string& text) {
  std::string addr = text;
  int max_prefix = 32;
  auto slash = text.find('/');
  std::string prefix;
  if (slash != std::string::npos) {
    addr = text.substr(0, slash);
    prefix = text.substr(slash + 1);
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) {
    max_prefix = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) {
    max_prefix = 128;
  } else {
    return false;
  }
  if (slash == std::string::npos) return true;
  int p = -1;
  auto [end, ec] = std::from_chars(prefix.data(), prefix.data() + prefix.size(), p);
  return !prefix.empty() && ec == std::errc() && end == prefix.data() + prefix.size() && p >= 0 && p <= max_prefix;
}

class Checker {
 public:
  Checker(const v1::Experiment& e, const SourceMap& source, const std::string& file)
      : e_(e), source_(source), file_(file) {
    for (const auto& p : e.probes()) probe_kinds_[p.name()] = probe_kind(p);
  }

  std::vector<Diagnostic> run() {
    identity();
    if (e_.has_targets()) targets(e_.targets(), "targets");
    blast_radius();
    steps();
    probes();
    slo();
    abort_conditions();
    phases();
    approvals();
    if (e_.has_schedule()) schedule();
    if (e_.has_report() && e_.report().has_user_notice_threshold()) {
      positive(e_.report().user_notice_threshold(), "report.user_notice_threshold");
    }
    return std::move(diags_);
  }

 private:
  // Errors about a value point at the value; about a missing field, at the mapping
  // that should hold it.
  template <typename... Args>
  void error(const std::string& path, fmt::format_string<Args...> f, Args&&... args) {
    diags_.push_back(Diagnostic{file_, source_.value_pos(path), path, fmt::format(f, std::forward<Args>(args)...)});
  }

  void identity() {
    static const std::regex kName("^[a-z0-9][a-z0-9._-]{0,99}$");
    if (e_.name().empty()) {
      error("name", "required: the experiment's name (lower case letters, digits, '-', '_', '.')");
    } else if (!std::regex_match(e_.name(), kName)) {
      error("name", "'{}' is not a valid name (lower case letters, digits, '-', '_', '.'; at most 100)", e_.name());
    }
    for (int i = 0; i < e_.participants_size(); ++i) {
      if (trim(e_.participants(i).name()).empty()) error(fmt::format("participants[{}].name", i), "required: a name");
    }
  }

  void targets(const v1::Targets& t, const std::string& path) {
    int given = !t.selector().empty() + (t.hosts_size() > 0) + !t.from_command().empty();
    if (given > 1) {
      error(path, "give one of selector, hosts and from_command");
    } else if (!t.from_command().empty()) {
      if (trim(t.from_command()).empty()) error(path + ".from_command", "empty command");
    } else if (t.hosts_size() > 0) {
      for (int i = 0; i < t.hosts_size(); ++i) {
        if (trim(t.hosts(i)).empty()) error(fmt::format("{}.hosts[{}]", path, i), "empty host id");
      }
    } else if (trim(t.selector()).empty()) {
      error(path + ".selector", "empty selector: name the hosts, e.g. \"dc=pangyo\" or \"rack in (p1,p2)\"");
    } else {
      selector(t.selector(), path + ".selector");
    }
    if (t.has_from_command_timeout()) {
      auto d = from_proto(t.from_command_timeout());
      if (t.from_command().empty()) {
        error(path + ".from_command_timeout", "only with from_command");
      } else if (d <= std::chrono::nanoseconds(0) || d > kMaxTargetCommandTimeout) {
        error(path + ".from_command_timeout", "must be above 0 and at most {}", format_duration(kMaxTargetCommandTimeout));
      }
    }
    const auto& m = t.mode();
    switch (m.mode_case()) {
      case v1::TargetMode::kCount:
        if (m.count() == 0) error(path + ".mode.count", "must be at least 1");
        break;
      case v1::TargetMode::kPercent:
        if (!(m.percent() > 0 && m.percent() <= 100)) error(path + ".mode.percent", "must be above 0 and at most 100");
        break;
      case v1::TargetMode::kOnePer:
        if (trim(m.one_per()).empty()) error(path + ".mode.one_per", "empty tag key (e.g. rack)");
        break;
      case v1::TargetMode::kAll:
        if (!m.all()) error(path + ".mode.all", "all: false chooses nothing; leave mode out, or use count or percent");
        break;
      default:
        break;
    }
  }

  void selector(const std::string& text, const std::string& path) {
    if (auto sel = controller::Selector::parse(text); !sel) error(path, "{}", sel.error().message);
  }

  void blast_radius() {
    if (!e_.has_blast_radius()) return;
    const auto& b = e_.blast_radius();
    if (b.max_percent() < 0 || b.max_percent() > 100) error("blast_radius.max_percent", "must be between 0 and 100");
    if (b.has_max_domains()) {
      if (trim(b.max_domains().key()).empty()) error("blast_radius.max_domains.key", "required: a tag key (e.g. dc)");
      if (b.max_domains().count() == 0) error("blast_radius.max_domains.count", "must be at least 1");
    }
    if (b.has_keep_untouched()) {
      if (trim(b.keep_untouched().key()).empty()) error("blast_radius.keep_untouched.key", "required: a tag key (e.g. dc)");
      if (b.keep_untouched().min() == 0) error("blast_radius.keep_untouched.min", "must be at least 1");
    }
    for (int i = 0; i < b.protected_selectors_size(); ++i) {
      std::string p = fmt::format("blast_radius.protected_selectors[{}]", i);
      if (trim(b.protected_selectors(i)).empty()) error(p, "empty selector");
      else selector(b.protected_selectors(i), p);
    }
  }

  void steps() {
    if (e_.steps_size() == 0) {
      error("steps", "at least one step is required (a fault and its duration)");
      return;
    }
    std::set<std::string> names;
    for (int i = 0; i < e_.steps_size(); ++i) {
      const auto& s = e_.steps(i);
      std::string path = fmt::format("steps[{}]", i);
      if (!s.name().empty() && !names.insert(s.name()).second) error(path + ".name", "duplicate step name '{}'", s.name());
      if (!s.has_fault()) {
        error(path + ".fault", "required: the fault (network, process or power_loss)");
      } else {
        fault(s.fault(), path + ".fault");
        std::optional<nanoseconds> lease;
        if (s.has_duration()) lease = dur(s.duration());
        for (auto& p : fault_value_problems(s.fault(), lease)) error(path + ".fault." + p.field, "{}", p.message);
      }
      if (!s.has_duration()) {
        error(path + ".duration", "required: how long the fault lasts (e.g. 2m)");
      } else if (positive(s.duration(), path + ".duration")) {
        lease(i, path);
      }
      if (s.has_targets()) {
        targets(s.targets(), path + ".targets");
      } else if (!e_.has_targets()) {
        error(path + ".targets", "no targets: give the experiment targets or this step its own");
      }
    }
  }

  // A step's lease is its duration (and, held, the steps after it) plus the runner's
  // start delay and margin; agents refuse one over 24 h.
  void lease(int i, const std::string& path) {
    const auto& s = e_.steps(i);
    nanoseconds lease = dur(s.duration()) + kLeaseOverhead;
    if (s.hold()) {
      for (int j = i + 1; j < e_.steps_size(); ++j) {
        if (e_.steps(j).has_duration()) lease += dur(e_.steps(j).duration()) + std::chrono::seconds(1);
      }
    }
    if (lease <= kMaxLease) return;
    if (dur(s.duration()) + kLeaseOverhead > kMaxLease) {
      error(path + ".duration", "{} is too long: with the runner's {} of start delay and margin its lease would be "
            "{}, and agents refuse leases over {}",
            format_duration(dur(s.duration())), format_duration(kLeaseOverhead),
            format_duration(dur(s.duration()) + kLeaseOverhead), format_duration(kMaxLease));
    } else {
      error(path + ".hold", "held until the last step, its lease would be {}, and agents refuse leases over {}",
            format_duration(lease), format_duration(kMaxLease));
    }
  }

  void process_selector(const v1::ProcessSelector& sel, const std::string& path) {
    if (sel.cgroups_size() + sel.workload_cgroups_size() + sel.exe_paths_size() + sel.comms_size() +
            sel.pids_size() ==
        0) {
      error(path, "selects no process: give cgroups, workload_cgroups, exe_paths, comms or pids");
    }
  }

  void traffic_match(const v1::TrafficMatch& m, const std::string& path) {
    auto cidrs = [&](const auto& list, const std::string& p) {
      for (int i = 0; i < list.size(); ++i) {
        if (!valid_cidr(list.Get(i))) error(fmt::format("{}[{}]", p, i), "'{}' is not a CIDR", list.Get(i));
      }
    };
    cidrs(m.src_cidrs(), path + ".src_cidrs");
    cidrs(m.dst_cidrs(), path + ".dst_cidrs");
  }

  void fault(const v1::FaultSpec& f, const std::string& path) {
    switch (f.kind_case()) {
      case v1::FaultSpec::kNetwork: {
        const auto& n = f.network();
        std::string np = path + ".network";
        for (int i = 0; i < n.allow_size(); ++i) {
          if (!valid_cidr(n.allow(i).peer_cidr())) {
            error(fmt::format("{}.allow[{}].peer_cidr", np, i), "'{}' is not a CIDR", n.allow(i).peer_cidr());
          }
        }
        switch (n.kind_case()) {
          case v1::NetworkFault::kDrop: {
            const auto& d = n.drop();
            if (d.percent() < 0 || d.percent() > 100) error(np + ".drop.percent", "must be between 0 and 100");
            traffic_match(d.match(), np + ".drop.match");
            break;
          }
          // Their values: fault_value_problems().
          case v1::NetworkFault::kCorrupt:
            traffic_match(n.corrupt().match(), np + ".corrupt.match");
            break;
          case v1::NetworkFault::kDuplicate:
            traffic_match(n.duplicate().match(), np + ".duplicate.match");
            break;
          case v1::NetworkFault::kDelay:
            traffic_match(n.delay().match(), np + ".delay.match");
            break;
          case v1::NetworkFault::kPartition: {
            const auto& p = n.partition();
            if (p.peer_cidrs_size() == 0) error(np + ".partition.peer_cidrs", "required: the peers to cut off");
            for (int i = 0; i < p.peer_cidrs_size(); ++i) {
              if (!valid_cidr(p.peer_cidrs(i))) {
                error(fmt::format("{}.partition.peer_cidrs[{}]", np, i), "'{}' is not a CIDR", p.peer_cidrs(i));
              }
            }
            break;
          }
          case v1::NetworkFault::kBlackhole:
            break;
          default:
            error(np, "choose the kind of network fault: drop, blackhole or partition; or corrupt, duplicate or delay");
        }
        break;
      }
      case v1::FaultSpec::kProcess: {
        const auto& p = f.process();
        std::string pp = path + ".process";
        switch (p.kind_case()) {
          case v1::ProcessFault::kKill:
            process_selector(p.kill().select(), pp + ".kill.select");
            break;
          case v1::ProcessFault::kKeepDown:
            process_selector(p.keep_down().select(), pp + ".keep_down.select");
            break;
          case v1::ProcessFault::kFreeze:
            if (p.freeze().cgroups_size() == 0) error(pp + ".freeze.cgroups", "required: the cgroups to freeze");
            break;
          default:
            error(pp, "choose the kind of process fault: kill, keep_down or freeze");
        }
        break;
      }
      case v1::FaultSpec::kPowerLoss:
      case v1::FaultSpec::kResource:  // fault_value_problems()
        break;
      case v1::FaultSpec::kConnection:  // and fault_value_problems()
        traffic_match(f.connection().match(), path + ".connection.match");
        break;
      case v1::FaultSpec::kDns:  // and fault_value_problems()
        traffic_match(f.dns().match(), path + ".dns.match");
        break;
      default:
        error(path, "choose the fault: network, process, power_loss, resource, connection or dns");
    }
  }

  nanoseconds dur(const google::protobuf::Duration& d) { return from_proto(d); }

  bool positive(const google::protobuf::Duration& d, const std::string& path) {
    if (dur(d) <= nanoseconds(0)) {
      error(path, "must be longer than zero");
      return false;
    }
    return true;
  }

  // The probes' own engine (RE2), so that what validates also runs.
  void regex(const std::string& pattern, const std::string& path) {
    if (pattern.empty()) return;
    if (auto m = TextMatch::compile(pattern); !m) error(path, "{}", m.error().message);
  }

  void http_url(const std::string& url, const std::string& path) {
    if (url.empty()) {
      error(path, "required: the URL to probe (http:// or https://)");
    } else if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      error(path, "'{}' is not an http:// or https:// URL", url);
    } else if (url.find_first_of(" \t\n") != std::string::npos) {
      error(path, "'{}' contains white space", url);
    }
  }

  void probes() {
    static const std::regex kName("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
    std::set<std::string> names;
    if (static_cast<size_t>(e_.probes_size()) > kMaxProbes) {
      error(fmt::format("probes[{}]", kMaxProbes), "{} probes; an experiment may have at most {}",
            e_.probes_size(), kMaxProbes);
    }
    for (int i = 0; i < e_.probes_size(); ++i) {
      const auto& p = e_.probes(i);
      std::string path = fmt::format("probes[{}]", i);
      if (p.name().empty()) {
        error(path + ".name", "required: a name for the probe");
      } else if (!std::regex_match(p.name(), kName)) {
        error(path + ".name", "'{}' is not a valid probe name (letters, digits, '.', '_', '-')", p.name());
      } else if (!names.insert(p.name()).second) {
        error(path + ".name", "duplicate probe name '{}'", p.name());
      }
      if (p.has_interval() && dur(p.interval()) < milliseconds(100)) {
        error(path + ".interval", "at least 100ms (got {})", format_duration(dur(p.interval())));
      }
      if (p.has_timeout() && positive(p.timeout(), path + ".timeout")) {
        // A timeout longer than its interval keeps several samples in flight; the
        // probe pool keeps at most kMaxSamplesInFlight of one probe.
        nanoseconds interval = p.has_interval() ? dur(p.interval()) : nanoseconds(kDefaultProbeInterval);
        auto most = interval * static_cast<int64_t>(kMaxSamplesInFlight - 1);
        if (interval > nanoseconds(0) && dur(p.timeout()) > most) {
          error(path + ".timeout", "{} is longer than {} intervals of {} ({}): at most {} samples of a probe are in "
                "flight; shorten the timeout or lengthen the interval",
                format_duration(dur(p.timeout())), kMaxSamplesInFlight - 1, format_duration(interval),
                format_duration(most), kMaxSamplesInFlight);
        }
      }
      switch (p.kind_case()) {
        case v1::Probe::kHttp: {
          const auto& h = p.http();
          http_url(h.url(), path + ".http.url");
          static const std::set<std::string> kMethods = {"", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
          if (!kMethods.count(h.method())) error(path + ".http.method", "'{}' is not an HTTP method (GET, HEAD, POST, ...)", h.method());
          for (int k = 0; k < h.expect_status_size(); ++k) {
            if (h.expect_status(k) < 100 || h.expect_status(k) > 599) {
              error(fmt::format("{}.http.expect_status[{}]", path, k), "{} is not an HTTP status (100-599)", h.expect_status(k));
            }
          }
          regex(h.body_match(), path + ".http.body_match");
          break;
        }
        case v1::Probe::kTcp: {
          const std::string& a = p.tcp().address();
          auto colon = a.rfind(':');
          int port = 0;
          bool ok = colon != std::string::npos && colon > 0;
          if (ok) {
            auto [end, ec] = std::from_chars(a.data() + colon + 1, a.data() + a.size(), port);
            ok = ec == std::errc() && end == a.data() + a.size() && port > 0 && port < 65536;
          }
          if (a.empty()) error(path + ".tcp.address", "required: the host:port to connect to");
          else if (!ok) error(path + ".tcp.address", "'{}' is not host:port (port 1-65535)", a);
          break;
        }
        case v1::Probe::kCommand:
          if (p.command().argv_size() == 0 || p.command().argv(0).empty()) {
            error(path + ".command.argv", "required: the command to run, as a list [program, arg, ...]");
          }
          regex(p.command().output_match(), path + ".command.output_match");
          break;
        case v1::Probe::kPrometheus:
          http_url(p.prometheus().url(), path + ".prometheus.url");
          if (trim(p.prometheus().query()).empty()) error(path + ".prometheus.query", "required: a PromQL instant query");
          break;
        case v1::Probe::kData: {
          const auto& d = p.data();
          if (d.write_size() == 0 || d.write(0).empty()) {
            error(path + ".data.write", "required: the command that writes marker {{marker}}");
          } else {
            bool has_marker = false;
            for (const auto& a : d.write()) has_marker |= a.find("{marker}") != std::string::npos;
            if (!has_marker) error(path + ".data.write", "no argument holds {{marker}}: the marker number must be written");
          }
          if (d.read_size() == 0 || d.read(0).empty()) error(path + ".data.read", "required: the command that prints the markers back");
          break;
        }
        default:
          error(path, "probe has no target: give one of http, tcp, command, prometheus, data");
      }
    }
  }

  // Named probes must exist (and, for data loss, be data probes); an objective must end
  // up judging at least one probe.
  void probe_refs(const google::protobuf::RepeatedPtrField<std::string>& named, const std::string& path,
                  bool want_data) {
    for (int i = 0; i < named.size(); ++i) {
      auto it = probe_kinds_.find(named.Get(i));
      std::string p = fmt::format("{}.probes[{}]", path, i);
      if (it == probe_kinds_.end()) {
        error(p, "no probe named '{}'", named.Get(i));
      } else if (want_data && it->second != "data") {
        error(p, "'{}' is a {} probe; data loss is measured by data probes", named.Get(i), it->second);
      }
    }
    if (named.empty()) {
      bool any = false;
      for (const auto& [name, kind] : probe_kinds_) any |= want_data ? kind == "data" : kind != "data";
      if (!any && want_data) error(path, "no data probe to measure data loss with");
      if (!any && !want_data) error(path, "no probe to judge: add a probe");
    }
  }

  void required_max(bool has, const google::protobuf::Duration& d, const std::string& path) {
    if (!has) error(path, "required: the target (e.g. max: 30s)");
    else if (dur(d) < nanoseconds(0)) error(path, "must not be negative");
  }

  void slo() {
    if (!e_.has_slo()) return;
    const auto& s = e_.slo();
    if (s.has_availability()) {
      const auto& a = s.availability();
      if (!(a.min() > 0 && a.min() <= 1)) error("slo.availability.min", "required: a fraction above 0 and at most 1 (e.g. 0.99)");
      probe_refs(a.probes(), "slo.availability", false);
    }
    auto duration_obj = [&](const v1::DurationObjective& o, const std::string& path) {
      required_max(o.has_max(), o.max(), path + ".max");
      probe_refs(o.probes(), path, false);
    };
    auto sustained = [&](const v1::SustainedObjective& o, const std::string& path) {
      required_max(o.has_max(), o.max(), path + ".max");
      if (o.consecutive() > 1000) error(path + ".consecutive", "at most 1000");
      probe_refs(o.probes(), path, false);
    };
    if (s.has_max_unavailability()) duration_obj(s.max_unavailability(), "slo.max_unavailability");
    if (s.has_time_to_detect()) duration_obj(s.time_to_detect(), "slo.time_to_detect");
    if (s.has_failover_time()) sustained(s.failover_time(), "slo.failover_time");
    if (s.has_recovery_time()) sustained(s.recovery_time(), "slo.recovery_time");
    if (s.has_latency()) {
      const auto& l = s.latency();
      if (l.percentile() < 0 || l.percentile() > 100) error("slo.latency.percentile", "must be above 0 and at most 100");
      required_max(l.has_max(), l.max(), "slo.latency.max");
      probe_refs(l.probes(), "slo.latency", false);
    }
    if (s.has_data_loss()) {
      if (s.data_loss().has_max_span() && dur(s.data_loss().max_span()) < nanoseconds(0)) {
        error("slo.data_loss.max_span", "must not be negative");
      }
      probe_refs(s.data_loss().probes(), "slo.data_loss", true);
    }
  }

  void abort_conditions() {
    if (!e_.has_abort()) return;
    const auto& a = e_.abort();
    if (a.has_unavailability_over()) positive(a.unavailability_over(), "abort.unavailability_over");
    if (a.has_max_run_time()) positive(a.max_run_time(), "abort.max_run_time");
    if (a.has_unavailability_over()) probe_refs(a.probes(), "abort", false);
  }

  void phases() {
    if (e_.has_steady_state()) {
      const auto& s = e_.steady_state();
      if (s.has_hold() && dur(s.hold()) < nanoseconds(0)) error("steady_state.hold", "must not be negative");
      if (s.has_timeout() && positive(s.timeout(), "steady_state.timeout") && s.has_hold() &&
          dur(s.timeout()) <= dur(s.hold())) {
        error("steady_state.timeout", "must be longer than hold ({})", format_duration(dur(s.hold())));
      }
      for (int i = 0; i < s.probes_size(); ++i) {
        if (!probe_kinds_.count(s.probes(i))) error(fmt::format("steady_state.probes[{}]", i), "no probe named '{}'", s.probes(i));
      }
    }
    if (e_.has_recovery()) {
      const auto& r = e_.recovery();
      if (r.has_hold() && dur(r.hold()) < nanoseconds(0)) error("recovery.hold", "must not be negative");
      if (r.has_timeout() && positive(r.timeout(), "recovery.timeout") && r.has_hold() &&
          dur(r.timeout()) <= dur(r.hold())) {
        error("recovery.timeout", "must be longer than hold ({})", format_duration(dur(r.hold())));
      }
    }
  }

  void approvals() {
    if (!e_.has_approvals()) return;
    const auto& a = e_.approvals();
    std::set<std::string> seen;
    for (int i = 0; i < a.approvers_size(); ++i) {
      std::string p = fmt::format("approvals.approvers[{}]", i);
      if (trim(a.approvers(i)).empty()) error(p, "empty name");
      else if (!seen.insert(a.approvers(i)).second) error(p, "'{}' is listed twice", a.approvers(i));
    }
    if (a.approvers_size() > 0 && a.required() > static_cast<uint32_t>(a.approvers_size())) {
      error("approvals.required", "{} approvals required but only {} approvers may give them", a.required(), a.approvers_size());
    }
  }

  void schedule() {
    const auto& s = e_.schedule();
    if (trim(s.cron()).empty()) {
      error("schedule.cron", "required: when to run, as 5 cron fields (e.g. \"*/15 10-15 * * mon-fri\")");
    } else if (auto c = calendar::parse_cron(s.cron()); !c) {
      error("schedule.cron", "{}", c.error().message);
    }
    if (auto z = calendar::find_zone(s.time_zone()); !z) error("schedule.time_zone", "{}", z.error().message);
    for (int i = 0; i < s.windows_size(); ++i) {
      const auto& w = s.windows(i);
      std::string p = fmt::format("schedule.windows[{}]", i);
      for (int k = 0; k < w.days_size(); ++k) {
        if (auto d = calendar::parse_days(w.days(k)); !d) error(fmt::format("{}.days[{}]", p, k), "{}", d.error().message);
      }
      auto st = calendar::parse_clock(w.start());
      auto en = calendar::parse_clock(w.end());
      if (w.start().empty()) error(p + ".start", "required: HH:MM");
      else if (!st) error(p + ".start", "{}", st.error().message);
      if (w.end().empty()) error(p + ".end", "required: HH:MM");
      else if (!en) error(p + ".end", "{}", en.error().message);
      if (st && en && *st == *en) error(p, "start and end are the same time: the window is empty");
    }
    for (int i = 0; i < s.blackout_dates_size(); ++i) {
      if (auto r = calendar::parse_date_range(s.blackout_dates(i)); !r) {
        error(fmt::format("schedule.blackout_dates[{}]", i), "{}", r.error().message);
      }
    }
    if (s.has_starting_deadline()) positive(s.starting_deadline(), "schedule.starting_deadline");
  }

  const v1::Experiment& e_;
  const SourceMap& source_;
  const std::string& file_;
  std::map<std::string, std::string> probe_kinds_;
  std::vector<Diagnostic> diags_;
};

}  // namespace

std::string probe_kind(const v1::Probe& p) {
  switch (p.kind_case()) {
    case v1::Probe::kHttp: return "http";
    case v1::Probe::kTcp: return "tcp";
    case v1::Probe::kCommand: return "command";
    case v1::Probe::kPrometheus: return "prometheus";
    case v1::Probe::kData: return "data";
    default: return "";
  }
}

std::vector<std::string> judged_probes(const v1::Experiment& e,
                                       const google::protobuf::RepeatedPtrField<std::string>& named) {
  if (!named.empty()) return {named.begin(), named.end()};
  std::vector<std::string> out;
  for (const auto& p : e.probes()) {
    if (p.kind_case() != v1::Probe::kData) out.push_back(p.name());
  }
  return out;
}

std::vector<Diagnostic> check_experiment(const v1::Experiment& e, const SourceMap& source, const std::string& file) {
  return Checker(e, source, file).run();
}

}  // namespace firedrill::experiment
