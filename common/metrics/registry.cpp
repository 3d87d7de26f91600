#include "common/metrics/registry.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace firedrill::metrics {
namespace {

bool valid_name(const std::string& n, bool label) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':');
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return !(label && n.rfind("__", 0) == 0);
}

template <class M>
const char* type_name();
template <>
const char* type_name<Counter>() { return "counter"; }
template <>
const char* type_name<Gauge>() { return "gauge"; }
template <>
const char* type_name<Histogram>() { return "histogram"; }

// `{a="x",b="y"` without the closing brace, or "" with no labels and no extra.
void append_labels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                   const char* extra_name = nullptr, const std::string& extra_value = {}) {
  if (names.empty() && !extra_name) return;
  out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out += '"';
  }
  if (extra_name) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += escape_label_value(extra_value);
    out += '"';
  }
  out += '}';
}

void sample(std::string& out, const std::string& name, const std::vector<std::string>& names,
            const std::vector<std::string>& values, double v, const char* extra_name = nullptr,
            const std::string& extra_value = {}) {
  out += name;
  append_labels(out, names, values, extra_name, extra_value);
  out += ' ';
  out += format_value(v);
  out += '\n';
}

}  // namespace

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  // Buckets are "less than or equal": v lands in the first bound >= v.
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  std::lock_guard lock(mu_);
  ++counts_[i];
  sum_ += v;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::lock_guard lock(mu_);
  Snapshot s;
  s.bounds = bounds_;
  uint64_t acc = 0;
  for (auto c : counts_) {
    acc += c;
    s.cumulative.push_back(acc);
  }
  s.count = acc;
  s.sum = sum_;
  return s;
}

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

template <class M>
M& Family<M>::with(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    throw std::logic_error(fmt::format("metric {}: {} label values for {} labels", name_, values.size(),
                                       label_names_.size()));
  }
  std::lock_guard lock(mu_);
  auto& slot = series_[values];
  if (!slot) {
    if constexpr (std::is_same_v<M, Histogram>) slot = std::make_unique<M>(bounds_);
    else slot = std::make_unique<M>();
  }
  return *slot;
}

template <class M>
void Family<M>::clear() {
  std::lock_guard lock(mu_);
  series_.clear();
}

template <class M>
void Family<M>::render(std::string& out) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name_, escape_help(help_), name_, type_name<M>());
  std::lock_guard lock(mu_);
  for (auto& [values, m] : series_) {
    if constexpr (std::is_same_v<M, Histogram>) {
      auto s = m->snapshot();
      for (size_t i = 0; i < s.bounds.size(); ++i) {
        sample(out, name_ + "_bucket", label_names_, values, static_cast<double>(s.cumulative[i]), "le",
               format_value(s.bounds[i]));
      }
      sample(out, name_ + "_bucket", label_names_, values, static_cast<double>(s.count), "le", "+Inf");
      sample(out, name_ + "_sum", label_names_, values, s.sum);
      sample(out, name_ + "_count", label_names_, values, static_cast<double>(s.count));
    } else {
      sample(out, name_, label_names_, values, m->value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <class M>
Family<M>& Registry::add(std::unique_ptr<Family<M>> family, const std::vector<std::string>& labels) {
  const auto& name = family->name();
  if (!valid_name(name, false)) throw std::logic_error(fmt::format("metric name '{}' is not valid", name));
  for (auto& l : labels) {
    if (!valid_name(l, true) || l == "le" || l == "quantile") {
      throw std::logic_error(fmt::format("metric {}: label name '{}' is not valid", name, l));
    }
  }
  std::lock_guard lock(mu_);
  if (std::find(names_.begin(), names_.end(), name) != names_.end()) {
    throw std::logic_error(fmt::format("metric {} registered twice", name));
  }
  names_.push_back(name);
  auto& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

CounterFamily& Registry::counter(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  auto copy = labels;
  return add(std::make_unique<CounterFamily>(name, help, std::move(labels)), copy);
}

GaugeFamily& Registry::gauge(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  auto copy = labels;
  return add(std::make_unique<GaugeFamily>(name, help, std::move(labels)), copy);
}

HistogramFamily& Registry::histogram(const std::string& name, const std::string& help,
                                     std::vector<std::string> labels, std::vector<double> bounds) {
  if (!std::is_sorted(bounds.begin(), bounds.end()) ||
      std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end()) {
    throw std::logic_error(fmt::format("histogram {}: bucket bounds must increase", name));
  }
  auto copy = labels;
  return add(std::make_unique<HistogramFamily>(name, help, std::move(labels), std::move(bounds)), copy);
}

void Registry::on_scrape(std::function<void()> collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::render() const {
  // One scrape at a time: collectors clear and refill families.
  std::lock_guard lock(mu_);
  for (auto& c : collectors_) c();
  std::string out;
  for (auto& f : families_) f->render(out);
  return out;
}

}  // namespace firedrill::metrics
