// Corruption and duplication end to end: a real firedrill-agent in a "host" namespace,
// 10,000 UDP datagrams to a peer namespace over a veth, each carrying its sequence
// number twice (once inverted) and a pattern, so that the receiver tells intact,
// corrupted and repeated datagrams apart. The host's veth computes checksums in
// software (tx checksum offload off), so a checksum left wrong is seen wrong.
//
//   host (agent) --fdn<pid>a-- peer      10.203.1.0/24
#include <gtest/gtest.h>

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "tests/integration/net_lab.h"

namespace firedrill::testing {
namespace {

constexpr const char* kHost = "10.203.1.1";
constexpr const char* kPeer = "10.203.1.2";
constexpr uint16_t kPort = 9100;
constexpr size_t kCount = 10000;
constexpr size_t kPayload = 64;

void fill(uint8_t* p, uint64_t seq) {
  uint64_t inv = ~seq;
  std::memcpy(p, &seq, 8);
  std::memcpy(p + 8, &inv, 8);
  for (size_t i = 16; i < kPayload; ++i) p[i] = static_cast<uint8_t>(seq * 31 + i);
}

bool intact(const uint8_t* p, size_t n, uint64_t* seq) {
  if (n != kPayload) return false;
  uint64_t s, inv;
  std::memcpy(&s, p, 8);
  std::memcpy(&inv, p + 8, 8);
  if (s != ~inv) return false;
  for (size_t i = 16; i < kPayload; ++i) {
    if (p[i] != static_cast<uint8_t>(s * 31 + i)) return false;
  }
  *seq = s;
  return true;
}

int socket_in(const Netns& ns, int type) {
  int fd = -1;
  in_netns(ns, [&] { fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0); });
  if (fd < 0) throw std::runtime_error("socket in " + ns.name());
  return fd;
}

sockaddr_in addr_of(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

// Turns transmit checksum offload off, so that the stack writes full checksums before
// the classifier sees the packet (as with `ethtool -K IF tx off`).
void tx_checksum_off(const Netns& ns, const std::string& ifname) {
  Fd fd(socket_in(ns, SOCK_DGRAM));
  ethtool_value v{ETHTOOL_STXCSUM, 0};
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&v);
  if (::ioctl(fd.get(), SIOCETHTOOL, &ifr) != 0) {
    throw std::runtime_error("ETHTOOL_STXCSUM off on " + ifname + ": " + std::strerror(errno));
  }
}

// Receives in the peer namespace on its own thread; counts intact datagrams per
// sequence number and corrupted ones.
class PatternSink {
 public:
  PatternSink(const Netns& ns, const char* ip, uint16_t port) : fd_(socket_in(ns, SOCK_DGRAM)) {
    int buf = 8 << 20;
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
    auto a = addr_of(ip, port);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
    timeval tv{0, 100000};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    thread_ = std::thread([this] {
      uint8_t buf[2048];
      while (!stop_) {
        ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
        if (n < 0) continue;
        uint64_t seq;
        std::lock_guard l(mu_);
        if (intact(buf, static_cast<size_t>(n), &seq)) ++seen_[seq];
        else ++corrupt_;
      }
    });
  }
  ~PatternSink() {
    stop_ = true;
    thread_.join();
  }
  struct Tally {
    size_t intact = 0, corrupt = 0, distinct = 0, repeated = 0, max_copies = 0;
  };
  Tally tally() const {
    std::lock_guard l(mu_);
    Tally t;
    t.corrupt = corrupt_;
    for (auto& [seq, n] : seen_) {
      t.intact += n;
      ++t.distinct;
      t.repeated += n - 1;
      t.max_copies = std::max(t.max_copies, n);
    }
    return t;
  }

 private:
  Fd fd_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::map<uint64_t, size_t> seen_;
  size_t corrupt_ = 0;
  std::thread thread_;
};

class NetAlterLab : public ::testing::Test {
 protected:
  NetAlterLab() : pid_(std::to_string(::getpid())), managed_("fdn" + pid_ + "a"), host_("ahost"), peer_("apeer") {
    veth(host_, managed_, {"10.203.1.1/24"}, peer_, "fdn" + pid_ + "b", {"10.203.1.2/24"});
    tx_checksum_off(host_, managed_);
    sink_ = std::make_unique<PatternSink>(peer_, kPeer, kPort);
    agent_ = std::make_unique<AgentProcess>(host_, std::vector<std::string>{"--interface", managed_});
  }
  void TearDown() override {
    if (HasFailure() && agent_) std::cerr << "---- agent log ----\n" << agent_->log() << "\n";
  }

