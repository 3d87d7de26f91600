#include "agent/bpf/features.h"

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/utsname.h>
#include <zlib.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/bpf/skeleton.h"
#include "agent/bpf/sock_diag.h"

namespace firedrill::agent::bpf {
namespace {

namespace fs = std::filesystem;

UniqueFd load_trivial(bpf_prog_type type, bpf_attach_type expected = static_cast<bpf_attach_type>(0),
                      int32_t ret = 0) {
  struct bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, ret},  // r0 = ret
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = expected);
  return UniqueFd(bpf_prog_load(type, "fd_probe", "GPL", insns, 2, &opts));
}

// Attach probes run in a network namespace of their own, on its loopback: nothing of
// the host is ever attached to, and the namespace dies with the probing thread.
std::pair<bool, std::string> probe_link(bpf_prog_type type, int attach_type,
                                        bpf_attach_type expected = static_cast<bpf_attach_type>(0)) {
  std::pair<bool, std::string> out{false, ""};
  std::thread([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      out = {false, fmt::format("unshare(CLONE_NEWNET) for the probe: {}", std::strerror(errno))};
      return;
    }
    UniqueFd prog = load_trivial(type, expected);
    if (!prog) {
      out = {false, fmt::format("cannot load a probe program ({})", std::strerror(errno))};
      return;
    }
    int fd = bpf_link_create(prog.get(), 1 /* lo of the probe's namespace */,
                             static_cast<bpf_attach_type>(attach_type), nullptr);
    if (fd >= 0) {
      ::close(fd);
      out = {true, ""};
    } else {
      out = {false, fmt::format("link_create with attach type {} failed: {}", attach_type, std::strerror(errno))};
    }
  }).join();
  return out;
}

// A cgroup link needs a cgroup fd: EBADF for -1 means the kernel knows the attach path.
std::pair<bool, std::string> probe_cgroup_link() {
  UniqueFd prog = load_trivial(BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_INGRESS);
  if (!prog) return {false, fmt::format("cannot load a probe program ({})", std::strerror(errno))};
  int fd = bpf_link_create(prog.get(), -1, BPF_CGROUP_INET_INGRESS, nullptr);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0) ::close(fd);
  if (err == EBADF || err == 0) return {true, ""};
  return {false, fmt::format("link_create for cgroup programs failed: {}", std::strerror(err))};
}

// The hooks that steer a cgroup's connections (connection faults): each program type
// with the attach type it is loaded for, as the kernel's verifier takes them.
std::pair<bool, std::string> probe_sock_hooks() {
  struct Hook {
    bpf_prog_type type;
    bpf_attach_type attach;
    const char* name;
  };
  const Hook hooks[] = {
      {BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, "cgroup/connect4"},
      {BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_CONNECT, "cgroup/connect6"},
      {BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_GETPEERNAME, "cgroup/getpeername4"},
      {BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_GETPEERNAME, "cgroup/getpeername6"},
      {BPF_PROG_TYPE_SOCK_OPS, BPF_CGROUP_SOCK_OPS, "sockops"},
  };
  for (const auto& h : hooks) {
    if (!load_trivial(h.type, h.attach, 1)) {
      return {false, fmt::format("{} programs do not load ({})", h.name, std::strerror(errno))};
    }
  }
  return {true, "connect4/6, getpeername4/6, sockops"};
}

