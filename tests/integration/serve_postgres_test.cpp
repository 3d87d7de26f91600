// `firedrill serve --store postgres://...` as a process, two of them on one private
// PostgreSQL: one leads and serves agents, the other follows; the leader SIGKILLed, the
// other takes over; the database gone for longer than the lease, the leader stops its
// agent streams and exits with status 3 (for its supervisor to start it as a follower).
// With real agent processes given a list of controllers: a follower refuses them
// naming the leader, and they go there; its API answers reads and refuses changes.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <regex>
#include <set>
#include <sstream>

#include "common/join_token.h"
#include "common/spawn.h"
#include "tests/integration/proc_lab.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

namespace firedrill {
namespace {

using namespace std::chrono_literals;

struct Serve {
  // `tls`: the fleet's --tls-ca/--tls-cert/--tls-key, and the fleet id is the default
  // one taken from the CA; none: --insecure and --fleet lab.
  Serve(const std::string& dir, const std::string& name, const std::string& url, std::vector<std::string> tls = {},
        const std::string& grace = "2s")
      : dir(dir), name(name), log(dir + "/" + name + ".log") {
    std::filesystem::create_directories(dir + "/" + name);
    SpawnOptions o;
    o.argv = {FD_FIREDRILL_BIN, "serve", "--listen", "127.0.0.1:0", "--api", dir + "/" + name + ".sock",
              "--state-dir", dir + "/" + name, "--store", url, "--controller-id", name,
              "--lease-grace", grace};
    if (tls.empty()) tls = {"--insecure", "--fleet", "lab"};
    o.argv.insert(o.argv.end(), tls.begin(), tls.end());
    o.output_file = log;
    auto p = start(o);
    if (!p) throw std::runtime_error(p.error().describe());
    pid = *p;
  }
  ~Serve() {
    if (pid > 0) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  bool says(const std::string& what) const { return support::read_file(log).find(what) != std::string::npos; }
  bool ready() const { return says(" ready: agents on "); }
  bool following() const { return says("a follower until it holds the leader lease"); }
  // The agent port it bound (as a follower or a leader: the same), 0 before.
  int port() const {
    std::smatch m;
    std::string text = support::read_file(log);
    static const std::regex re(R"(listening for agents on \S+ \(port (\d+))");
    return std::regex_search(text, m, re) ? std::stoi(m[1]) : 0;
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port()); }
  std::string socket() const { return dir + "/" + name + ".sock"; }
  support::Exec cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {FD_FIREDRILL_BIN});
    args.insert(args.end(), {"--api", socket()});
    return support::exec(args, 60s);
  }
  std::string dir, name;
  // The exit status once it ended, or -1 while it runs.
  int exited() {
    int status = 0;
    if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return code;
  }
  std::string log;
  pid_t pid = -1;
  int code = -1;
};

