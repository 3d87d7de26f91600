#include "agent/sockfault/steering.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "agent/bpf/sock_diag.h"
#include "agent/net/rules.h"
#include "sock_fault.skel.h"

namespace firedrill::agent::sockfault {

struct Steering::SkelOps {
  static sock_fault* open() { return sock_fault__open(); }
  static int load(sock_fault* s) { return sock_fault__load(s); }
  static void destroy(sock_fault* s) { sock_fault__destroy(s); }
};

Result<std::vector<sf_rule>> compile_rules(const v1::TrafficMatch& match, const std::string& field,
                                           uint16_t default_port) {
  FD_ASSIGN(ports, net::port_spans(match.dst_ports(), field + ".match.dst_ports"), "{}", field);
  if (ports.empty() && default_port != 0) {
    ports.push_back({});
    ports.back().first = ports.back().last = default_port;
  }
  FD_ASSIGN(prefixes, net::cidrs(match.dst_cidrs(), field + ".match.dst_cidrs"), "{}", field);
  if (prefixes.empty()) prefixes = {net::Cidr::any(4), net::Cidr::any(6)};
  if (prefixes.size() > SF_MAX_RULES) {
    return make_error("{}.match.dst_cidrs: {} prefixes (at most {})", field, prefixes.size(), SF_MAX_RULES);
  }
  std::vector<sf_rule> out;
  for (const auto& c : prefixes) {
    sf_rule r{};
    r.family = c.family;
    r.prefixlen = c.len;
    std::memcpy(r.addr, c.addr.data(), sizeof r.addr);
    r.nports = static_cast<uint8_t>(ports.size());
    for (size_t i = 0; i < ports.size(); ++i) {
      r.port_first[i] = ports[i].first;
      r.port_last[i] = ports[i].last;
    }
    out.push_back(r);
  }
  return out;
}

sf_addr to_sf_addr(const sockaddr_storage& sa) {
  sf_addr a{};
  if (sa.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(sa);
    a.family = 4;
    a.port = in.sin_port;
    std::memcpy(a.addr, &in.sin_addr, 4);
  } else if (sa.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(sa);
    a.family = 6;
    a.port = in6.sin6_port;
    std::memcpy(a.addr, &in6.sin6_addr, 16);
  }
  return a;
}

sockaddr_storage to_sockaddr(const sf_addr& a, socklen_t* len) {
  sockaddr_storage sa{};
  if (a.family == 4) {
    auto& in = reinterpret_cast<sockaddr_in&>(sa);
    in.sin_family = AF_INET;
    in.sin_port = a.port;
    std::memcpy(&in.sin_addr, a.addr, 4);
    *len = sizeof in;
  } else {
    auto& in6 = reinterpret_cast<sockaddr_in6&>(sa);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = a.port;
    std::memcpy(&in6.sin6_addr, a.addr, 16);
    *len = sizeof in6;
  }
  return sa;
}

std::string describe(const sf_addr& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(a.family == 4 ? AF_INET : AF_INET6, a.addr, buf, sizeof buf);
  return a.family == 4 ? fmt::format("{}:{}", buf, ntohs(a.port)) : fmt::format("[{}]:{}", buf, ntohs(a.port));
}

Result<std::shared_ptr<SteeringMaps>> SteeringMaps::create() {
  bpf::route_libbpf_logs();
  auto m = std::make_shared<SteeringMaps>();
  m->steered_ = bpf::UniqueFd(
      bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "sf_steered", sizeof(uint64_t), sizeof(sf_steer), SF_MAX_STEERED, nullptr));
  if (!m->steered_) return sys_error(errno, "create BPF map sf_steered");
  m->pending_ = bpf::UniqueFd(
      bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "sf_pending", sizeof(sf_addr), sizeof(sf_addr), SF_MAX_PENDING, nullptr));
  if (!m->pending_) return sys_error(errno, "create BPF map sf_pending");
  return m;
}

