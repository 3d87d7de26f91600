#include "common/fault_values.h"

#include <cmath>

#include <fmt/format.h>

namespace firedrill {
namespace {

constexpr uint64_t kTiB = uint64_t(1) << 40;
constexpr uint64_t kGiB = uint64_t(1) << 30;
constexpr uint32_t kMaxDelayUs = 10'000'000;

class Checker {
 public:
  explicit Checker(std::vector<FieldProblem>& out) : out_(out) {}

  template <typename... Args>
  void problem(const std::string& field, fmt::format_string<Args...> f, Args&&... args) {
    out_.push_back({field, fmt::format(f, std::forward<Args>(args)...)});
  }

  void percent(double v, const std::string& field, bool zero_ok) {
    if (std::isnan(v) || v < 0 || v > 100 || (!zero_ok && v == 0)) {
      problem(field, "must be {} 100 (got {})", zero_ok ? "between 0 and" : "above 0 and at most", v);
    }
  }

  void directory(const std::string& dir, const std::string& field) {
    if (dir.empty()) problem(field, "required: an absolute directory");
    else if (dir[0] != '/') problem(field, "must be an absolute path (got '{}')", dir);
    else if (dir.find("/../") != std::string::npos || dir.ends_with("/..")) problem(field, "must not hold '..'");
  }

  void network(const v1::NetworkFault& n, std::optional<std::chrono::nanoseconds> duration) {
    const std::string p = "network";
    switch (n.kind_case()) {
      case v1::NetworkFault::kCorrupt:
        percent(n.corrupt().percent(), p + ".corrupt.percent", false);
        break;
      case v1::NetworkFault::kDuplicate:
        percent(n.duplicate().percent(), p + ".duplicate.percent", false);
        break;
      case v1::NetworkFault::kDelay: {
        const auto& d = n.delay();
        if (d.delay_us() == 0) problem(p + ".delay.delay_us", "required: more than 0");
        else if (d.delay_us() > kMaxDelayUs) problem(p + ".delay.delay_us", "at most {} (10 s; got {})", kMaxDelayUs, d.delay_us());
        if (d.jitter_us() > kMaxDelayUs) problem(p + ".delay.jitter_us", "at most {} (10 s; got {})", kMaxDelayUs, d.jitter_us());
        auto longest = std::chrono::microseconds(uint64_t(d.delay_us()) + d.jitter_us());
        if (duration && longest >= *duration) {
          problem(p + ".delay.delay_us", "{} us (with jitter) is not shorter than the fault ({} ms)", longest.count(),
                  std::chrono::duration_cast<std::chrono::milliseconds>(*duration).count());
        }
        if (d.match().direction() != v1::DIRECTION_EGRESS) {
          problem(p + ".delay.match.direction", "must be DIRECTION_EGRESS (a departure time holds on egress only)");
        }
        break;
      }
      default:
        break;
    }
  }

  void latency(const v1::Latency& l, const std::string& field, std::optional<std::chrono::nanoseconds> duration) {
    if (l.fixed_us() > kMaxDelayUs) problem(field + ".fixed_us", "at most {} (10 s; got {})", kMaxDelayUs, l.fixed_us());
    if (l.jitter_us() > kMaxDelayUs) problem(field + ".jitter_us", "at most {} (10 s; got {})", kMaxDelayUs, l.jitter_us());
    if (l.fixed_us() == 0 && l.jitter_us() == 0) problem(field, "set but zero: give fixed_us or jitter_us");
    auto longest = std::chrono::microseconds(uint64_t(l.fixed_us()) + l.jitter_us());
    if (duration && longest >= *duration) {
      problem(field + ".fixed_us", "{} us (with jitter) is not shorter than the fault ({} ms)", longest.count(),
              std::chrono::duration_cast<std::chrono::milliseconds>(*duration).count());
    }
  }

  void bandwidth(const v1::Bandwidth& b, const std::string& field) {
    if (b.bytes_per_sec() == 0) problem(field + ".bytes_per_sec", "must be above 0 (a stall is stall.never_answer)");
    else if (b.bytes_per_sec() > 100 * kGiB) problem(field + ".bytes_per_sec", "at most 100 GiB/s (got {})", b.bytes_per_sec());
  }

