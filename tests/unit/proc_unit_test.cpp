// Pure logic of the process and power-loss side: the journal's file format and replay,
// cgroup path naming, selector refusals, and the power-loss composition (order and
// undo) over recording engines. The real engines have their privileged suite in
// tests/integration/proc_*.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <google/protobuf/text_format.h>

#include "agent/journal/journal.h"
#include "agent/power/power_engine.h"
#include "agent/proc/cgroup.h"
#include "agent/proc/proc_engine.h"
#include "agent/proc/selector.h"

namespace firedrill::agent {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/fdp-unit-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string path;
};

journal::Entry thaw(const std::string& id, const std::string& cg) {
  return {id, journal::kThawCgroup, cg, "frozen " + cg, {}};
}

// ---------------------------------------------------------------- journal

TEST(Journal, OwedEntriesSurviveReopenAndEndedOnesDoNot) {
  TempDir dir;
  {
    auto j = journal::Journal::open(dir.path);
    ASSERT_TRUE(j) << j.error().describe();
    ASSERT_TRUE((*j)->begin(thaw("f1", "/cg/a")));
    ASSERT_TRUE((*j)->begin(thaw("f2", "/cg/b")));
    ASSERT_TRUE((*j)->begin(thaw("f1", "/cg/a")));  // already owed: no-op
    ASSERT_TRUE((*j)->end(thaw("f2", "/cg/b")));
    EXPECT_EQ((*j)->owed().size(), 1u);
  }
  auto j = journal::Journal::open(dir.path);
  ASSERT_TRUE(j);
  auto owed = (*j)->owed();
  ASSERT_EQ(owed.size(), 1u);
  EXPECT_EQ(owed[0].fault_id, "f1");
  EXPECT_EQ(owed[0].kind, journal::kThawCgroup);
  EXPECT_EQ(owed[0].target, "/cg/a");
  EXPECT_EQ(owed[0].detail, "frozen /cg/a");
}

TEST(Journal, FileIsEmptiedWhenNothingIsOwed) {
  TempDir dir;
  auto j = journal::Journal::open(dir.path);
  ASSERT_TRUE(j);
  ASSERT_TRUE((*j)->begin(thaw("f1", "/x")));
  EXPECT_GT(fs::file_size(dir.path + "/journal"), 0u);
  ASSERT_TRUE((*j)->end(thaw("f1", "/x")));
  EXPECT_EQ(fs::file_size(dir.path + "/journal"), 0u);
  EXPECT_EQ((*j)->records_on_disk(), 0u);
  EXPECT_TRUE((*j)->end(thaw("never", "/y")));  // not owed: no-op
}

TEST(Journal, TornTailIsDroppedAndEarlierRecordsKept) {
  TempDir dir;
  {
    auto j = journal::Journal::open(dir.path);
    ASSERT_TRUE(j);
    ASSERT_TRUE((*j)->begin(thaw("f1", "/a")));
    ASSERT_TRUE((*j)->begin(thaw("f2", "/b")));
  }
  // The agent died in the middle of writing a third record.
  auto size = fs::file_size(dir.path + "/journal");
  {
    std::ofstream out(dir.path + "/journal", std::ios::app | std::ios::binary);
    const char partial[] = {40, 0, 0, 0, 1, 2, 3, 4, 8, 1};
    out.write(partial, sizeof partial);
  }
  auto j = journal::Journal::open(dir.path);
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)->owed().size(), 2u);
  EXPECT_EQ((*j)->dropped_at_open(), 1u);
  EXPECT_EQ(fs::file_size(dir.path + "/journal"), size);
}

void flip_byte(const std::string& path, off_t at) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char c;
  ASSERT_EQ(::pread(fd, &c, 1, at), 1);
  c ^= 0x5a;
  ASSERT_EQ(::pwrite(fd, &c, 1, at), 1);
  ::close(fd);
}

// Two owed entries; returns the offset where the second record starts.
off_t two_owed(const std::string& dir) {
  auto j = journal::Journal::open(dir);
  EXPECT_TRUE(j);
  EXPECT_TRUE((*j)->begin(thaw("f1", "/a")));
  auto first = static_cast<off_t>(fs::file_size(dir + "/journal"));
  EXPECT_TRUE((*j)->begin(thaw("f2", "/b")));
  return first;
}

// A byte flipped in the first of two records (its payload, or its length): skipped by
// the framing, and both entries are still owed: the second record says so.
TEST(Journal, CorruptRecordInTheMiddleIsSkippedAndLaterRecordsHonoured) {
  for (off_t at : {off_t{12}, off_t{1}, off_t{5}}) {
    TempDir dir;
    two_owed(dir.path);
    flip_byte(dir.path + "/journal", at);
    auto j = journal::Journal::open(dir.path);
    ASSERT_TRUE(j) << "byte " << at << ": " << j.error().describe();
    auto owed = (*j)->owed();
    ASSERT_EQ(owed.size(), 2u) << "byte " << at;
    EXPECT_EQ(owed[0].target, "/a");
    EXPECT_EQ(owed[1].target, "/b");
    EXPECT_EQ((*j)->dropped_at_open(), 1u);
    // Rewritten whole: the damage is not met again.
    (*j).reset();
    auto again = journal::Journal::open(dir.path);
    ASSERT_TRUE(again);
    EXPECT_EQ((*again)->owed().size(), 2u);
    EXPECT_EQ((*again)->dropped_at_open(), 0u);
  }
}