template <typename F>
bool within(std::chrono::milliseconds limit, F done) {
  for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

TEST(ServePostgres, OneLeadsTheOtherTakesOverAndALeaderWithoutTheDatabaseExits) {
  support::Postgres pg;
  auto db = pg.fresh_database("serve");
  Serve a(pg.dir(), "a", pg.url(db));
  ASSERT_TRUE(within(30s, [&] { return a.ready(); })) << support::read_file(a.log);
  Serve b(pg.dir(), "b", pg.url(db));
  ASSERT_TRUE(within(30s, [&] { return b.following(); })) << support::read_file(b.log);
  std::this_thread::sleep_for(3s);  // past a lease length: the follower stays one
  EXPECT_FALSE(b.ready()) << "both controllers serve agents:\n" << support::read_file(b.log);
  EXPECT_TRUE(b.says("follower: the leader is a at " + a.address() + " (epoch 1)")) << support::read_file(b.log);
  EXPECT_EQ(a.exited(), -1) << support::read_file(a.log);

  ::kill(-a.pid, SIGKILL);
  ASSERT_TRUE(within(30s, [&] { return b.ready(); })) << "no takeover:\n" << support::read_file(b.log);
  EXPECT_TRUE(b.says("leading as b with epoch 2")) << support::read_file(b.log);

  pg.stop();
  ASSERT_TRUE(within(30s, [&] { return b.exited() != -1; })) << support::read_file(b.log);
  EXPECT_EQ(b.code, 3) << support::read_file(b.log);
  EXPECT_TRUE(b.says("lost the leader lease: agent streams closed")) << support::read_file(b.log);
}

// Both started at once: exactly one leads, the other follows (its refusals name the
// leader). An agent listing the follower first, then an address nobody answers, then
// the leader, goes from the follower straight to the leader (never to the dead address
// in between); one given only the follower, with --insecure, does not follow it to an
// address nothing vouches for. The leader SIGKILLed, the agent ends up with the other
// controller.
TEST(ServePostgres, AnAgentSentByTheFollowerReachesTheLeaderAndTheNewOneAfterATakeover) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root (the agent's eBPF and cgroups)";
  support::Postgres pg;
  auto db = pg.fresh_database("redirect");
  // A leader lease of 12 s: after the leader's SIGKILL the follower refuses the agent
  // for seconds before it leads (the agent's waits meanwhile are checked below: with
  // the backoff that grew to 5 s per pass they reached 1.7 s and 2.7 s in that time).
  const std::vector<std::string> slow_takeover = {"--insecure", "--fleet", "lab", "--leader-lease", "12s"};
  auto a = std::make_unique<Serve>(pg.dir(), "a", pg.url(db), slow_takeover, "13s");
  Serve b(pg.dir(), "b", pg.url(db), slow_takeover, "13s");
  ASSERT_TRUE(within(30s, [&] { return (a->ready() && b.following()) || (b.ready() && a->following()); }))
      << support::read_file(a->log) << support::read_file(b.log);
  std::this_thread::sleep_for(12500ms);  // past a lease length: still one leader
  ASSERT_NE(a->ready(), b.ready()) << "not exactly one leader:\n" << support::read_file(a->log) << support::read_file(b.log);
  Serve& leader = a->ready() ? *a : b;
  Serve& follower = a->ready() ? b : *a;
  ASSERT_TRUE(within(10s, [&] { return follower.says("follower: the leader is " + leader.name + " at " + leader.address()); }))
      << support::read_file(follower.log);

  fdp::Agent agent({.args = {"--tag", "host=ha1", "--insecure", "--lease-grace", "2s", "--controller",
                             follower.address() + ",127.0.0.1:1," + leader.address()}});
  ASSERT_TRUE(agent.wait_log("the controller at " + leader.address() + " accepted the stream", 30s)) << agent.log();
  auto log = agent.log();
  EXPECT_NE(log.find("the controller at " + follower.address() + " refused the stream: not the leader; the leader is " +
                     leader.name +
                     " at " + leader.address()),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("the controller at " + follower.address() + " is a follower: going to the leader at " +
                     leader.address()),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("cannot reach the controller at 127.0.0.1:1"), std::string::npos)
      << "went on down the list instead of to the leader:\n" << log;
  // With --insecure nothing vouches for a leader outside the list: not followed.
  {
    fdp::Agent alone({.args = {"--insecure", "--lease-grace", "2s", "--controller", follower.address()}});
    ASSERT_TRUE(alone.wait_log("nothing vouches for: not followed", 30s)) << alone.log();
    EXPECT_EQ(alone.log().find("accepted the stream"), std::string::npos) << alone.log();
  }
  auto agents = leader.cli({"agents"});
  EXPECT_EQ(agents.code, 0) << agents.out;
  EXPECT_NE(agents.out.find(fdp::unique("agent")), std::string::npos) << agents.out;

  // The leader SIGKILLed: the follower takes over and the agent reaches it (through the
  // list: the dead leader first, then the dead address, then the new leader).
  std::string new_leader = follower.address();
  size_t log_at_kill = agent.log().size();
  ::kill(-leader.pid, SIGKILL);
  ASSERT_TRUE(within(60s, [&] { return follower.ready(); })) << support::read_file(follower.log);
  EXPECT_EQ(follower.port(), std::stoi(new_leader.substr(new_leader.rfind(':') + 1)))
      << "the new leader took another agent port";
  ASSERT_TRUE(agent.wait_log("the controller at " + new_leader + " accepted the stream", 60s)) << agent.log();
  ASSERT_TRUE(within(30s, [&] { return follower.cli({"agents"}).out.find(fdp::unique("agent")) != std::string::npos; }))
      << follower.cli({"agents"}).out;
  // While the follower answered (naming the dead leader, until it led), the agent asked
  // again within a second (jittered by 20%), not after a backoff grown towards 5 s: it
  // arrives within about a second of the takeover.
  std::istringstream after_kill(agent.log().substr(log_at_kill));
  bool refused = false;
  for (std::string line; std::getline(after_kill, line);) {
    if (line.find("refused the stream") != std::string::npos) refused = true;
    std::smatch m;
    if (!refused || !std::regex_search(line, m, std::regex(R"(connecting to \S+ in ([0-9.]+)(ms|s)$)"))) continue;
    double ms = std::stod(m[1]) * (m[2] == "s" ? 1000 : 1);
    EXPECT_LE(ms, 1200) << line;
  }
  EXPECT_TRUE(refused) << "the follower never refused the agent after the kill (the check above saw nothing):\n"
                       << agent.log().substr(log_at_kill);
}

// Over mutual TLS an agent follows a follower's redirect to a leader it was not given:
// the fleet's CA vouches for it in the handshake.
TEST(ServePostgres, OverTlsTheFleetsCaVouchesForALeaderTheAgentWasNotGiven) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root (the agent's eBPF and cgroups)";
  support::Postgres pg;
  std::string certs = pg.dir() + "/certs";
  for (std::vector<std::string> args : {std::vector<std::string>{"init"}, {"controller", "--san", "127.0.0.1"},
                                        {"agent", "--id", fdp::unique("agent")}}) {
    args.insert(args.begin(), {FD_FIREDRILL_BIN, "certs"});
    args.insert(args.end(), {"--dir", certs});
    auto made = support::exec(args);
    ASSERT_EQ(made.code, 0) << made.out;
  }
  // Both controllers hold a certificate of the fleet's CA (here one, for 127.0.0.1).
  std::vector<std::string> tls = {"--tls-ca", certs + "/ca.pem", "--tls-cert", certs + "/controller.pem", "--tls-key",
                                  certs + "/controller.key"};
  auto db = pg.fresh_database("tls");
  Serve a(pg.dir(), "a", pg.url(db), tls);
  ASSERT_TRUE(within(30s, [&] { return a.ready(); })) << support::read_file(a.log);
  // Without --fleet, the fleet is the CA's hash as join tokens carry it (DER).
  auto ca_hash = certificate_sha256(support::read_file(certs + "/ca.pem"));
  ASSERT_TRUE(ca_hash) << ca_hash.error().describe();
  EXPECT_TRUE(a.says("of fleet ca-sha256:" + *ca_hash + ":")) << support::read_file(a.log);
  Serve b(pg.dir(), "b", pg.url(db), tls);
  ASSERT_TRUE(within(30s, [&] { return b.says("follower: the leader is a at " + a.address()); }))
      << support::read_file(b.log);
  fdp::Agent agent({.args = {"--lease-grace", "2s", "--controller", b.address(), "--tls-ca", certs + "/ca.pem",
                             "--tls-cert", certs + "/agent-" + fdp::unique("agent") + ".pem", "--tls-key",
                             certs + "/agent-" + fdp::unique("agent") + ".key"}});
  ASSERT_TRUE(agent.wait_log("the controller at " + a.address() + " accepted the stream", 30s)) << agent.log();
  EXPECT_NE(agent.log().find("the controller at " + b.address() + " is a follower: going to the leader at " +
                             a.address()),
            std::string::npos)
      << agent.log();
}

// A follower's API: `runs` lists the leader's runs (from the database); `inject` and
// `abort` are refused naming the leader, and so is `schedule add` (the leader's
// schedules are listed); `halt` is recorded in the database and the
// leader acts on it: the injected freeze is reverted and the fleet is halted.
TEST(ServePostgres, AFollowerAnswersReadsAndRefusesChangesNamingTheLeader) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root (the agent's eBPF and cgroups)";
  support::Postgres pg;
  auto db = pg.fresh_database("api");
  Serve a(pg.dir(), "a", pg.url(db));
  ASSERT_TRUE(within(30s, [&] { return a.ready(); })) << support::read_file(a.log);
  Serve b(pg.dir(), "b", pg.url(db));
  ASSERT_TRUE(within(30s, [&] { return b.following(); })) << support::read_file(b.log);
  ASSERT_TRUE(within(10s, [&] { return b.says("follower: the leader is a at " + a.address()); }))
      << support::read_file(b.log);
  fdp::TestCgroup cg("ha-api");
  std::string box = cg.child("box");
  auto sleeper = fdp::Child::spawn({"/bin/sleep", "600"}, box);
  fdp::Agent agent({.args = {"--tag", "host=ha2", "--insecure", "--lease-grace", "2s", "--controller",
                             a.address()}});
  ASSERT_TRUE(agent.wait_log("the controller at " + a.address() + " accepted the stream", 30s)) << agent.log();
  std::string spec = "process { freeze { cgroups: \"" + cg.rel() + "/box\" } }";
  auto inject = a.cli({"inject", "-l", "host=ha2", "--spec", spec, "--for", "60s", "--detach"});
  ASSERT_EQ(inject.code, 0) << inject.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(inject.out, m, std::regex(R"(r-[0-9A-Za-z-]+)"))) << inject.out;
  std::string run_id = m[0];

  auto runs = b.cli({"runs"});
  EXPECT_EQ(runs.code, 0) << runs.out;
  EXPECT_NE(runs.out.find(run_id), std::string::npos) << "the follower does not list the leader's run:\n" << runs.out;
  // The run's report, rendered at the follower from the database: its events signed
  // by the leader's key, its seal by the follower's own; it verifies with both pinned,
  // and not with the leader's alone (the follower claims no key it does not hold).
  for (Serve* c : {&a, &b}) {
    auto exported = c->cli({"keys", "export", "-o", pg.dir() + "/" + c->name + "-key.pem"});
    ASSERT_EQ(exported.code, 0) << exported.out;
  }
  std::string keys = pg.dir() + "/keys.pem";
  std::ofstream(keys) << support::read_file(pg.dir() + "/a-key.pem") << support::read_file(pg.dir() + "/b-key.pem");
  auto verified = b.cli({"report", "verify", "--run", run_id, "--keys", keys});
  EXPECT_EQ(verified.code, 0) << verified.out;
  EXPECT_NE(verified.out.find("ok: chain: "), std::string::npos) << verified.out;
  auto leader_only = b.cli({"report", "verify", "--run", run_id, "--key", pg.dir() + "/a-key.pem"});
  EXPECT_NE(leader_only.out.find("the report seal is signed by another key"), std::string::npos) << leader_only.out;
  auto refused = b.cli({"inject", "-l", "host=ha2", "--spec", spec, "--for", "60s", "--detach"});
  EXPECT_NE(refused.code, 0) << refused.out;
  EXPECT_NE(refused.out.find("not the leader; the leader is a at " + a.address()), std::string::npos) << refused.out;
  auto abort = b.cli({"abort", run_id});
  EXPECT_NE(abort.code, 0) << abort.out;
  EXPECT_NE(abort.out.find("not the leader; the leader is a at " + a.address()), std::string::npos) << abort.out;
  // Nothing of the refused calls reached the leader: one run only.
  auto all = a.cli({"runs"});
  const std::regex run_ids(R"(\br-[0-9A-Za-z-]+)");
  std::set<std::string> ids;
  for (auto it = std::sregex_iterator(all.out.begin(), all.out.end(), run_ids); it != std::sregex_iterator(); ++it) {
    ids.insert(it->str());
  }
  EXPECT_EQ(ids, std::set<std::string>{run_id}) << all.out;

  // Schedules: the leader's, read from the database; adding one is the leader's (whose
  // scheduler alone runs them: a follower's run manager is never started).
  auto added = a.cli({"schedule", "add", std::string(FD_EXPERIMENTS) + "/continuous.yaml"});
  ASSERT_EQ(added.code, 0) << added.out;
  auto listed = b.cli({"schedule", "list"});
  EXPECT_EQ(listed.code, 0) << listed.out;
  EXPECT_NE(listed.out.find("continuous"), std::string::npos) << listed.out;
  auto add_here = b.cli({"schedule", "add", std::string(FD_EXPERIMENTS) + "/continuous.yaml"});
  EXPECT_NE(add_here.code, 0) << add_here.out;
  EXPECT_NE(add_here.out.find("not the leader; the leader is a at " + a.address()), std::string::npos) << add_here.out;

  auto frozen = [&] { return support::read_file(box + "/cgroup.events").find("frozen 1") != std::string::npos; };
  ASSERT_TRUE(frozen()) << "the injected freeze is not in effect";
  auto halt = b.cli({"halt", "--reason", "smoke in row 3"});
  EXPECT_EQ(halt.code, 0) << halt.out;
  EXPECT_NE(halt.out.find("halt recorded at this follower; the leader a at " + a.address() + " HALTED the fleet"),
            std::string::npos)
      << halt.out;
  EXPECT_TRUE(fdp::eventually([&] { return !frozen(); }, 15s)) << "the leader did not revert the freeze";
  auto status = a.cli({"agents"});  // its first line says whether the fleet is halted
  EXPECT_NE(status.out.find("FLEET HALTED since"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("smoke in row 3 (asked at controller b)"), std::string::npos) << status.out;
  EXPECT_TRUE(a.says("halt asked at controller b by ")) << support::read_file(a.log);
  // Lifting it is the leader's.
  auto release = b.cli({"release"});
  EXPECT_NE(release.code, 0) << release.out;
  EXPECT_NE(release.out.find("not the leader; the leader is a at " + a.address()), std::string::npos) << release.out;
}

// A halt given while no controller leads (the leader SIGKILLed, its lease run out, the
// other held off the lease row by a transaction of the test) is recorded, and says so;
// the next leader halts the fleet as it starts.
TEST(ServePostgres, AHaltWhileNoControllerLeadsIsRecordedAndTheNextLeaderHaltsTheFleet) {
  support::Postgres pg;
  auto db = pg.fresh_database("noleader");
  Serve a(pg.dir(), "a", pg.url(db));
  ASSERT_TRUE(within(30s, [&] { return a.ready(); })) << support::read_file(a.log);
  Serve b(pg.dir(), "b", pg.url(db));
  ASSERT_TRUE(within(30s, [&] { return b.says("follower: the leader is a at " + a.address()); }))
      << support::read_file(b.log);
  ::kill(-a.pid, SIGKILL);
  support::Postgres::Session hold(pg.url(db));
  hold.sql("BEGIN; SELECT 1 FROM leader_lease FOR UPDATE");
  ASSERT_TRUE(within(30s, [&] { return b.says("follower: the lease is free"); })) << support::read_file(b.log);
  auto halt = b.cli({"halt", "--reason", "site fire"});
  EXPECT_EQ(halt.code, 1) << halt.out;
  EXPECT_NE(halt.out.find("halt recorded; no controller leads now: agents revert on their grace"), std::string::npos)
      << halt.out;
  EXPECT_FALSE(b.ready()) << support::read_file(b.log);
  hold.close();
  ASSERT_TRUE(within(30s, [&] { return b.ready(); })) << support::read_file(b.log);
  ASSERT_TRUE(within(10s, [&] {
    return b.cli({"agents"}).out.find("site fire (asked at controller b)") != std::string::npos;
  })) << b.cli({"agents"}).out << support::read_file(b.log);
  EXPECT_NE(b.cli({"agents"}).out.find("FLEET HALTED since"), std::string::npos);
}

TEST(ServePostgres, AStoreThatIsNotPostgresOrUnreachableIsAClearErrorAtStart) {
  auto bad = support::exec({FD_FIREDRILL_BIN, "serve", "--insecure", "--store", "mysql://x/y", "--fleet", "f"});
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("--store: expected postgres://"), std::string::npos) << bad.out;
  auto no_fleet = support::exec({FD_FIREDRILL_BIN, "serve", "--insecure", "--store", "postgres://127.0.0.1:1/x"});
  EXPECT_NE(no_fleet.out.find("needs --fleet ID"), std::string::npos) << no_fleet.out;
  char dir[] = "/tmp/fdsp-XXXXXX";
  ASSERT_TRUE(::mkdtemp(dir));
  auto unreachable = support::exec({FD_FIREDRILL_BIN, "serve", "--insecure", "--listen", "127.0.0.1:0", "--api",
                                    std::string(dir) + "/api.sock", "--state-dir", dir, "--store",
                                    "postgres://u:secret@127.0.0.1:1/x", "--fleet", "f"},
                                   60s);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(unreachable.code, 1) << unreachable.out;
  EXPECT_NE(unreachable.out.find("cannot connect to postgres://u:***@127.0.0.1:1/x"), std::string::npos)
      << unreachable.out;
  EXPECT_EQ(unreachable.out.find("secret"), std::string::npos) << unreachable.out;
}

}  // namespace
}  // namespace firedrill