  // kCount datagrams host -> peer, paced so that nothing but the fault alters them.
  PatternSink::Tally send_all() {
    Fd fd(socket_in(host_, SOCK_DGRAM));
    auto to = addr_of(kPeer, kPort);
    uint8_t p[kPayload];
    auto next = std::chrono::steady_clock::now();
    for (uint64_t seq = 0; seq < kCount; ++seq) {
      fill(p, seq);
      (void)::sendto(fd.get(), p, sizeof p, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      next += 20us;
      std::this_thread::sleep_until(next);
    }
    std::this_thread::sleep_for(400ms);
    return sink_->tally();
  }

  void expect_applied(const Exec& r) {
    ASSERT_EQ(r.code, 0) << r.out;
    ASSERT_EQ(r.out.find("ACK_REFUSED"), std::string::npos) << r.out;
  }

  std::string pid_, managed_;
  Netns host_, peer_;
  std::unique_ptr<PatternSink> sink_;
  std::unique_ptr<AgentProcess> agent_;
};

double pct(size_t part, size_t whole) { return 100.0 * double(part) / double(whole); }

TEST_F(NetAlterLab, CorruptionWithFixedChecksumsReachesTheApplication) {
  expect_applied(agent_->apply("c30", "network { corrupt { percent: 30 fix_checksums: true match { protocol: L4_UDP "
                                      "dst_ports { first: 9100 } direction: DIRECTION_EGRESS } } }", "120s"));
  auto t = send_all();
  std::cout << "corrupt 30% (checksums fixed): " << t.corrupt << " corrupted, " << t.intact << " intact of " << kCount
            << "\n";
  EXPECT_GE(t.corrupt + t.intact, kCount * 99 / 100) << "nothing is dropped when the checksum is fixed";
  EXPECT_NEAR(pct(t.corrupt, kCount), 30.0, 5.0);
}

TEST_F(NetAlterLab, CorruptionWithWrongChecksumsIsDroppedByTheReceiver) {
  expect_applied(agent_->apply("c30", "network { corrupt { percent: 30 match { protocol: L4_UDP "
                                      "dst_ports { first: 9100 } direction: DIRECTION_EGRESS } } }", "120s"));
  auto t = send_all();
  std::cout << "corrupt 30% (checksums wrong): " << t.corrupt << " corrupted, " << t.intact << " intact of " << kCount
            << "\n";
  EXPECT_EQ(t.corrupt, 0u) << "a bad checksum never reaches the application";
  EXPECT_NEAR(pct(kCount - t.intact, kCount), 30.0, 5.0);
}

TEST_F(NetAlterLab, DuplicationSendsCopiesButNeverCopiesOfCopies) {
  expect_applied(agent_->apply("d20", "network { duplicate { percent: 20 match { protocol: L4_UDP "
                                      "dst_ports { first: 9100 } direction: DIRECTION_EGRESS } } }", "120s"));
  auto t = send_all();
  std::cout << "duplicate 20%: " << t.repeated << " copies, " << t.distinct << " distinct of " << kCount << "\n";
  EXPECT_GE(t.distinct, kCount * 99 / 100);
  EXPECT_EQ(t.corrupt, 0u);
  EXPECT_NEAR(pct(t.repeated, kCount), 20.0, 5.0);
  EXPECT_LE(t.max_copies, 2u) << "a copy was copied again";
  // Reverted: no more copies.
  ASSERT_EQ(agent_->revert("d20").code, 0);
  auto before = sink_->tally();
  auto after = send_all();
  EXPECT_LE(after.intact - before.intact, kCount) << "copies after the revert";
  EXPECT_GE(after.intact - before.intact, kCount * 99 / 100);
}

TEST_F(NetAlterLab, DelayIsRefusedWithoutSchFq) {
  auto r = agent_->apply("late", "network { delay { delay_us: 10000 match { direction: DIRECTION_EGRESS } } }");
  EXPECT_NE(r.out.find("ACK_REFUSED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sch_fq not available"), std::string::npos) << r.out;
}

TEST_F(NetAlterLab, AgentSigkillRemovesTheAlteringRules) {
  expect_applied(agent_->apply("d100", "network { duplicate { percent: 100 match { protocol: L4_UDP } } }", "120s"));
  EXPECT_GT(attached_programs(host_, managed_), 0);
  agent_->kill9();
  EXPECT_EQ(attached_programs(host_, managed_), 0) << "the kernel detached the classifier with its links";
  auto t = send_all();
  EXPECT_EQ(t.repeated, 0u);
  EXPECT_GE(t.distinct, kCount * 99 / 100);
}

}  // namespace
}  // namespace firedrill::testing