// A corrupt last record was written whole (and maybe acted on); nothing after it says
// what was owed: the journal refuses to open, naming the offset.
TEST(Journal, CorruptLastRecordIsARefusalNamingItsOffset) {
  TempDir dir;
  off_t second = two_owed(dir.path);
  auto size = static_cast<off_t>(fs::file_size(dir.path + "/journal"));
  flip_byte(dir.path + "/journal", size - 3);
  auto j = journal::Journal::open(dir.path);
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message.find(fmt::format("record at offset {} ({} byte(s)) is corrupt", second, size - second)),
            std::string::npos)
      << j.error().message;
  EXPECT_EQ(static_cast<off_t>(fs::file_size(dir.path + "/journal")), size);  // nothing is lost
}

// An append that fails (here: the file size limit) is cut back to the last whole
// record, and the journal goes on.
TEST(Journal, FailedAppendIsCutBack) {
  TempDir dir;
  auto j = journal::Journal::open(dir.path);
  ASSERT_TRUE(j);
  ASSERT_TRUE((*j)->begin(thaw("f1", "/a")));
  auto size = fs::file_size(dir.path + "/journal");
  ::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit small = old;
  small.rlim_cur = size + 10;  // room for a part of the next record only
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto r = (*j)->begin(thaw("f2", "/b"));
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(fs::file_size(dir.path + "/journal"), size);
  EXPECT_FALSE((*j)->owes(thaw("f2", "/b")));
  ASSERT_TRUE((*j)->begin(thaw("f3", "/c")));
  (*j).reset();
  auto again = journal::Journal::open(dir.path);
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ((*again)->dropped_at_open(), 0u);
  auto owed = (*again)->owed();
  ASSERT_EQ(owed.size(), 2u);
  EXPECT_EQ(owed[0].fault_id, "f1");
  EXPECT_EQ(owed[1].fault_id, "f3");
}

// A journal written by 0.1.0 (records without the owed state, replayed by their op) is
// read, and appended to in the new format.
TEST(Journal, ReadsAJournalWrittenBy010) {
  TempDir dir;
  {
    std::string bytes;
    auto put = [&](uint64_t seq, v1::JournalOp op, const char* id, const char* target) {
      v1::JournalRecord r;  // the fields 0.1.0 wrote, nothing more
      r.set_seq(seq);
      r.set_op(op);
      r.set_fault_id(id);
      r.set_kind(journal::kThawCgroup);
      r.set_target(target);
      r.mutable_at()->set_seconds(1780000000);
      r.set_detail(std::string("frozen cgroup ") + target);
      std::string payload = r.SerializeAsString();
      uint32_t len = static_cast<uint32_t>(payload.size()), crc = journal::crc32(payload.data(), payload.size());
      for (uint32_t v : {len, crc}) {
        for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
      }
      bytes += payload;
    };
    put(1, v1::JOURNAL_BEGIN, "old1", "/a");
    put(2, v1::JOURNAL_BEGIN, "old2", "/b");
    put(3, v1::JOURNAL_END, "old1", "/a");
    std::ofstream(dir.path + "/journal", std::ios::binary) << bytes;
  }
  {
    auto j = journal::Journal::open(dir.path);
    ASSERT_TRUE(j) << j.error().describe();
    auto owed = (*j)->owed();
    ASSERT_EQ(owed.size(), 1u);
    EXPECT_EQ(owed[0].fault_id, "old2");
    ASSERT_TRUE((*j)->begin(thaw("new", "/c")));
  }
  auto j = journal::Journal::open(dir.path);
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)->owed().size(), 2u);
}

TEST(Journal, LongLivedJournalIsCompactedToWhatIsOwed) {
  TempDir dir;
  auto j = journal::Journal::open(dir.path);
  ASSERT_TRUE(j);
  ASSERT_TRUE((*j)->begin(thaw("held", "/held")));
  for (int i = 0; i < 150; ++i) {
    ASSERT_TRUE((*j)->begin(thaw("f" + std::to_string(i), "/x")));
    ASSERT_TRUE((*j)->end(thaw("f" + std::to_string(i), "/x")));
  }
  EXPECT_LT((*j)->records_on_disk(), 100u);  // 301 written, compacted past 256
  j->reset();
  auto again = journal::Journal::open(dir.path);
  ASSERT_TRUE(again);
  auto owed = (*again)->owed();
  ASSERT_EQ(owed.size(), 1u);
  EXPECT_EQ(owed[0].fault_id, "held");
}

TEST(Journal, SecondOpenOfTheSameStateDirIsRefused) {
  TempDir dir;
  auto a = journal::Journal::open(dir.path);
  ASSERT_TRUE(a);
  auto b = journal::Journal::open(dir.path);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("in use by another firedrill-agent"), std::string::npos) << b.error().message;
  // shared() hands the same instance to every user in one process.
  a->reset();
  auto s1 = journal::Journal::shared(dir.path);
  auto s2 = journal::Journal::shared(dir.path);
  ASSERT_TRUE(s1 && s2);
  EXPECT_EQ(s1->get(), s2->get());
}

