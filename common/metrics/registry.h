// Metrics in the Prometheus text exposition format (version 0.0.4), for the agent's and
// the controller's /metrics. Debian 12 has no prometheus-cpp; this is the small part of
// it that firedrill needs: counters, gauges and histograms in labelled families, and
// collectors that fill families from the daemon's own state when a scrape comes.
//
// Only measured numbers are exported: a family that no code sets has no samples, and a
// series that stopped existing (a fault reverted) is removed by its collector with
// clear(), rather than left at its last value.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace firedrill::metrics {

class Counter {
 public:
  void inc(double by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  // For a counter mirrored from a monotonic source read at scrape time (an eBPF map).
  void set(double total) { value_.store(total, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  void dec(double by = 1) { value_.fetch_sub(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: upper bounds, increasing; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), last is +Inf
  double sum_ = 0;
};

// Seconds, for latencies from a millisecond to a minute.
std::vector<double> latency_buckets();

class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  virtual void render(std::string& out) const = 0;
};

// One metric name with its HELP, TYPE and label names, and one series per label values.
template <class M>
class Family : public FamilyBase {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

  // The series with these label values (in label_names order), made on first use.
  // A count that does not match label_names is a programming error (std::logic_error).
  M& with(const std::vector<std::string>& values);
  // Drops every series (a collector refilling the family from current state).
  void clear();

  const std::string& name() const { return name_; }
  void render(std::string& out) const override;

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> series_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  // Names must be valid Prometheus metric/label names and unique in the registry
  // (std::logic_error otherwise: these are fixed at build time).
  CounterFamily& counter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  GaugeFamily& gauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  HistogramFamily& histogram(const std::string& name, const std::string& help, std::vector<std::string> labels,
                             std::vector<double> bounds);

  // Run, in the order added, at the start of every render(): they set the families
  // that mirror the daemon's state.
  void on_scrape(std::function<void()> collector);

  // The text exposition format, families in the order they were made.
  std::string render() const;

 private:
  template <class M>
  Family<M>& add(std::unique_ptr<Family<M>> family, const std::vector<std::string>& labels);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
  std::vector<std::string> names_;
  std::vector<std::function<void()>> collectors_;
};

// Escaping per the format: label values escape \ " and newline; HELP escapes \ and newline.
std::string escape_label_value(const std::string& v);
std::string escape_help(const std::string& v);
// A sample value: integers without exponent, +Inf, -Inf, NaN.
std::string format_value(double v);

}  // namespace firedrill::metrics