  void connection(const v1::ConnectionFault& c, std::optional<std::chrono::nanoseconds> duration) {
    const std::string p = "connection";
    cgroups(c, p, "connections");
    const auto& m = c.match();
    if (m.protocol() != v1::L4_ANY && m.protocol() != v1::L4_TCP) {
      problem(p + ".match.protocol", "must be L4_ANY or L4_TCP (connections are TCP)");
    }
    if (!m.src_cidrs().empty()) problem(p + ".match.src_cidrs", "not used for connections: must be empty");
    if (!m.src_ports().empty()) problem(p + ".match.src_ports", "not used for connections: must be empty");
    if (m.direction() != v1::DIRECTION_UNSPECIFIED) problem(p + ".match.direction", "not used for connections: must be empty");
    if (c.has_to_server_latency()) latency(c.to_server_latency(), p + ".to_server_latency", duration);
    if (c.has_to_client_latency()) latency(c.to_client_latency(), p + ".to_client_latency", duration);
    if (c.has_to_server_bandwidth()) bandwidth(c.to_server_bandwidth(), p + ".to_server_bandwidth");
    if (c.has_to_client_bandwidth()) bandwidth(c.to_client_bandwidth(), p + ".to_client_bandwidth");
    if (c.has_reset()) {
      percent(c.reset().percent(), p + ".reset.percent", true);
      if (c.reset().after_bytes() > kTiB) problem(p + ".reset.after_bytes", "at most 1 TiB (got {})", c.reset().after_bytes());
    }
    if (c.has_stall()) {
      const auto& s = c.stall();
      if (!s.never_answer() && s.slow_close_us() == 0) problem(p + ".stall", "set but empty: give never_answer or slow_close_us");
      if (s.slow_close_us() > kMaxDelayUs) problem(p + ".stall.slow_close_us", "at most {} (10 s; got {})", kMaxDelayUs, s.slow_close_us());
      if (s.never_answer() && (c.has_to_server_latency() || c.has_to_client_latency() || c.has_to_server_bandwidth() ||
                               c.has_to_client_bandwidth() || c.has_reset() || s.slow_close_us() != 0)) {
        problem(p + ".stall.never_answer", "nothing ever passes: it takes no latency, bandwidth, reset or slow close beside it");
      }
    }
    if (!c.has_to_server_latency() && !c.has_to_client_latency() && !c.has_to_server_bandwidth() &&
        !c.has_to_client_bandwidth() && !c.has_reset() && !c.has_stall()) {
      problem(p, "choose what happens to the connections: a latency, a bandwidth, reset or stall");
    }
    if (c.max_connections() > 65536) problem(p + ".max_connections", "at most 65536 (got {})", c.max_connections());
  }

  // Whose traffic a steered fault takes: cgroups, workload-relative or not.
  template <typename Fault>
  void cgroups(const Fault& f, const std::string& p, const char* what) {
    if (f.cgroups().empty() && f.workload_cgroups().empty()) {
      problem(p, "required: the cgroups whose {} are steered (cgroups or workload_cgroups)", what);
    }
    for (int i = 0; i < f.cgroups_size(); ++i) {
      if (f.cgroups(i).empty()) problem(fmt::format("{}.cgroups[{}]", p, i), "empty (the root cgroup is never a target)");
    }
  }