TEST(Journal, ReplayEndsWhatItFinishesAndKeepsTheRest) {
  TempDir dir;
  auto j = journal::Journal::open(dir.path);
  ASSERT_TRUE(j);
  ASSERT_TRUE((*j)->begin(thaw("f1", "/a")));
  ASSERT_TRUE((*j)->begin({"f2", journal::kBootHooks, "", "", {}}));
  ASSERT_TRUE((*j)->begin({"f3", "unknown_kind", "", "", {}}));
  std::vector<std::string> ran;
  std::map<std::string, journal::ReplayHandler> handlers;
  handlers[journal::kThawCgroup] = [&](const journal::Entry& e) -> Result<void> {
    ran.push_back(e.target);
    return ok();
  };
  handlers[journal::kBootHooks] = [&](const journal::Entry&) -> Result<void> { return make_error("boom"); };
  auto report = journal::replay(**j, handlers);
  ASSERT_EQ(report.finished.size(), 1u);
  EXPECT_EQ(report.finished[0].fault_id, "f1");
  EXPECT_EQ(ran, std::vector<std::string>{"/a"});
  ASSERT_EQ(report.failed.size(), 2u);
  EXPECT_EQ((*j)->owed().size(), 2u);
}

TEST(Journal, Crc32MatchesTheIeeeCheckValue) {
  EXPECT_EQ(journal::crc32("123456789", 9), 0xCBF43926u);
}

// ---------------------------------------------------------------- cgroup names

struct FakeCgroupRoot : TempDir {
  FakeCgroupRoot() {
    for (auto d : {"", "/a", "/a/b"}) {
      fs::create_directories(path + d);
      std::ofstream(path + d + "/cgroup.procs");
    }
    fs::create_directories(path + "/not-a-cgroup");
  }
};

TEST(Cgroup, RelativeRootedAndMountPrefixedNamesAreTheSame) {
  FakeCgroupRoot root;
  for (std::string spec : std::vector<std::string>{"a/b", "/a/b", "a/b/", "a//b", root.path + "/a/b"}) {
    auto r = proc::resolve_cgroup(root.path, spec);
    ASSERT_TRUE(r) << spec << ": " << r.error().describe();
    EXPECT_EQ(r->rel, "/a/b") << spec;
    EXPECT_EQ(r->path, root.path + "/a/b") << spec;
    EXPECT_NE(r->id, 0u);
  }
  auto top = proc::resolve_cgroup(root.path, "/");
  ASSERT_TRUE(top);
  EXPECT_EQ(top->rel, "/");
  EXPECT_EQ(top->path, root.path);
}

TEST(Cgroup, BadNamesAreRefusedSayingWhich) {
  FakeCgroupRoot root;
  auto missing = proc::resolve_cgroup(root.path, "a/nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("'a/nope' does not exist"), std::string::npos) << missing.error().message;
  auto dotdot = proc::resolve_cgroup(root.path, "a/../../etc");
  ASSERT_FALSE(dotdot);
  EXPECT_NE(dotdot.error().message.find("'..' is not allowed"), std::string::npos);
  EXPECT_FALSE(proc::resolve_cgroup(root.path, ""));
  auto plain = proc::resolve_cgroup(root.path, "not-a-cgroup");
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().message.find("not a cgroup v2 directory"), std::string::npos);
}

TEST(Cgroup, ContainsIsByPathComponent) {
  EXPECT_TRUE(proc::cgroup_contains("/", "/anything"));
  EXPECT_TRUE(proc::cgroup_contains("/a", "/a"));
  EXPECT_TRUE(proc::cgroup_contains("/a", "/a/b/c"));
  EXPECT_FALSE(proc::cgroup_contains("/a", "/ab"));
  EXPECT_FALSE(proc::cgroup_contains("/a/b", "/a"));
}

// ---------------------------------------------------------------- selectors

proc::Protected fake_guard() {
  proc::Protected g;
  g.self_pid = ::getpid();
  g.self_cgroup = "/agent/here";
  g.self_comm = "fd-agent-test";
  g.init_cgroup = "/init.scope";
  g.init_comm = "fd-init-test";
  return g;
}

std::string refusal(const v1::ProcessSelector& s, const std::string& root = "") {
  auto r = proc::resolve_selector(s, fake_guard(), root);
  return r ? "" : r.error().message;
}

TEST(Selector, EmptySelectorIsRefused) {
  v1::ProcessSelector s;
  EXPECT_NE(refusal(s).find("selector is empty"), std::string::npos);
}

