// Probes watch the service from the controller, outside the blast radius. Each kind
// takes one sample at a time (blocking, bounded by its timeout) and says what it saw:
//
//   http        method, URL, expected status (default any 2xx), optional body regex;
//               a fresh connection per sample, no proxy from the environment
//   tcp         a TCP connect to host:port
//   command     argv run directly (no shell) in its own process group, expected exit
//               code and optional stdout regex; killed with its children on timeout
//   prometheus  an instant query over /api/v1/query; one scalar or one series whose
//               value compares true with the threshold
//   data        writes marker N (the sample's sequence number) with the write command;
//               exit 0 acknowledges it. read_back() runs the read command and parses
//               the markers it prints.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/spawn.h"
#include "controller/slo/slo.h"
#include "firedrill/v1/experiment.pb.h"

namespace firedrill::probes {

class Prober {
 public:
  virtual ~Prober() = default;
  // Takes sample number `seq` (1, 2, 3, ...). Never throws; failures are samples.
  virtual slo::Sample sample(uint64_t seq) = 0;
};

std::unique_ptr<Prober> make_prober(const v1::Probe& probe);

// The default interval (1s) and timeout (the interval) of a probe.
std::chrono::nanoseconds probe_interval(const v1::Probe& p);
std::chrono::nanoseconds probe_timeout(const v1::Probe& p);

// Running a command: what the command and data probes use (common/spawn.h: its own
// process group, killed with it at the timeout and after it exits).
using CommandResult = SpawnResult;
CommandResult run_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                          std::chrono::nanoseconds timeout, size_t max_output = 64 * 1024);

// The data probe's read-back: runs `read` and parses the markers it prints.
slo::DataCheck read_markers(const v1::DataProbe& data, std::chrono::nanoseconds timeout);
// Numbers separated by white space, commas, brackets or quotes; anything else is an error.
Result<std::vector<uint64_t>> parse_markers(std::string_view text);

// Prometheus: the value of an instant query's JSON answer (one scalar or one series).
Result<double> prometheus_value(std::string_view json);
bool compare(double value, v1::Comparison op, double threshold);
std::string comparison_symbol(v1::Comparison op);

}  // namespace firedrill::probes
