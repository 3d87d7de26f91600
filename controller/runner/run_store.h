// Where runs are kept: one record per run, rewritten at every phase change and
// periodically while it runs, so that a run can be read back later and a controller
// restart finds the runs it had in flight.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "firedrill/v1/run.pb.h"

namespace firedrill::runner {

class RunStore {
 public:
  virtual ~RunStore() = default;
  virtual Result<void> save(const v1::RunRecord& run) = 0;
  virtual Result<v1::RunRecord> load(const std::string& id) = 0;
  // Every run, newest first; samples and events left out unless asked for.
  virtual Result<std::vector<v1::RunRecord>> list(bool full = false) = 0;
};

// A directory with one file per run (`<id>.run`, written atomically).
class FileRunStore : public RunStore {
 public:
  explicit FileRunStore(std::string dir) : dir_(std::move(dir)) {}
  Result<void> open();
  Result<void> save(const v1::RunRecord& run) override;
  Result<v1::RunRecord> load(const std::string& id) override;
  Result<std::vector<v1::RunRecord>> list(bool full = false) override;

 private:
  std::string dir_;
  std::mutex mu_;
};

// A copy without the bulky parts (samples, events), for lists and live updates.
v1::RunRecord summary(const v1::RunRecord& run);

}  // namespace firedrill::runner