TEST(Selector, TheAgentAndInitAreNeverSelected) {
  FakeCgroupRoot root;
  fs::create_directories(root.path + "/agent/here");
  std::ofstream(root.path + "/agent/cgroup.procs");
  std::ofstream(root.path + "/agent/here/cgroup.procs");
  fs::create_directories(root.path + "/init.scope");
  std::ofstream(root.path + "/init.scope/cgroup.procs");

  v1::ProcessSelector self_pid;
  self_pid.add_pids(static_cast<uint32_t>(::getpid()));
  EXPECT_NE(refusal(self_pid).find("is the agent itself"), std::string::npos) << refusal(self_pid);
  v1::ProcessSelector init;
  init.add_pids(1);
  EXPECT_NE(refusal(init).find("pid 1"), std::string::npos);
  for (auto cg : {"/", "agent", "agent/here"}) {
    v1::ProcessSelector s;
    s.add_cgroups(cg);
    EXPECT_NE(refusal(s, root.path).find("holds the agent itself"), std::string::npos) << cg << ": " << refusal(s, root.path);
  }
  v1::ProcessSelector init_cg;
  init_cg.add_cgroups("init.scope");
  EXPECT_NE(refusal(init_cg, root.path).find("holds pid 1"), std::string::npos);
  v1::ProcessSelector comm;
  comm.add_comms("fd-agent-test");
  EXPECT_NE(refusal(comm).find("agent's own"), std::string::npos);
  // A sibling of the agent's cgroup is fine.
  v1::ProcessSelector sibling;
  sibling.add_cgroups("a/b");
  EXPECT_EQ(refusal(sibling, root.path), "");
}

TEST(Selector, EntriesThatCannotMatchAreRefused) {
  v1::ProcessSelector long_comm;
  long_comm.add_comms("a-name-longer-than-15");
  EXPECT_NE(refusal(long_comm).find("the kernel keeps 15"), std::string::npos);
  v1::ProcessSelector rel_exe;
  rel_exe.add_exe_paths("bin/sleep");
  EXPECT_NE(refusal(rel_exe).find("not absolute"), std::string::npos);
  v1::ProcessSelector no_exe;
  no_exe.add_exe_paths("/nonexistent/fdp-binary");
  EXPECT_NE(refusal(no_exe).find("does not exist"), std::string::npos);
  v1::ProcessSelector no_pid;
  no_pid.add_pids(0x3ffffff0);
  EXPECT_NE(refusal(no_pid).find("does not exist"), std::string::npos);
  v1::ProcessSelector no_cgroup_v2;
  no_cgroup_v2.add_cgroups("x");
  EXPECT_NE(refusal(no_cgroup_v2).find("no cgroup v2 mount"), std::string::npos);
}

TEST(Selector, ExeIsSelectedByFileIdentity) {
  auto a = proc::exe_ref("/bin/sh");
  ASSERT_TRUE(a);
  auto resolved = fs::canonical("/bin/sh").string();
  auto b = proc::exe_ref(resolved);
  ASSERT_TRUE(b);
  EXPECT_TRUE(*a == *b);
  EXPECT_EQ(a->kdev >> 20, major(a->st_dev));
}

// ---------------------------------------------------------------- missing kernel features

bpf::Features full_features() {
  bpf::Features f;
  f.kernel_release = "test-kernel";
  f.tracepoint = f.send_signal = f.ringbuf = f.cgroup_v2 = f.cgroup_kill = f.cgroup_freeze = true;
  for (auto name : {"tracepoint", "send_signal", "ringbuf", "cgroup_v2", "cgroup_kill", "cgroup_freeze"}) {
    v1::Feature d;
    d.set_name(name);
    d.set_available(true);
    f.details.push_back(d);
  }
  return f;
}

void lose(bpf::Features& f, const std::string& name, bool bpf::Features::*flag) {
  f.*flag = false;
  for (auto& d : f.details) {
    if (d.name() == name) {
      d.set_available(false);
      d.set_detail("not in this test kernel");
    }
  }
}

v1::FaultSpec parse_spec(const std::string& text) {
  v1::FaultSpec s;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &s)) << text;
  return s;
}

TEST(ProcFeatures, EachFaultNamesTheKernelFeatureItLacks) {
  struct Case {
    const char* feature;
    bool bpf::Features::*flag;
    const char* spec;
  };
  const Case cases[] = {
      {"tracepoint", &bpf::Features::tracepoint, "process { keep_down { select { comms: \"x\" } } }"},
      {"send_signal", &bpf::Features::send_signal, "process { keep_down { select { comms: \"x\" } } }"},
      {"ringbuf", &bpf::Features::ringbuf, "process { keep_down { select { comms: \"x\" } } }"},
      {"cgroup_kill", &bpf::Features::cgroup_kill, "process { kill { select { cgroups: \"x\" } } }"},
      {"cgroup_kill", &bpf::Features::cgroup_kill,
       "process { keep_down { select { cgroups: \"x\" } kill_running: true } }"},
      {"cgroup_v2", &bpf::Features::cgroup_v2, "process { keep_down { select { cgroups: \"x\" } } }"},
      {"cgroup_freeze", &bpf::Features::cgroup_freeze, "process { freeze { cgroups: \"x\" } }"},
  };
  TempDir dir;
  auto j = journal::Journal::open(dir.path);
  ASSERT_TRUE(j);
  std::shared_ptr<journal::Journal> journal = std::move(*j);
  for (auto& c : cases) {
    auto f = full_features();
    lose(f, c.feature, c.flag);
    proc::ProcFaultEngine engine(journal, nullptr, "", &f);
    auto r = engine.check(parse_spec(c.spec));
    ASSERT_FALSE(r) << c.feature;
    EXPECT_NE(r.error().message.find(std::string("missing kernel feature '") + c.feature + "' on test-kernel"),
              std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("not in this test kernel"), std::string::npos) << r.error().message;
    // apply refuses the same way, and holds nothing.
    EXPECT_FALSE(engine.apply("f", parse_spec(c.spec)));
    EXPECT_EQ(engine.counters("f").processes_killed(), 0u);
  }
  // A kill by pid needs none of them.
  auto none = full_features();
  lose(none, "cgroup_kill", &bpf::Features::cgroup_kill);
  lose(none, "tracepoint", &bpf::Features::tracepoint);
  proc::ProcFaultEngine engine(journal, nullptr, "", &none);
  v1::FaultSpec by_pid;
  by_pid.mutable_process()->mutable_kill()->mutable_select()->add_pids(0x3ffffff0);
  auto r = engine.check(by_pid);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find("missing kernel feature"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("does not exist"), std::string::npos) << r.error().message;
}

