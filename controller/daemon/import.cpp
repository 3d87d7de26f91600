#include "controller/daemon/import.h"

#include <filesystem>

#include "common/log.h"
#include "controller/experiment/proto_file.h"
#include "controller/store/target_status.h"

namespace firedrill::controller {

namespace {

Result<void> set_aside(const std::string& state_dir, const std::string& name, size_t n) {
  const std::string dir = state_dir + "/" + name, done = dir + ".imported-0.1.0";
  std::error_code ec;
  std::filesystem::rename(dir, done, ec);
  if (ec) return make_error("import 0.1.0 {}: rename {} to {}: {}", name, dir, done, ec.message());
  logger("controller")->warn("imported {} file(s) of firedrill 0.1.0 from {} into the store; they are kept in {}", n,
                             dir, done);
  return ok();
}

Result<size_t> import_schedules(const std::string& state_dir, Store& store) {
  const std::string dir = state_dir + "/schedules";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return size_t{0};
  FD_ASSIGN(files, experiment::list_files(dir, ".schedule"), "import 0.1.0 schedules from {}", dir);
  for (const auto& f : files) {
    v1::ScheduleRecord r;
    FD_TRY(experiment::read_proto_file(dir + "/" + f, &r), "import 0.1.0 schedule {}/{}", dir, f);
    FD_TRY(store.put_schedule(r), "import 0.1.0 schedule {}", r.id());
  }
  FD_TRY(set_aside(state_dir, "schedules", files.size()), "import");
  return files.size();
}

Result<size_t> import_runs(const std::string& state_dir, Store& store) {
  const std::string dir = state_dir + "/runs";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return size_t{0};
  FD_ASSIGN(files, experiment::list_files(dir, ".run"), "import 0.1.0 runs from {}", dir);
  size_t n = 0;
  for (const auto& f : files) {
    v1::RunRecord r;
    FD_TRY(experiment::read_proto_file(dir + "/" + f, &r), "import 0.1.0 run {}/{}", dir, f);
    if (r.id().empty()) return make_error("import 0.1.0 run {}/{}: the record has no id", dir, f);
    if (r.kind().empty()) r.set_kind("experiment");
    FD_TRY(upgrade_run_record(r), "import 0.1.0 run {}/{}", dir, f);
    std::vector<v1::ProbeSample> samples(r.samples().begin(), r.samples().end());
    FD_ASSIGN(existing, store.run(r.id(), true), "import 0.1.0 run {}", r.id());
    bool has_samples = existing && existing->samples_size() > 0;
    FD_TRY(store.put_run(r), "import 0.1.0 run {}", r.id());
    // A start that stopped half way has stored them already.
    if (!has_samples) FD_TRY(store.append_samples(r.id(), samples), "import 0.1.0 run {}", r.id());
    ++n;
  }
  FD_TRY(set_aside(state_dir, "runs", n), "import");
  return n;
}

}  // namespace

Result<size_t> import_files(const std::string& state_dir, Store& store) {
  FD_ASSIGN(runs, import_runs(state_dir, store), "state directory {}", state_dir);
  FD_ASSIGN(schedules, import_schedules(state_dir, store), "state directory {}", state_dir);
  return runs + schedules;
}

}  // namespace firedrill::controller