// What DNS faults need beside the connect hooks: datagrams of unconnected sockets
// steered (sendmsg), answers shown from the resolver (recvmsg), and UDP socket
// diagnostics, by which the proxy finds the socket a datagram came from.
std::pair<bool, std::string> probe_dns_hooks() {
  const std::pair<bpf_attach_type, const char*> hooks[] = {
      {BPF_CGROUP_UDP4_SENDMSG, "cgroup/sendmsg4"},
      {BPF_CGROUP_UDP6_SENDMSG, "cgroup/sendmsg6"},
      {BPF_CGROUP_UDP4_RECVMSG, "cgroup/recvmsg4"},
      {BPF_CGROUP_UDP6_RECVMSG, "cgroup/recvmsg6"},
  };
  for (const auto& [attach, name] : hooks) {
    if (!load_trivial(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, attach, 1)) {
      return {false, fmt::format("{} programs do not load ({})", name, std::strerror(errno))};
    }
  }
  // A UDP socket of our own, found by the kernel's socket diagnostics.
  UniqueFd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_storage self{}, from{};
  auto& in = reinterpret_cast<sockaddr_in&>(self);
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof in;
  from = self;
  reinterpret_cast<sockaddr_in&>(from).sin_port = htons(9);
  uint64_t cookie = 0;
  socklen_t clen = sizeof cookie;
  bool found = udp && ::bind(udp.get(), reinterpret_cast<sockaddr*>(&self), len) == 0 &&
               ::getsockname(udp.get(), reinterpret_cast<sockaddr*>(&self), &len) == 0 &&
               ::getsockopt(udp.get(), SOL_SOCKET, SO_COOKIE, &cookie, &clen) == 0 &&
               udp_socket_cookie(from, self) == cookie;
  if (!found) return {false, "UDP socket diagnostics (inet_diag, udp_diag) do not answer"};
  return {true, "sendmsg4/6, recvmsg4/6, UDP socket diagnostics"};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Whether the kernel has the fq qdisc (earliest departure time): loaded as a module, or
// built in or available as one according to the kernel's own configuration.
std::pair<bool, std::string> probe_sch_fq() {
  if (fs::exists("/sys/module/sch_fq")) return {true, "sch_fq loaded"};
  gzFile z = ::gzopen("/proc/config.gz", "rb");
  if (!z) return {false, "sch_fq not available: not loaded, and no /proc/config.gz to tell whether it can be"};
  std::string config;
  char buf[65536];
  int n;
  while ((n = ::gzread(z, buf, sizeof buf)) > 0) config.append(buf, static_cast<size_t>(n));
  ::gzclose(z);
  if (config.find("\nCONFIG_NET_SCH_FQ=y") != std::string::npos) return {true, "sch_fq built in"};
  if (config.find("\nCONFIG_NET_SCH_FQ=m") != std::string::npos) return {true, "sch_fq as a module"};
  return {false, "sch_fq not available: CONFIG_NET_SCH_FQ is not set"};
}

Features probe() {
  Features f;
  utsname u{};
  if (uname(&u) == 0) f.kernel_release = u.release;
  auto add = [&f](const char* name, bool available, std::string detail) {
    v1::Feature feat;
    feat.set_name(name);
    feat.set_available(available);
    feat.set_detail(std::move(detail));
    f.details.push_back(std::move(feat));
    return available;
  };

  auto [tcx, tcx_why] = probe_link(BPF_PROG_TYPE_SCHED_CLS, kAttachTcxIngress);
  f.tcx = add("tcx", tcx, tcx_why);
  auto [xdp, xdp_why] = probe_link(BPF_PROG_TYPE_XDP, BPF_XDP, BPF_XDP);
  f.xdp_link = add("xdp_link", xdp, xdp_why);
  auto [cg, cg_why] = probe_cgroup_link();
  f.cgroup_link = add("cgroup_link", cg, cg_why);

  bool tp_type = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT, nullptr) == 1;
  bool tracefs = fs::exists("/sys/kernel/tracing/events") || fs::exists("/sys/kernel/debug/tracing/events");
  // tracefs can be mounted by the process engine when it is not; the program type is
  // what the kernel must have.
  f.tracepoint = add("tracepoint", tp_type,
                     tp_type ? (tracefs ? "" : "tracefs not mounted yet (mounted on first use)")
                             : "BPF_PROG_TYPE_TRACEPOINT does not load");
  f.send_signal = add("send_signal",
                      libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_send_signal, nullptr) == 1,
                      "bpf_send_signal helper");
  f.ringbuf = add("ringbuf", libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1,
                  "BPF_MAP_TYPE_RINGBUF");

  std::string lsms = read_file("/sys/kernel/security/lsm");
  bool lsm = lsms.find("bpf") != std::string::npos;
  std::string lockdown = read_file("/sys/kernel/security/lockdown");
  std::string lsm_why;
  if (!lsm) lsm_why = lsms.empty() ? "securityfs not readable" : "\"bpf\" not in active LSMs (" + lsms.substr(0, lsms.find('\n')) + ")";
  if (lockdown.find("[confidentiality]") != std::string::npos) {
    lsm = false;
    lsm_why = "kernel lockdown is in confidentiality mode";
  }
  f.bpf_lsm = add("bpf_lsm", lsm, lsm_why);

  auto [sock, sock_why] = probe_sock_hooks();
  f.sock_hooks = add("sock_hooks", sock && cg, cg ? sock_why : "no cgroup links: " + cg_why);
  auto [dns, dns_why] = probe_dns_hooks();
  f.dns_hooks = add("dns_hooks", dns && f.sock_hooks, f.sock_hooks ? dns_why : "no sock_hooks");

  auto [fq, fq_why] = probe_sch_fq();
  f.sch_fq = add("sch_fq", fq, fq_why);

  auto mount = find_cgroup2_mount();
  f.cgroup_v2 = add("cgroup_v2", mount.ok(), mount.ok() ? *mount : mount.error().describe());
  if (mount) {
    f.cgroup2_mount = *mount;
    // cgroup.kill and cgroup.freeze exist only below the root: look in a child
    // cgroup made for the probe and removed right after.
    std::string dir = fmt::format("{}/firedrill-probe-{}", f.cgroup2_mount, ::getpid());
    std::error_code ec;
    bool made = fs::create_directory(dir, ec);
    f.cgroup_kill = add("cgroup_kill", made && fs::exists(dir + "/cgroup.kill"),
                        made ? "cgroup.kill (5.14+)" : "cannot create a probe cgroup: " + ec.message());
    f.cgroup_freeze = add("cgroup_freeze", made && fs::exists(dir + "/cgroup.freeze"),
                          made ? "cgroup.freeze (5.2+)" : "cannot create a probe cgroup: " + ec.message());
    if (made) ::rmdir(dir.c_str());
  } else {
    add("cgroup_kill", false, "no cgroup v2 mount");
    add("cgroup_freeze", false, "no cgroup v2 mount");
  }
  return f;
}

}  // namespace