// ---------------------------------------------------------------- power loss composition

// The power engine loads its keep-down on a thread of its own: calls come from two.
struct Recorder {
  void push(std::string call) {
    std::lock_guard lock(mu);
    calls.push_back(std::move(call));
  }
  std::mutex mu;
  std::vector<std::string> calls;
};

class RecordingEngine : public FaultEngine {
 public:
  RecordingEngine(std::string name, Recorder& rec) : name_(std::move(name)), rec_(rec) {}
  std::string_view name() const override { return name_; }
  bool handles(const v1::FaultSpec&) const override { return true; }
  Result<void> check(const v1::FaultSpec& s) const override {
    if (refuse_check) return make_error("{} says no", name_);
    return ok();
  }
  Result<void> apply(const std::string& id, const v1::FaultSpec& s) override {
    rec_.push("apply " + id + " " + s.ShortDebugString());
    if (fail_apply) return make_error("{} failed", name_);
    return ok();
  }
  Result<void> revert(const std::string& id) override {
    rec_.push("revert " + id);
    return ok();
  }
  Result<void> prepare(const std::string& id, const v1::FaultSpec&) override {
    rec_.push("prepare " + id);
    return ok();
  }
  v1::FaultCounters counters(const std::string&) const override {
    v1::FaultCounters c;
    c.set_processes_killed(killed);
    c.set_packets_dropped(dropped);
    return c;
  }
  std::string name_;
  Recorder& rec_;
  bool refuse_check = false;
  bool fail_apply = false;
  uint64_t killed = 0, dropped = 0;
};

// Hooks run without a cgroup here: the unit suite has none (the real runner, which
// refuses to run outside the workload cgroup, is tested below).
Result<int> run_here(const std::string& hook) { return proc::run_in_cgroup(hook, "", "", std::chrono::seconds(5)); }

// The workload cgroup's switches, recorded (the unit suite has no cgroups; the real ones
// are exercised by tests/integration/power_*).
struct RecordingSwitches : power::WorkloadSwitches {
  explicit RecordingSwitches(Recorder& r) : rec(r) {}
  const std::string& path() const override { return dir; }
  Result<bool> frozen_already() override { return false; }
  Result<void> freeze(bool frozen) override {
    rec.push(frozen ? "freeze" : "thaw");
    return ok();
  }
  Result<std::vector<pid_t>> members() override { return std::vector<pid_t>{101, 102, 103}; }
  Result<void> kill() override {
    rec.push("kill");
    if (fail_kill) return make_error("cgroup.kill failed");
    return ok();
  }
  WallTime wait_empty(std::chrono::milliseconds) override { return WallClock::now(); }
  Recorder& rec;
  std::string dir = "/nonexistent/fdp-unit-workload";
  bool fail_kill = false;
};

struct Sink : EventSink {
  void emit(const v1::Event& e) override {
    std::lock_guard lock(mu);
    events.push_back(e);
  }
  size_t errors_with(const std::string& text) {
    std::lock_guard lock(mu);
    return std::count_if(events.begin(), events.end(), [&](const v1::Event& e) {
      return e.has_error() && e.error().message().find(text) != std::string::npos;
    });
  }
  std::mutex mu;
  std::vector<v1::Event> events;
};

std::vector<std::string> owed_kinds(const journal::Journal& j) {
  std::vector<std::string> out;
  for (auto& e : j.owed()) out.push_back(e.kind + (e.target.empty() ? "" : ":" + e.target));
  return out;
}

struct PowerFixture : ::testing::Test {
  PowerFixture() : net("network", rec), proc("process", rec) {
    config.workload_cgroup = "fdp-unit-workload";
    config.state_dir = dir.path;
    marker = dir.path + "/hook-ran";
    config.boot_hooks = {"echo booted >> " + marker};
    auto j = journal::Journal::shared(dir.path + "/state");
    journal = *j;
    make();
    spec.mutable_power_loss();
  }
  void make() {
    engine = std::make_unique<power::PowerLossEngine>(
        net, proc, config, journal, &sink, run_here,
        [this](const std::string&) -> Result<std::unique_ptr<power::WorkloadSwitches>> {
          auto s = std::make_unique<RecordingSwitches>(rec);
          s->fail_kill = fail_kill;
          return std::unique_ptr<power::WorkloadSwitches>(std::move(s));
        });
  }
  bool fail_kill = false;
  TempDir dir;
  Recorder rec;
  RecordingEngine net, proc;
  AgentConfig config;
  std::string marker;
  std::shared_ptr<journal::Journal> journal;
  Sink sink;
  std::unique_ptr<power::PowerLossEngine> engine;
  v1::FaultSpec spec;
};