std::optional<sf_addr> SteeringMaps::take(const sf_addr& peer) const {
  sf_addr orig{};
  if (bpf_map_lookup_and_delete_elem(pending_.get(), &peer, &orig) != 0) {
    // LRU hashes take lookup-and-delete from 5.14; before, two calls.
    if (errno != EINVAL && errno != 524 /* ENOTSUPP */ && errno != EOPNOTSUPP) return std::nullopt;
    if (bpf_map_lookup_elem(pending_.get(), &peer, &orig) != 0) return std::nullopt;
    bpf_map_delete_elem(pending_.get(), &peer);
  }
  return orig;
}

std::optional<sf_addr> SteeringMaps::original_of_datagram(const sockaddr_storage& client,
                                                          const sockaddr_storage& proxy) const {
  auto cookie = bpf::udp_socket_cookie(proxy, client);
  sf_steer st{};
  if (!cookie || bpf_map_lookup_elem(steered_.get(), &*cookie, &st) != 0) return std::nullopt;
  return st.orig;
}

Result<std::unique_ptr<Steering>> Steering::attach(std::shared_ptr<SteeringMaps> maps, const SteeringPlan& plan,
                                                   const std::vector<std::string>& cgroup_dirs) {
  if (plan.rules.size() > SF_MAX_RULES) return make_error("{} rules (at most {})", plan.rules.size(), SF_MAX_RULES);
  std::unique_ptr<Steering> s(new Steering());
  s->maps_ = std::move(maps);
  FD_ASSIGN(skel, (bpf::BpfSkeleton<sock_fault, SkelOps>::open("sock_fault")), "connection hooks");
  s->skel_ = std::make_unique<bpf::BpfSkeleton<sock_fault, SkelOps>>(std::move(skel));
  auto* k = s->skel_->get();
  k->rodata->sf_nrules = static_cast<uint32_t>(plan.rules.size());
  for (size_t i = 0; i < plan.rules.size(); ++i) {
    std::memcpy(const_cast<sf_rule*>(&k->rodata->sf_rules[i]), &plan.rules[i], sizeof(sf_rule));
  }
  k->rodata->sf_proxy_port4 = plan.proxy_port4;
  k->rodata->sf_proxy_port6 = plan.proxy_port6;
  k->rodata->sf_proxy_tgid = plan.proxy_tgid;
  k->rodata->sf_sock_type = static_cast<uint32_t>(plan.sock_type);
  if (bpf_map__reuse_fd(k->maps.sf_steered, s->maps_->steered_fd()) != 0) return sys_error(errno, "reuse map sf_steered");
  if (bpf_map__reuse_fd(k->maps.sf_pending, s->maps_->pending_fd()) != 0) return sys_error(errno, "reuse map sf_pending");
  // Connections need sock_ops to tell the proxy where each was going; datagrams need
  // sendmsg (unconnected sockets) and recvmsg (answers from the original address).
  // Only those are loaded, so a kernel without the datagram hooks still steers TCP.
  const bool dgram = plan.sock_type == SOCK_DGRAM;
  std::vector<bpf_program*> progs = {k->progs.sf_connect4, k->progs.sf_connect6, k->progs.sf_getpeername4,
                                     k->progs.sf_getpeername6};
  const std::vector<bpf_program*> dgram_only = {k->progs.sf_sendmsg4, k->progs.sf_sendmsg6, k->progs.sf_recvmsg4,
                                                k->progs.sf_recvmsg6};
  const std::vector<bpf_program*> stream_only = {k->progs.sf_sockops};
  for (auto* p : dgram ? dgram_only : stream_only) progs.push_back(p);
  for (auto* p : dgram ? stream_only : dgram_only) bpf_program__set_autoload(p, false);
  FD_TRY(s->skel_->load("sock_fault"), "{} hooks", dgram ? "DNS" : "connection");
  for (const auto& dir : cgroup_dirs) {
    bpf::UniqueFd cg(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cg) return sys_error(errno, "open cgroup {}", dir);
    for (auto* p : progs) {
      bpf_link* link = bpf_program__attach_cgroup(p, cg.get());
      if (!link) return sys_error(errno, "attach {} to cgroup {} (bpf_link)", bpf_program__name(p), dir);
      s->links_.push_back(link);
    }
  }
  return s;
}

Steering::~Steering() {
  for (auto* l : links_) bpf_link__destroy(l);
  links_.clear();
  skel_.reset();
}

}  // namespace firedrill::agent::sockfault