  // A name as a rule gives it (no final dot needed): labels of 1 to 63 characters
  // without blanks, 253 characters in all. The DNS library parses the queries; this
  // only keeps a rule from naming what no query can carry.
  void dns_name(const std::string& name, const std::string& field) {
    std::string n = name.ends_with('.') ? name.substr(0, name.size() - 1) : name;
    if (n.empty()) return problem(field, "empty: give a name such as redis.lab");
    if (n.size() > 253) return problem(field, "longer than 253 characters ({})", n.size());
    size_t start = 0;
    for (;;) {
      size_t dot = n.find('.', start);
      size_t len = (dot == std::string::npos ? n.size() : dot) - start;
      if (len == 0) return problem(field, "'{}' has an empty label", name);
      if (len > 63) return problem(field, "'{}' has a label longer than 63 characters", name);
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    for (unsigned char ch : n) {
      if (ch <= ' ' || ch >= 0x7f) return problem(field, "'{}' holds a blank or a character outside ASCII", name);
    }
  }

  void dns(const v1::DnsFault& d, std::optional<std::chrono::nanoseconds> duration) {
    const std::string p = "dns";
    cgroups(d, p, "DNS queries");
    const auto& m = d.match();
    if (m.protocol() != v1::L4_ANY && m.protocol() != v1::L4_UDP) {
      problem(p + ".match.protocol", "must be L4_ANY or L4_UDP (queries over UDP are steered)");
    }
    if (!m.src_cidrs().empty()) problem(p + ".match.src_cidrs", "not used for DNS: must be empty");
    if (!m.src_ports().empty()) problem(p + ".match.src_ports", "not used for DNS: must be empty");
    if (m.direction() != v1::DIRECTION_UNSPECIFIED) problem(p + ".match.direction", "not used for DNS: must be empty");
    if (d.rules().empty()) problem(p + ".rules", "required: at least one rule (names or domains and an action)");
    for (int i = 0; i < d.rules_size(); ++i) {
      const auto& r = d.rules(i);
      std::string rp = fmt::format("{}.rules[{}]", p, i);
      if (r.names().empty() && r.domains().empty()) problem(rp, "give names or domains to match");
      for (int j = 0; j < r.names_size(); ++j) dns_name(r.names(j), fmt::format("{}.names[{}]", rp, j));
      for (int j = 0; j < r.domains_size(); ++j) dns_name(r.domains(j), fmt::format("{}.domains[{}]", rp, j));
      switch (r.action()) {
        case v1::DNS_NXDOMAIN:
        case v1::DNS_SERVFAIL:
        case v1::DNS_NO_ANSWER:
          if (r.delay_us() != 0) problem(rp + ".delay_us", "only for DNS_DELAY (action is {})", v1::DnsAction_Name(r.action()));
          break;
        case v1::DNS_DELAY: {
          if (r.delay_us() == 0) problem(rp + ".delay_us", "required for DNS_DELAY: more than 0");
          else if (r.delay_us() > kMaxDelayUs) problem(rp + ".delay_us", "at most {} (10 s; got {})", kMaxDelayUs, r.delay_us());
          auto delay = std::chrono::microseconds(r.delay_us());
          if (duration && delay >= *duration) {
            problem(rp + ".delay_us", "{} us is not shorter than the fault ({} ms)", delay.count(),
                    std::chrono::duration_cast<std::chrono::milliseconds>(*duration).count());
          }
          break;
        }
        case v1::DNS_ACTION_UNSPECIFIED:
          problem(rp + ".action", "required: DNS_NXDOMAIN, DNS_SERVFAIL, DNS_NO_ANSWER or DNS_DELAY");
          break;
        default:
          problem(rp + ".action", "unknown DNS action {} (DNS_NXDOMAIN, DNS_SERVFAIL, DNS_NO_ANSWER or DNS_DELAY)",
                  int(r.action()));
      }
    }
    if (d.max_queries() > 65536) problem(p + ".max_queries", "at most 65536 (got {})", d.max_queries());
  }

  void resource(const v1::ResourcePressure& r) {
    const std::string p = "resource";
    bool has_target = r.target_case() != v1::ResourcePressure::TARGET_NOT_SET;
    switch (r.kind_case()) {
      case v1::ResourcePressure::kCpu: {
        const auto& c = r.cpu();
        if (c.workers() > 1024) problem(p + ".cpu.workers", "at most 1024 (got {})", c.workers());
        percent(c.percent(), p + ".cpu.percent", true);
        break;
      }
      case v1::ResourcePressure::kMemory:
        if (r.memory().bytes() == 0) problem(p + ".memory.bytes", "required: more than 0");
        else if (r.memory().bytes() > kTiB) problem(p + ".memory.bytes", "at most 1 TiB (got {})", r.memory().bytes());
        break;
      case v1::ResourcePressure::kDiskFill: {
        const auto& d = r.disk_fill();
        directory(d.directory(), p + ".disk_fill.directory");
        if ((d.bytes() == 0) == (d.leave_free_bytes() == 0)) {
          problem(p + ".disk_fill", "give exactly one of bytes and leave_free_bytes (more than 0)");
        }
        break;
      }
      case v1::ResourcePressure::kIo: {
        const auto& io = r.io();
        directory(io.directory(), p + ".io.directory");
        if (io.workers() > 64) problem(p + ".io.workers", "at most 64 (got {})", io.workers());
        if (io.file_bytes() > 16 * kGiB) problem(p + ".io.file_bytes", "at most 16 GiB (got {})", io.file_bytes());
        break;
      }
      default:
        problem(p, "choose the kind of resource pressure: cpu, memory, disk_fill or io");
        return;
    }
    if (!has_target && r.kind_case() != v1::ResourcePressure::kDiskFill) {
      problem(p, "required: the target cgroup (cgroup or workload_cgroup)");
    }
    if (r.target_case() == v1::ResourcePressure::kCgroup && r.cgroup().empty()) {
      problem(p + ".cgroup", "empty (the root cgroup is never a target; use workload_cgroup: \"\" for the workload)");
    }
  }

 private:
  std::vector<FieldProblem>& out_;
};

}  // namespace

std::vector<FieldProblem> fault_value_problems(const v1::FaultSpec& spec,
                                               std::optional<std::chrono::nanoseconds> duration) {
  std::vector<FieldProblem> out;
  Checker c(out);
  if (spec.has_network()) c.network(spec.network(), duration);
  if (spec.has_resource()) c.resource(spec.resource());
  if (spec.has_connection()) c.connection(spec.connection(), duration);
  if (spec.has_dns()) c.dns(spec.dns(), duration);
  return out;
}

std::string first_fault_value_problem(const v1::FaultSpec& spec, std::optional<std::chrono::nanoseconds> duration) {
  auto problems = fault_value_problems(spec, duration);
  if (problems.empty()) return "";
  return problems.front().field + ": " + problems.front().message;
}

}  // namespace firedrill