TEST_F(PowerFixture, BlackholeThenFreezeThenKillAndKeepDownOfTheWorkload) {
  ASSERT_TRUE(engine->apply("pl", spec));
  ASSERT_EQ(rec.calls.size(), 6u);
  // Staged before the instant (the keep-down loads on a thread of its own, beside the
  // network's staging): at it only switches flip.
  std::vector<std::string> staged(rec.calls.begin(), rec.calls.begin() + 2);
  std::sort(staged.begin(), staged.end());
  EXPECT_EQ(staged, (std::vector<std::string>{"apply pl/net network { blackhole { } }", "prepare pl/proc"}));
  EXPECT_EQ(rec.calls[2], "freeze");
  EXPECT_EQ(rec.calls[3], "kill");
  EXPECT_EQ(rec.calls[4], "apply pl/proc process { keep_down { select { cgroups: \"fdp-unit-workload\" } } }");
  EXPECT_EQ(rec.calls[5], "thaw");  // the dying need no thaw; what starts dies at exec
  // The intent and the boot are owed from before the first part (the thaw too, ended
  // once thawed); the stages say what happened.
  EXPECT_EQ(owed_kinds(*journal), (std::vector<std::string>{"power_loss", "boot_hooks", "power_stage:network cut",
                                                            "power_stage:killed"}));
  auto effect = engine->effect("pl");
  ASSERT_TRUE(effect);
  EXPECT_LE(effect->network_cut, effect->frozen);
  EXPECT_LE(effect->frozen, effect->killed);
  EXPECT_LE(effect->killed, effect->kept_down);
  EXPECT_LE(effect->kept_down, effect->thawed);
  EXPECT_NE(effect->dead, WallTime{});
  EXPECT_FALSE(effect->scheduling.empty());
  EXPECT_EQ(effect->fs_shut_down, WallTime{});  // no lose_unsynced
  EXPECT_EQ(engine->counters("pl").processes_killed(), 3u);  // the workload's members at the instant
  EXPECT_TRUE(engine->apply("pl", spec));  // idempotent
  EXPECT_EQ(rec.calls.size(), 6u);
}