Error Features::missing(const std::string& name) const {
  for (auto& d : details) {
    if (d.name() == name) {
      return make_error("missing kernel feature '{}' on {}{}", name, kernel_release,
                        d.detail().empty() ? "" : " (" + d.detail() + ")");
    }
  }
  return make_error("missing kernel feature '{}' on {}", name, kernel_release);
}

void Features::to_proto(v1::Capabilities* caps) const {
  caps->set_kernel_release(kernel_release);
  for (auto& d : details) *caps->add_features() = d;
}

const Features& features() {
  static const Features f = [] {
    route_libbpf_logs();
    return probe();
  }();
  return f;
}

Result<std::string> find_cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return sys_error(errno, "read /proc/self/mountinfo");
  std::string line;
  std::string best;
  while (std::getline(in, line)) {
    // "36 25 0:31 / /sys/fs/cgroup/unified rw,... - cgroup2 cgroup2 rw"
    auto sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    std::istringstream tail(line.substr(sep + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, sep));
    std::string id, parent, devno, root, mountpoint;
    head >> id >> parent >> devno >> root >> mountpoint;
    if (root != "/") continue;  // a bind mount of a subtree
    if (best.empty() || mountpoint.size() < best.size()) best = mountpoint;
  }
  if (best.empty()) return make_error("no cgroup2 file system is mounted (see /proc/self/mountinfo)");
  return best;
}

}  // namespace firedrill::agent::bpf
