// Findings and their remediation. A finding is its own signed record, linked to the
// run it was found in (by run id and that run's head hash at the time); it never
// changes the run's own signed log. Each change (close after a retest) is a new
// revision that chains to the one before, and is signed again.
//
// Record (canonical JSON, signed as a whole, hash = SHA-256 of it):
//   {"type":"firedrill-finding","v":1,"id":"F-0001","rev":1,"prev":ZERO|HASH,
//    "run":RUN,"run_head":HEAD,"run_events":N,"at":TIME,"by":WHO,
//    "severity":"high","owner":"...","due":"2026-12-31","title":"...","description":"...",
//    "status":"open"|"closed","retest_run":"","retest_head":"","retest_verdict":"","note":"",
//    "key":FPR}
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "controller/evidence/canonical.h"
#include "controller/evidence/signing_key.h"
#include "controller/store/evidence_records.h"

namespace firedrill::evidence {

struct NewFinding {
  std::string run_id;
  std::string severity;  // low | medium | high | critical
  std::string owner;
  std::string due;  // YYYY-MM-DD
  std::string title;
  std::string description;
  std::string by;  // who recorded it
};

struct FindingRecord {
  std::string id;
  int64_t rev = 0;
  std::string prev;
  std::string run;
  std::string run_head;
  int64_t run_events = 0;
  std::string at;
  std::string by;
  std::string severity;
  std::string owner;
  std::string due;
  std::string title;
  std::string description;
  std::string status;  // open | closed
  std::string retest_run;
  std::string retest_head;
  std::string retest_verdict;
  std::string note;
  std::string key;
};
void to_json(Json& j, const FindingRecord& r);
Result<FindingRecord> finding_from_json(const Json& j);

Result<void> check_severity(std::string_view severity);
Result<void> check_due_date(std::string_view due);

class FindingBook {
 public:
  using Clock = std::function<WallTime()>;
  // `key` signs new revisions; reading needs none (nullptr).
  FindingBook(controller::EvidenceRecords& store, const SigningKey* key, Clock clock = {});

  // Opens a finding against a run that has evidence. Returns the signed revision 1.
  Result<FindingRecord> add(const NewFinding& finding);
  // Closes an open finding with a retest: the retest run must be another run of the
  // same experiment (name and file hash), started after the finding was opened, whose
  // log verifies and ends in a "pass" verdict.
  Result<FindingRecord> close(std::string_view finding_id, std::string_view retest_run, std::string_view note,
                              std::string_view by = "");
  // The latest revision of each finding opened in or retested by the run.
  Result<std::vector<FindingRecord>> of_run(std::string_view run_id);
  Result<std::vector<FindingRecord>> all();
  Result<FindingRecord> latest(std::string_view finding_id);

 private:
  Result<FindingRecord> append(FindingRecord record);
  controller::EvidenceRecords& store_;
  const SigningKey* key_;
  Clock clock_;
};

}  // namespace firedrill::evidence
