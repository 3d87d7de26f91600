// Fakes for the runner's tests: a clock whose sleeps advance time at once, a fleet
// of in-memory agents (with the real selector and guard), and probes whose health is
// a function of time (usually of the faults the fake fleet holds).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "controller/guard/guard.h"
#include "controller/runner/run.h"

namespace firedrill::runner {

inline const WallTime kT0 = WallTime(std::chrono::seconds(1'800'000'000));

class FakeClock : public Clock {
 public:
  explicit FakeClock(WallTime start = kT0) : now_(start) {}
  WallTime now() override { return now_; }
  void sleep_until(WallTime t) override {
    while (!hooks_.empty() && hooks_.begin()->first <= t) {
      auto it = hooks_.begin();
      auto fn = std::move(it->second);
      if (it->first > now_) now_ = it->first;
      hooks_.erase(it);
      fn();
    }
    if (t > now_) now_ = t;
    ++sleeps;
  }
  void wake() override {}
  // Runs `fn` when the time reaches `t` (inside a sleep of the run's thread).
  void at(WallTime t, std::function<void()> fn) { hooks_.emplace(t, std::move(fn)); }

  int sleeps = 0;

 private:
  WallTime now_;
  std::multimap<WallTime, std::function<void()>> hooks_;
};

class FakeFleet : public FleetDriver {
 public:
  struct Fault {
    std::string id;
    std::string host;
    WallTime from;
    std::optional<WallTime> until;
    WallTime expires;
  };

  explicit FakeFleet(Clock* clock) : clock_(clock) {}

  void add(const std::string& id, controller::Tags tags) {
    hosts_.push_back({id, std::move(tags), {}});
    live_.insert(id);
  }
  // An agent that registers again with other tags.
  void retag(const std::string& id, controller::Tags tags) {
    for (auto& h : hosts_) {
      if (h.id == id) h.tags = tags;
    }
  }

  Result<std::vector<controller::Host>> resolve(const v1::Targets& targets) override {
    FD_ASSIGN(res, controller::resolve(live_hosts(), targets), "resolve");
    std::vector<controller::Host> out;
    for (const auto& id : res.targets) {
      for (const auto& h : hosts_) {
        if (h.id == id) out.push_back(h);
      }
    }
    return out;
  }
  v1::GuardVerdict admit(const std::string& run, const std::vector<std::string>& hosts, const v1::BlastRadius& r) override {
    auto v = check(run, hosts, r);
    if (v.allowed()) runs_[run] = {hosts.begin(), hosts.end()};
    ++admits;
    return v;
  }
  v1::GuardVerdict check(const std::string& run, const std::vector<std::string>& hosts, const v1::BlastRadius& r) override {
    controller::GuardInput in;
    in.fleet = live_hosts();
    in.targets = hosts;
    in.radius = r;
    in.halted = halted_;
    checks.push_back(hosts);
    return controller::check_guard(policy, in);
  }
  void set_run_hosts(const std::string& run, const std::vector<std::string>& hosts) override {
    runs_[run] = {hosts.begin(), hosts.end()};
  }
  void end_run(const std::string& run) override {
    runs_.erase(run);
    ended.insert(run);
  }
  std::vector<std::string> not_ready(const std::vector<std::string>& hosts, const v1::FaultSpec& spec) override {
    std::vector<std::string> out;
    for (const auto& h : hosts) {
      if (!live_.count(h)) out.push_back(h + ": not live");
      if (incapable.count(h)) out.push_back(h + ": agent offers no " + incapable[h]);
    }
    return out;
  }
  std::string fault_id(const std::string& run, int step) override { return run + "." + std::to_string(step); }
  FanoutOutcome apply(const std::string& run, const std::string& fid, const v1::FaultSpec& spec,
                      const std::vector<std::string>& hosts, WallTime not_before, WallTime expires) override {
    if (during_apply) during_apply();
    FanoutOutcome out;
    for (const auto& h : hosts) {
      HostOutcome o;
      o.agent_id = h;
      o.acked_at = clock_->now();
      if (refuse.count(h)) {
        o.status = v1::TARGET_STATUS_REFUSED;
        o.error = refuse[h];
      } else {
        o.ok = true;
        o.status = v1::TARGET_STATUS_SCHEDULED;
        o.effective_at = not_before;
        faults.push_back(Fault{fid, h, not_before, std::nullopt, expires});
      }
      out.hosts.push_back(o);
    }
    return out;
  }
  FanoutOutcome revert(const std::string& fid, const std::vector<std::string>& hosts) override {
    FanoutOutcome out;
    for (const auto& h : hosts) {
      for (auto& f : faults) {
        if (f.id == fid && f.host == h && !f.until) f.until = clock_->now();
      }
      HostOutcome o;
      o.agent_id = h;
      o.ok = live_.count(h) != 0;
      o.status = o.ok ? v1::TARGET_STATUS_REVERTED : v1::TARGET_STATUS_NO_ANSWER;
      if (o.ok) o.acked_at = clock_->now();
      out.hosts.push_back(o);
    }
    reverts.push_back(fid);
    return out;
  }
  std::vector<std::string> lost(const std::vector<std::string>& hosts) override {
    std::vector<std::string> out;
    for (const auto& h : hosts) {
      if (!live_.count(h)) out.push_back(h);
    }
    return out;
  }
  bool halted(std::string* reason) override {
    if (halted_) *reason = "game over";
    return halted_;
  }
  std::vector<HostEnded> ended_early(const std::string& fid, const std::vector<std::string>& hosts) override {
    std::vector<HostEnded> out;
    for (const auto& h : hosts) {
      auto it = early_ends.find(fid + "@" + h);
      if (it != early_ends.end()) out.push_back(it->second);
    }
    return out;
  }
  // "FAULT@HOST" -> how it ended on its own (set by a test, at a time of its choice).
  std::map<std::string, HostEnded> early_ends;

  // Whether host `h` is under a fault at `t`.
  bool down(const std::string& h, WallTime t) const {
    for (const auto& f : faults) {
      if (f.host == h && f.from <= t && (!f.until || t < *f.until)) return true;
    }
    return false;
  }
  size_t in_effect() const {
    size_t n = 0;
    for (const auto& f : faults) n += f.until ? 0 : 1;
    return n;
  }
  void lose(const std::string& h) { live_.erase(h); }
  void halt() { halted_ = true; }

  controller::GuardPolicy policy;
  std::map<std::string, std::string> refuse;
  std::function<void()> during_apply;  // e.g. a halt landing while the fan-out runs
  std::map<std::string, std::string> incapable;
  std::vector<Fault> faults;
  std::vector<std::string> reverts;
  std::vector<std::vector<std::string>> checks;
  std::set<std::string> ended;
  int admits = 0;

 private:
  std::vector<controller::Host> live_hosts() const {
    std::vector<controller::Host> out;
    for (const auto& h : hosts_) {
      if (live_.count(h.id)) out.push_back(h);
    }
    return out;
  }
  Clock* clock_;
  std::vector<controller::Host> hosts_;
  std::set<std::string> live_;
  std::map<std::string, std::set<std::string>> runs_;
  bool halted_ = false;
};

// Samples every `interval` from start(); a probe's health at time t is a function.
class ScriptedProbes : public probes::ProbeSource {
 public:
  using Health = std::function<bool(WallTime)>;
  explicit ScriptedProbes(Clock* clock) : clock_(clock) {}
  // What a failing sample says (default "connection refused").
  std::function<std::string(uint64_t)> failure_detail;
  void add(const std::string& name, std::chrono::nanoseconds interval, Health health, bool data = false) {
    probes_.push_back({name, interval, std::move(health), data, {}, 0});
  }
  void start() override {
    started = clock_->now();
    for (auto& p : probes_) p.next = started;
  }
  void stop() override { ++stops; }
  std::vector<std::pair<std::string, slo::Sample>> take_new() override {
    std::vector<std::pair<std::string, slo::Sample>> out;
    out.swap(finished_late_);
    WallTime now = clock_->now();
    for (auto& p : probes_) {
      if (p.data && data_stopped) continue;
      while (p.next <= now) {
        slo::Sample s;
        s.start = p.next;
        s.ok = p.health(p.next);
        s.duration = sample_duration(p.seq);
        s.detail = s.ok ? "ok" : failure_detail ? failure_detail(p.seq) : "connection refused";
        ++p.seq;
        if (p.data) {
          s.marker = p.seq;
          if (s.ok) written.insert(s.marker);
        }
        out.emplace_back(p.name, s);
        p.next += std::chrono::duration_cast<WallClock::duration>(p.interval);
      }
    }
    return out;
  }
  std::map<std::string, slo::DataCheck> read_back() override {
    data_stopped = true;
    std::map<std::string, slo::DataCheck> out;
    for (auto& p : probes_) {
      if (!p.data) continue;
      if (write_in_flight) {
        // The write in flight finishes (acknowledged) before the read, as ProbeSet's
        // read_back() lets it; it is handed over by the next take_new().
        slo::Sample s;
        s.start = p.next;
        s.ok = true;
        s.duration = sample_duration(p.seq);
        s.marker = ++p.seq;
        written.insert(s.marker);
        finished_late_.emplace_back(p.name, s);
      }
      slo::DataCheck c;
      c.read_ok = true;
      for (auto m : written) {
        if (!lost_markers.count(m)) c.read.insert(m);
      }
      out[p.name] = c;
    }
    return out;
  }

  // How long the n-th sample (from 0) of a probe took.
  std::function<std::chrono::nanoseconds(uint64_t n)> sample_duration = [](uint64_t) {
    return std::chrono::milliseconds(5);
  };
  WallTime started{};
  int stops = 0;
  bool data_stopped = false;
  bool write_in_flight = false;  // a data write is in flight when the read-back starts
  std::set<uint64_t> written, lost_markers;

 private:
  struct P {
    std::string name;
    std::chrono::nanoseconds interval;
    Health health;
    bool data;
    WallTime next;
    uint64_t seq;
  };
  Clock* clock_;
  std::vector<P> probes_;
  std::vector<std::pair<std::string, slo::Sample>> finished_late_;
};

}  // namespace firedrill::runner
