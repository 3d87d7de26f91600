#include "tests/e2e/lab_drill.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <sstream>

#include "firedrill/v1/run.grpc.pb.h"

namespace firedrill::e2e {

WallTime wall(const google::protobuf::Timestamp& t) {
  return WallTime(std::chrono::seconds(t.seconds()) + std::chrono::nanoseconds(t.nanos()));
}

nlohmann::json prometheus(const Lab&, const std::string& api_path,
                          const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string cmd = "nsenter --net=/run/netns/" + std::string(Lab::kName) + "-ops curl -sS -m 5 -G " +
                    quote("http://10.212.0.10:9090" + api_path);
  for (const auto& [k, v] : fields) cmd += " --data-urlencode " + quote(k + "=" + v);
  auto r = sh(cmd);
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  if (r.status != 0 || j.is_discarded() || j.value("status", "") != "success") {
    ADD_FAILURE() << "Prometheus " << api_path << " (" << r.status << "): " << r.output;
    return nullptr;
  }
  return j["data"];
}

std::map<std::string, double> prometheus_values(const Lab& lab, const std::string& query, const std::string& label) {
  std::map<std::string, double> out;
  auto d = prometheus(lab, "/api/v1/query", {{"query", query}});
  if (d.is_null()) return out;
  for (const auto& s : d["result"]) {
    out[s["metric"].value(label, "")] = std::stod(s["value"][1].get<std::string>());
  }
  return out;
}

Drill drill(const Lab& lab, const std::string& file) {
  Drill d;
  d.cli = lab.firedrill("run " + quote(file) + " --quiet");
  std::smatch m;
  static const std::regex run_re(R"(^run (\S+) of )");
  std::istringstream lines(d.cli.output);
  for (std::string line; std::getline(lines, line);) {
    if (std::regex_search(line, m, run_re)) {
      d.id = m[1];
      break;
    }
  }
  if (d.id.empty()) {
    ADD_FAILURE() << "firedrill run " << file << " started no run (" << d.cli.status << "):\n" << d.cli.output;
    return d;
  }
  auto stub = v1::RunService::NewStub(grpc::CreateChannel("unix:" + lab.api(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetRunRequest req;
  req.set_run_id(d.id);
  req.set_with_samples(true);
  auto st = stub->GetRun(&ctx, req, &d.record);
  EXPECT_TRUE(st.ok()) << "GetRun " << d.id << ": " << st.error_message();
  auto slo_at = d.cli.output.find("\n  SLO");
  std::printf("%s: %s\n", file.c_str(), d.cli.output.substr(slo_at == std::string::npos ? 0 : slo_at).c_str());
  return d;
}

const v1::SloRow* slo(const v1::RunRecord& r, const std::string& objective, const std::string& probe) {
  for (const auto& row : r.slo()) {
    if (row.objective() == objective && row.probe() == probe) return &row;
  }
  return nullptr;
}

const v1::DataReadBack* data(const v1::RunRecord& r, const std::string& probe) {
  for (const auto& d : r.data()) {
    if (d.probe() == probe) return &d;
  }
  return nullptr;
}

std::vector<const v1::ProbeSample*> during_fault(const v1::RunRecord& r, const std::string& probe) {
  std::vector<const v1::ProbeSample*> out;
  auto from = wall(r.fault_start()), to = wall(r.fault_end());
  for (const auto& s : r.samples()) {
    auto at = wall(s.start());
    auto end = at + std::chrono::seconds(s.duration().seconds()) + std::chrono::nanoseconds(s.duration().nanos());
    if (s.probe() == probe && at >= from && end < to) out.push_back(&s);
  }
  return out;
}

}  // namespace firedrill::e2e
