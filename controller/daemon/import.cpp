#include "controller/daemon/import.h"

#include <filesystem>

#include "common/log.h"
#include "controller/experiment/proto_file.h"

namespace firedrill::controller {

Result<size_t> import_run_files(const std::string& state_dir, Store& store) {
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
    std::vector<v1::ProbeSample> samples(r.samples().begin(), r.samples().end());
    FD_ASSIGN(existing, store.run(r.id(), true), "import 0.1.0 run {}", r.id());
    bool has_samples = existing && existing->samples_size() > 0;
    FD_TRY(store.put_run(r), "import 0.1.0 run {}", r.id());
    // A start that stopped half way has stored them already.
    if (!has_samples) FD_TRY(store.append_samples(r.id(), samples), "import 0.1.0 run {}", r.id());
    ++n;
  }
  const std::string done = state_dir + "/runs.imported-0.1.0";
  std::filesystem::rename(dir, done, ec);
  if (ec) return make_error("import 0.1.0 runs: rename {} to {}: {}", dir, done, ec.message());
  logger("controller")->warn("imported {} run(s) of firedrill 0.1.0 from {} into the store; the files are kept in {}",
                             n, dir, done);
  return n;
}

}  // namespace firedrill::controller
