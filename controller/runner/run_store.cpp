#include "controller/runner/run_store.h"

#include <algorithm>

#include "controller/experiment/proto_file.h"

namespace firedrill::runner {

Result<void> FileRunStore::open() { return experiment::make_dirs(dir_); }

Result<void> FileRunStore::save(const v1::RunRecord& run) {
  if (run.id().empty() || run.id().find('/') != std::string::npos) return make_error("bad run id '{}'", run.id());
  std::lock_guard lock(mu_);
  return experiment::write_proto_file(dir_ + "/" + run.id() + ".run", run);
}

Result<v1::RunRecord> FileRunStore::load(const std::string& id) {
  if (id.empty() || id.find('/') != std::string::npos) return make_error("bad run id '{}'", id);
  v1::RunRecord r;
  std::lock_guard lock(mu_);
  auto rd = experiment::read_proto_file(dir_ + "/" + id + ".run", &r);
  if (!rd) {
    if (rd.error().code == ENOENT) return make_error("no run {}", id);
    return rd.error();
  }
  return r;
}

Result<std::vector<v1::RunRecord>> FileRunStore::list(bool full) {
  std::vector<std::string> files;
  {
    std::lock_guard lock(mu_);
    FD_ASSIGN(names, experiment::list_files(dir_, ".run"), "runs");
    files = std::move(names);
  }
  std::vector<v1::RunRecord> out;
  for (const auto& f : files) {
    auto r = load(f.substr(0, f.size() - 4));
    if (!r) continue;
    out.push_back(full ? std::move(*r) : summary(*r));
  }
  std::sort(out.begin(), out.end(), [](const v1::RunRecord& a, const v1::RunRecord& b) {
    auto ka = std::make_pair(a.created_at().seconds(), a.created_at().nanos());
    auto kb = std::make_pair(b.created_at().seconds(), b.created_at().nanos());
    return ka != kb ? ka > kb : a.id() > b.id();
  });
  return out;
}

v1::RunRecord summary(const v1::RunRecord& run) {
  v1::RunRecord s = run;
  s.clear_samples();
  s.clear_events();
  s.clear_experiment_yaml();
  return s;
}

}  // namespace firedrill::runner