namespace firedrill {
namespace {

std::string run_id_in(const std::string& out) {
  std::smatch m;
  return std::regex_search(out, m, std::regex(R"(\b(r-[0-9A-Za-z-]+))")) ? m[1].str() : "";
}

// The leader SIGKILLed in the middle of a run: the other controller takes over within
// the agents' lease grace (the leader lease is half of it), re-adopts the freeze the
// agent still holds (the cgroup stays frozen through the handover), restarts the
// probe and takes the run to its verdict. The run's record and report tell the
// handover and the probe gap; the evidence is signed in two parts, one per controller,
// and verifies with both keys pinned (`keys export --all`), not with either alone.
TEST(ServePostgres, ALeaderKilledMidRunTheRunGoesOnAtTheOtherAndItsReportVerifiesWithBothKeys) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root (the agent's eBPF and cgroups)";
  support::Postgres pg;
  auto db = pg.fresh_database("takeover");
  auto a = std::make_unique<Serve>(pg.dir(), "a", pg.url(db), std::vector<std::string>{}, "6s");
  ASSERT_TRUE(within(30s, [&] { return a->ready(); })) << support::read_file(a->log);
  Serve b(pg.dir(), "b", pg.url(db), {}, "6s");
  ASSERT_TRUE(within(30s, [&] { return b.says("follower: the leader is a at " + a->address()); }))
      << support::read_file(b.log);
  fdp::TestCgroup cg("ha-takeover");
  std::string box = cg.child("box");
  auto sleeper = fdp::Child::spawn({"/bin/sleep", "600"}, box);
  std::string host = fdp::unique("h");
  fdp::Agent agent({.args = {"--tag", "host=" + host, "--insecure", "--controller", a->address() + "," + b.address()}});
  ASSERT_TRUE(agent.wait_log("the controller at " + a->address() + " accepted the stream", 30s)) << agent.log();
  std::string file = pg.dir() + "/takeover.yaml";
  std::ofstream(file) << "name: takeover\n"
                         "targets: {selector: \"host=" << host << "\"}\n"
                         "steady_state: {hold: 1s}\n"
                         "recovery: {hold: 1s}\n"
                         "probes: [{name: alive, command: {argv: [/bin/true]}, interval: 200ms}]\n"
                         "steps: [{fault: {process: {freeze: {cgroups: [\"" << cg.rel() << "/box\"]}}}, duration: 15s}]\n";
  auto started = a->cli({"run", file, "--detach"});
  ASSERT_EQ(started.code, 0) << started.out;
  std::string run = run_id_in(started.out);
  ASSERT_FALSE(run.empty()) << started.out;
  auto frozen = [&] { return support::read_file(box + "/cgroup.events").find("frozen 1") != std::string::npos; };
  ASSERT_TRUE(fdp::eventually(frozen, 20s)) << a->cli({"show", run}).out;

  ::kill(-a->pid, SIGKILL);
  ASSERT_TRUE(within(30s, [&] { return b.ready(); })) << support::read_file(b.log);
  EXPECT_TRUE(b.says("took over from a")) << support::read_file(b.log);
  ASSERT_TRUE(agent.wait_log("the controller at " + b.address() + " accepted the stream", 30s)) << agent.log();
  // Re-adopted, not reverted: still frozen once the agent is back with the new leader.
  ASSERT_TRUE(within(20s, [&] { return b.cli({"show", run}).out.find("re-adopted") != std::string::npos; }))
      << b.cli({"show", run}).out << support::read_file(b.log);
  EXPECT_TRUE(frozen()) << "the freeze was reverted at the takeover:\n" << agent.log();
  EXPECT_FALSE(agent.log().find("DEAD-MAN SWITCH") != std::string::npos) << agent.log();

  // To its verdict at b: not aborted; then the freeze is lifted.
  ASSERT_TRUE(within(60s, [&] {
    auto out = b.cli({"runs", run}).out;
    return out.find("passed") != std::string::npos || out.find("failed") != std::string::npos ||
           out.find("aborted") != std::string::npos;
  })) << b.cli({"show", run}).out;
  auto shown = b.cli({"show", run});
  EXPECT_EQ(shown.out.find("aborted"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("controller a lost at"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("probe gap"), std::string::npos) << shown.out;
  EXPECT_TRUE(fdp::eventually([&] { return !frozen(); }, 10s)) << "the freeze outlived its run";

  // The report: the handover on its timeline, two signers, verified with both keys.
  std::string keys = pg.dir() + "/keys.pem";
  auto exported = b.cli({"keys", "export", "--all", "-o", keys});
  ASSERT_EQ(exported.code, 0) << exported.out;
  EXPECT_NE(exported.out.find("2 key(s)"), std::string::npos) << exported.out;
  std::string report = pg.dir() + "/" + run + ".json";
  auto rendered = b.cli({"report", run, "--format", "json", "-o", report});
  ASSERT_EQ(rendered.code, 0) << rendered.out;
  std::string doc = support::read_file(report);
  EXPECT_NE(doc.find("\"handover\""), std::string::npos) << "no handover on the timeline";
  EXPECT_NE(doc.find("\"signed_by\""), std::string::npos) << "the report does not list both signers";
  EXPECT_NE(doc.find("\"part_seals\""), std::string::npos);
  auto verified = support::exec({FD_FIREDRILL_BIN, "report", "verify", report, "--keys", keys}, 60s);
  EXPECT_EQ(verified.code, 0) << verified.out;
  EXPECT_NE(verified.out.find("VERIFIED"), std::string::npos) << verified.out;
  EXPECT_NE(verified.out.find(", then "), std::string::npos) << verified.out;
  // Pinning the new leader's key alone fails: the first part is the lost leader's.
  std::string b_key = pg.dir() + "/b-key.pem";
  ASSERT_EQ(b.cli({"keys", "export", "-o", b_key}).code, 0);
  auto one = support::exec({FD_FIREDRILL_BIN, "report", "verify", report, "--key", b_key}, 60s);
  EXPECT_EQ(one.code, 1) << one.out;
  EXPECT_NE(one.out.find("part seal 1 is signed by another key"), std::string::npos) << one.out;
}


// The database down for longer than the agents' grace: the leader stops leading and
// exits 3, the agent reverts the freeze on its own at its grace; once the database is
// back, the controller started again leads, finds the run still in flight (its last
// write was refused with the database) and ends it aborted, saying the takeover came
// later than the grace; its report verifies.
TEST(ServePostgres, TheDatabaseDownLongerThanTheGraceRevertsEveryFaultAndTheRunIsRecordedAbortedOnceItIsBack) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root (the agent's eBPF and cgroups)";
  support::Postgres pg;
  auto db = pg.fresh_database("dbdown");
  auto a = std::make_unique<Serve>(pg.dir(), "a", pg.url(db));
  ASSERT_TRUE(within(30s, [&] { return a->ready(); })) << support::read_file(a->log);
  fdp::TestCgroup cg("ha-dbdown");
  std::string box = cg.child("box");
  auto sleeper = fdp::Child::spawn({"/bin/sleep", "600"}, box);
  std::string host = fdp::unique("h");
  fdp::Agent agent({.args = {"--tag", "host=" + host, "--insecure", "--controller", a->address()}});
  ASSERT_TRUE(agent.wait_log("the controller at " + a->address() + " accepted the stream", 30s)) << agent.log();
  std::string spec = "process { freeze { cgroups: \"" + cg.rel() + "/box\" } }";
  auto inject = a->cli({"inject", "-l", "host=" + host, "--spec", spec, "--for", "120s", "--detach"});
  ASSERT_EQ(inject.code, 0) << inject.out;
  std::string run = run_id_in(inject.out);
  ASSERT_FALSE(run.empty()) << inject.out;
  auto frozen = [&] { return support::read_file(box + "/cgroup.events").find("frozen 1") != std::string::npos; };
  ASSERT_TRUE(fdp::eventually(frozen, 20s));

  pg.stop();
  ASSERT_TRUE(within(30s, [&] { return a->exited() != -1; })) << support::read_file(a->log);
  EXPECT_EQ(a->code, 3) << support::read_file(a->log);
  EXPECT_TRUE(fdp::eventually([&] { return !frozen(); }, 15s)) << "the agent kept the freeze past its grace";
  EXPECT_TRUE(agent.wait_log("DEAD-MAN SWITCH", 1s)) << agent.log();

  // Back, with a controller started for it (another host's: its own key).
  pg.start();
  Serve c(pg.dir(), "c", pg.url(db));
  ASSERT_TRUE(within(60s, [&] { return c.ready(); })) << support::read_file(c.log);
  EXPECT_TRUE(c.says("took over from a")) << support::read_file(c.log);
  // Aborted once its revert is done: the agent comes back to c (it may still be
  // reverting when c is ready).
  support::Exec runs;
  EXPECT_TRUE(fdp::eventually([&] {
    runs = c.cli({"runs", run});
    return runs.out.find("aborted") != std::string::npos;
  }, 20s)) << runs.out;
  auto shown = c.cli({"show", run});
  EXPECT_NE(shown.out.find("later than the agents' lease grace"), std::string::npos) << shown.out;
  std::string report = pg.dir() + "/" + run + ".json";
  ASSERT_EQ(c.cli({"report", run, "--format", "json", "-o", report}).code, 0);
  std::string keys = pg.dir() + "/keys.pem";
  ASSERT_EQ(c.cli({"keys", "export", "--all", "-o", keys}).code, 0);
  auto verified = support::exec({FD_FIREDRILL_BIN, "report", "verify", report, "--keys", keys}, 60s);
  EXPECT_EQ(verified.code, 0) << verified.out;
  EXPECT_FALSE(frozen());
}

}  // namespace
}  // namespace firedrill
