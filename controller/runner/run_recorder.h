// The runner's hook into evidence: a RunObserver (controller/runner/run.h) that turns
// everything a run tells it into that run's signed event log. Give one to every Run:
//
//   evidence::RunRecorder recorder(store, key);
//   runner::Run run(record, &clock, &fleet, std::move(probes), &run_store, &recorder);
//
// or, where each run gets observers of its own (RunManager's ObserverFactory), one
// forwarder per run: `observers.push_back(recorder.for_run());`
//
// Probe samples (per probe) and per-host fault records are buffered and written as
// one signed batch before any other event, or when a buffer fills: a site's thousands
// of hosts cost one signature, not thousands. A run resumed after a restart continues its
// existing log. Evidence that cannot be written never stops a run, and never silently:
// each append is retried on a busy database (EvidenceLog), a record that still cannot
// be written is counted, later records go on chaining from the last written head,
// and the run's verdict says how much is missing (incomplete()): such a run never
// ends as passed.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <chrono>
#include <filesystem>
#include <functional>

#include "controller/evidence/evidence_log.h"
#include "controller/runner/run.h"

namespace firedrill::evidence {

class RunRecorder : public runner::RunObserver {
 public:
  RunRecorder(controller::EvidenceRecords& store, const SigningKey& key, EvidenceLog::Clock clock = {},
              size_t samples_per_batch = 50);

  void on_created(const v1::RunRecord& run) override;
  void on_approval(const v1::RunRecord& run, const v1::Approval& a, bool rejected) override;
  void on_phase(const v1::RunRecord& run, const std::string& detail) override;
  void on_targets(const v1::RunRecord& run, int step, const std::vector<controller::Host>& hosts) override;
  void on_guard(const v1::RunRecord& run, const std::string& when, const v1::GuardVerdict& verdict) override;
  void on_fault(const v1::RunRecord& run, const v1::FaultRecord& fault, bool reverted) override;
  void on_samples(const v1::RunRecord& run, const std::string& probe, const std::vector<slo::Sample>& s) override;
  void on_data_check(const v1::RunRecord& run, const v1::DataReadBack& data) override;
  void on_milestone(const v1::RunRecord& run, const std::string& name, WallTime at,
                    const std::string& detail) override;
  void on_abort(const v1::RunRecord& run, const std::string& reason, const std::string& by) override;
  void on_handover(const v1::RunRecord& run, const runner::Takeover& takeover, WallTime gap_from,
                   WallTime gap_to) override;
  void on_verdict(const v1::RunRecord& run) override;

  // An observer of its own for one run, forwarding to this recorder (which must
  // outlive it).
  std::unique_ptr<runner::RunObserver> for_run();

  // Told of every write to the evidence log: how long it took, how many events, and
  // whether it was written (the controller's metrics). Set before the first run.
  using AppendTimer = std::function<void(std::chrono::nanoseconds took, size_t events, bool ok)>;
  void on_append(AppendTimer timer) { append_timer_ = std::move(timer); }

  // The first error met while recording the run, if any.
  std::optional<Error> error(const std::string& run_id) const;
  std::string incomplete(const std::string& run_id) const override;

  // What the run's first event says, from its record (exposed for tests).
  static RunCreated created_from(const v1::RunRecord& run);

 private:
  // Runs one write to a log, timed for on_append.
  template <typename F>
  auto timed(size_t events, F&& write);
  AppendTimer append_timer_;

  struct Open {
    std::unique_ptr<EvidenceLog> log;
    std::map<std::string, std::vector<ProbeSample>> pending;  // probe -> samples not yet written
    std::vector<PendingEvent> faults;                          // fault_applied/reverted not yet written
    std::map<std::string, int64_t> writes;                     // probe -> samples seen
    std::map<std::string, std::string> host_of;                // agent id -> host name
  };

  // The run's open log (created or resumed on first use); nullptr when that fails,
  // and then `records` (what the caller brought) are counted as lost.
  Open* open(const v1::RunRecord& run, int64_t records = 0);
  template <typename T>
  void append(const v1::RunRecord& run, const T& payload);
  void flush(const v1::RunRecord& run, Open& o);
  void fail(const std::string& run_id, const Error& e, int64_t records);

  controller::EvidenceRecords& store_;
  const SigningKey& key_;
  EvidenceLog::Clock clock_;
  size_t batch_;
  mutable std::mutex mu_;
  std::map<std::string, Open> runs_;
  std::map<std::string, Error> errors_;   // the first error of each run
  std::map<std::string, int64_t> lost_;   // records not written, per run
};

// What the controller daemon opens once, at its start, beside its store: the evidence
// key (made on the first start, in the state directory) and the recorder that writes
// every run's evidence into the store (which must outlive it).
struct ControllerEvidence {
  controller::EvidenceRecords& store;
  SigningKey key;
  std::unique_ptr<RunRecorder> recorder;

  static Result<std::unique_ptr<ControllerEvidence>> open(const std::filesystem::path& state_dir,
                                                          controller::EvidenceRecords& store);
};

}  // namespace firedrill::evidence