// A power loss parked until its instant holds the engine's lock for none of it: another
// power loss's counters, effects and revert answer meanwhile.
TEST_F(PowerFixture, AParkedPowerLossHoldsUpNoOtherFault) {
  ASSERT_TRUE(engine->apply("other", spec));
  auto parked = std::async(std::launch::async, [&] {
    return engine->apply_at("pl", spec, WallClock::now() + std::chrono::seconds(2));
  });
  auto staged = [&] {
    std::lock_guard lock(rec.mu);
    return std::any_of(rec.calls.begin(), rec.calls.end(), [](auto& c) { return c.rfind("apply pl/net", 0) == 0; });
  };
  for (int i = 0; i < 400 && !staged(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(staged()) << "never staged";
  EXPECT_EQ(engine->counters("other").processes_killed(), 3u);
  EXPECT_FALSE(engine->effects("other").empty());
  EXPECT_TRUE(engine->revert("other"));
  EXPECT_EQ(parked.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "the other fault's calls waited for the parked one's instant";
  ASSERT_TRUE(parked.get());
  EXPECT_TRUE(engine->effect("pl"));
  EXPECT_TRUE(engine->revert("pl"));
}

// Prepared ahead (the fault manager calls it seconds before the instant): the keep-down
// is loaded then, and a power loss reverted before its instant drops it.
TEST_F(PowerFixture, PreparedAheadTheKeepDownIsDroppedByARevertBeforeTheInstant) {
  ASSERT_TRUE(engine->prepare("pl", spec));
  EXPECT_EQ(rec.calls, (std::vector<std::string>{"prepare pl/proc"}));
  EXPECT_TRUE(journal->owed().empty()) << "nothing is owed before staging";
  ASSERT_TRUE(engine->revert("pl"));
  EXPECT_EQ(rec.calls, (std::vector<std::string>{"prepare pl/proc", "revert pl/proc"}));
  EXPECT_TRUE(engine->revert("pl"));  // idempotent
  EXPECT_EQ(rec.calls.size(), 2u);
}

TEST_F(PowerFixture, RestoreLiftsNetworkThenKeepDownThenBoots) {
  ASSERT_TRUE(engine->apply("pl", spec));
  net.dropped = 7;
  proc.killed = 3;
  auto c = engine->counters("pl");
  EXPECT_EQ(c.packets_dropped(), 7u);
  EXPECT_EQ(c.processes_killed(), 6u);  // 3 at the instant, 3 at exec
  ASSERT_TRUE(engine->revert("pl"));
  ASSERT_EQ(rec.calls.size(), 8u);
  EXPECT_EQ(rec.calls[6], "revert pl/net");
  EXPECT_EQ(rec.calls[7], "revert pl/proc");
  // The host boots after power is back, on the engine's boot thread.
  ASSERT_TRUE(engine->wait_booted(std::chrono::seconds(10)));
  std::ifstream in(marker);
  std::string line;
  ASSERT_TRUE(std::getline(in, line)) << "boot hook did not run";
  EXPECT_EQ(line, "booted");
  EXPECT_TRUE(journal->owed().empty());
  EXPECT_TRUE(engine->revert("pl"));  // idempotent
  EXPECT_EQ(rec.calls.size(), 8u);
}

TEST_F(PowerFixture, PowerIsBackBeforeTheHostHasBooted) {
  // A boot that waits for a gate: revert must return (network and keep-down lifted)
  // while it still waits, and the journal owes the boot until it is done.
  std::string gate = dir.path + "/gate";
  config.boot_hooks = {"while [ ! -e " + gate + " ]; do sleep 0.01; done; echo booted >> " + marker};
  make();
  ASSERT_TRUE(engine->apply("pl", spec));
  ASSERT_TRUE(engine->revert("pl"));
  EXPECT_EQ(rec.calls.back(), "revert pl/proc");
  EXPECT_FALSE(fs::exists(marker)) << "revert waited for the boot";
  EXPECT_EQ(owed_kinds(*journal), (std::vector<std::string>{"boot_hooks"}));
  EXPECT_FALSE(engine->apply("pl", spec)) << "a power loss of the same id while its boot is owed";
  std::ofstream(gate) << "open";
  ASSERT_TRUE(engine->wait_booted(std::chrono::seconds(10)));
  std::ifstream in(marker);
  std::string line;
  ASSERT_TRUE(std::getline(in, line)) << "boot hook did not run";
  EXPECT_EQ(line, "booted");
  EXPECT_TRUE(journal->owed().empty());
}

TEST_F(PowerFixture, AFailedBootStaysOwedIsRetriedAndReportedFailing) {
  // Issue 13: a boot whose hooks failed was closed as if done, and nothing retried it.
  std::string gate = dir.path + "/gate";
  config.boot_hooks = {"echo first >> " + marker, "test -e " + gate + " && echo second >> " + marker};
  make();
  ASSERT_TRUE(engine->apply("pl", spec));
  ASSERT_TRUE(engine->revert("pl"));
  EXPECT_FALSE(engine->wait_booted(std::chrono::milliseconds(600)));
  EXPECT_EQ(owed_kinds(*journal), (std::vector<std::string>{"boot_hooks"}));
  EXPECT_GE(sink.errors_with("boot failing: 1 of 2 boot hook(s) failed (attempt 1)"), 1u);
  std::ofstream(gate) << "open";
  ASSERT_TRUE(engine->wait_booted(std::chrono::seconds(10))) << "the failed hook was not retried";
  EXPECT_TRUE(journal->owed().empty());
  // The retry ran the hook that failed, not the one that had booted its service.
  std::ifstream in(marker);
  std::string a, b, c;
  in >> a >> b;
  EXPECT_EQ(a + b, "firstsecond");
  EXPECT_FALSE(in >> c) << "hook 1 ran again: " << c;
}

// A power loss that fails at its instant: refused with `why`, the cut lifted, the freeze
// lifted, what was prepared dropped (the keep-down program unloads), nothing owed.
void expect_undone(PowerFixture& f, const std::string& why) {
  auto r = f.engine->apply("pl", f.spec);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
  ASSERT_GE(f.rec.calls.size(), 3u);
  EXPECT_EQ(std::vector<std::string>(f.rec.calls.end() - 3, f.rec.calls.end()),
            (std::vector<std::string>{"revert pl/net", "thaw", "revert pl/proc"}));
  EXPECT_TRUE(f.journal->owed().empty());
  EXPECT_FALSE(fs::exists(f.marker));
}

TEST_F(PowerFixture, FailedKillUndoesTheFreezeAndTheBlackholeAndOwesNothing) {
  fail_kill = true;
  make();
  expect_undone(*this, "cgroup.kill failed");
}

TEST_F(PowerFixture, FailedKeepDownUndoesTheCutAndOwesNothing) {
  proc.fail_apply = true;
  expect_undone(*this, "process failed");
}

TEST_F(PowerFixture, RefusalsNameThePartAndChangeNothing) {
  proc.refuse_check = true;
  auto r = engine->apply("pl", spec);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("freeze part"), std::string::npos) << r.error().message;
  EXPECT_TRUE(rec.calls.empty());
  EXPECT_TRUE(journal->owed().empty());

  AgentConfig no_workload = config;
  no_workload.workload_cgroup.clear();
  power::PowerLossEngine bare(net, proc, no_workload, journal, nullptr);
  auto r2 = bare.check(spec);
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("--workload-cgroup"), std::string::npos);
}

TEST_F(PowerFixture, LoseUnsyncedNeedsDataDirsOfTheirOwn) {
  proc.refuse_check = false;
  spec.mutable_power_loss()->set_lose_unsynced(true);
  auto r = engine->check(spec);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--data-dir"), std::string::npos) << r.error().message;
  // A directory on the file system of its parent is refused, naming it and what to do.
  config.data_dirs = {dir.path};
  make();
  r = engine->apply("pl", spec);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("data directory " + dir.path + " is not a file system of its own"),
            std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("loop-mounted image"), std::string::npos) << r.error().message;
  EXPECT_TRUE(rec.calls.empty());
  EXPECT_TRUE(journal->owed().empty());
}

