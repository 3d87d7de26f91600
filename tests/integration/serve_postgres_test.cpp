// `firedrill serve --store postgres://...` as a process, two of them on one private
// PostgreSQL: one leads and serves agents, the other waits; the leader SIGKILLed, the
// other takes over; the database gone for longer than the lease, the leader stops its
// agent streams and exits with status 3 (for its supervisor to start it as a follower).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "common/spawn.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

namespace firedrill {
namespace {

using namespace std::chrono_literals;

struct Serve {
  Serve(const std::string& dir, const std::string& name, const std::string& url) : log(dir + "/" + name + ".log") {
    std::filesystem::create_directories(dir + "/" + name);
    SpawnOptions o;
    o.argv = {FD_FIREDRILL_BIN, "serve", "--insecure", "--listen", "127.0.0.1:0", "--api", dir + "/" + name + ".sock",
              "--state-dir", dir + "/" + name, "--store", url, "--fleet", "lab", "--controller-id", name,
              "--lease-grace", "2s"};
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
  ASSERT_TRUE(within(30s, [&] { return b.says("waiting for the leader lease"); })) << support::read_file(b.log);
  std::this_thread::sleep_for(3s);  // past a lease length: the follower stays one
  EXPECT_FALSE(b.ready()) << "both controllers serve agents:\n" << support::read_file(b.log);
  EXPECT_TRUE(b.says("follower: the leader is a at 127.0.0.1:0 (epoch 1)")) << support::read_file(b.log);
  EXPECT_EQ(a.exited(), -1) << support::read_file(a.log);

  ::kill(-a.pid, SIGKILL);
  ASSERT_TRUE(within(30s, [&] { return b.ready(); })) << "no takeover:\n" << support::read_file(b.log);
  EXPECT_TRUE(b.says("leading as b with epoch 2")) << support::read_file(b.log);

  pg.stop();
  ASSERT_TRUE(within(30s, [&] { return b.exited() != -1; })) << support::read_file(b.log);
  EXPECT_EQ(b.code, 3) << support::read_file(b.log);
  EXPECT_TRUE(b.says("lost the leader lease: agent streams closed")) << support::read_file(b.log);
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