TEST_F(PowerFixture, SkipBootHooksOwesNothing) {
  spec.mutable_power_loss()->set_skip_boot_hooks(true);
  ASSERT_TRUE(engine->apply("pl", spec));
  ASSERT_TRUE(engine->revert("pl"));
  EXPECT_TRUE(journal->owed().empty());
  ASSERT_TRUE(engine->wait_booted(std::chrono::seconds(10)));
  EXPECT_FALSE(fs::exists(marker));
}

TEST_F(PowerFixture, RecoveryBootsWhereTheKillHappenedAndRetriesFailures) {
  std::string gate = dir.path + "/gate";
  config.boot_hooks = {"echo one >> " + marker, "test -e " + gate, "echo two >> " + marker};
  ASSERT_TRUE(journal->begin({"pl", power::kPowerLossIntent, "", "owed", {}}));
  ASSERT_TRUE(journal->begin({"pl", journal::kBootHooks, "", "owed", {}}));
  ASSERT_TRUE(journal->begin({"pl", power::kPowerStage, power::kStageKilled, "", {}}));
  ASSERT_TRUE(journal->begin(thaw("fz", dir.path + "/no-such-cgroup")));  // gone since: nothing to thaw
  make();
  auto recovered = engine->recover();
  std::set<std::string> ids;
  for (auto& r : recovered) {
    ids.insert(r.fault_id());
    EXPECT_EQ(r.reason(), v1::REVERT_RECOVERED);
  }
  EXPECT_EQ(ids, (std::set<std::string>{"pl", "fz"}));
  // Every hook ran, in order; the failing one was reported, not fatal, and the boot
  // stays owed until it succeeds.
  EXPECT_FALSE(engine->wait_booted(std::chrono::milliseconds(500)));
  EXPECT_EQ(owed_kinds(*journal), (std::vector<std::string>{"boot_hooks"}));
  EXPECT_GE(sink.errors_with("boot hook 2/3 'test -e " + gate + "' exited 1"), 1u);
  std::ofstream(gate) << "open";
  ASSERT_TRUE(engine->wait_booted(std::chrono::seconds(10)));
  EXPECT_TRUE(journal->owed().empty());
  std::ifstream in(marker);
  std::string a, b;
  ASSERT_TRUE(in >> a >> b);
  EXPECT_EQ(a + b, "onetwo");
}

TEST_F(PowerFixture, RecoveryBootsNothingWhereTheKillHadNotHappened) {
  // Issue 13: an agent killed after journaling a power loss but before the kill booted a
  // second copy of services that never went down. Here the workload cgroup still has
  // its processes (this one: it does not exist, so nothing says it was emptied), and no
  // stage says "killed".
  ASSERT_TRUE(journal->begin({"pl", power::kPowerLossIntent, "", "owed", {}}));
  ASSERT_TRUE(journal->begin({"pl", journal::kBootHooks, "", "owed", {}}));
  ASSERT_TRUE(journal->begin({"pl", power::kPowerStage, power::kStageNetworkCut, "", {}}));
  make();
  auto recovered = engine->recover();
  ASSERT_EQ(recovered.size(), 1u);
  EXPECT_TRUE(engine->wait_booted(std::chrono::seconds(5)));
  EXPECT_FALSE(fs::exists(marker)) << "boot hooks ran for services that were never killed";
  EXPECT_TRUE(journal->owed().empty());
}

TEST(BootHooks, NeverRunOutsideTheWorkloadCgroup) {
  // Issue 13: with the workload cgroup gone, the hooks ran in the agent's own cgroup.
  TempDir dir;
  AgentConfig config;
  config.state_dir = dir.path;
  config.workload_cgroup = "fdp-unit-no-such-workload";
  std::string marker = dir.path + "/ran";
  config.boot_hooks = {"echo ran >> " + marker};
  auto hooks = power::boot_hook_config(config);
  std::vector<bool> pending;
  EXPECT_EQ(power::run_boot_hooks(hooks, "pl", nullptr, pending), 1u);
  EXPECT_FALSE(fs::exists(marker)) << "a boot hook ran outside the workload cgroup";
  auto r = hooks.run(config.boot_hooks[0]);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("workload cgroup"), std::string::npos) << r.error().message;
}

TEST(BootHooks, TimeoutKillsTheHooksWholeProcessGroup) {
  // Issue 13: `sleep 300 & sleep 301` with a timeout left both sleeps running.
  TempDir dir;
  std::string pids = dir.path + "/pids";
  auto r = proc::run_in_cgroup("sleep 300 & echo $! > " + pids + "; sleep 301", "", "",
                               std::chrono::milliseconds(500));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("killed"), std::string::npos) << r.error().message;
  pid_t bg = 0;
  std::ifstream(pids) >> bg;
  ASSERT_GT(bg, 0);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    std::ifstream stat("/proc/" + std::to_string(bg) + "/stat");
    std::string line;
    gone = !std::getline(stat, line) || line.find(") Z ") != std::string::npos;
    if (!gone) ::usleep(10000);
  }
  EXPECT_TRUE(gone) << "the hook's background sleep " << bg << " outlived the timeout";
  if (!gone) ::kill(bg, SIGKILL);
}

}  // namespace
}  // namespace firedrill::agent
