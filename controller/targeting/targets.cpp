#include "controller/targeting/targets.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <random>

namespace firedrill::controller {
namespace {

// "name(arg)" -> arg, or an error naming the expected form.
Result<std::string_view> argument(std::string_view text, std::string_view name) {
  if (text.size() < name.size() + 2 || text.substr(0, name.size()) != name || text[name.size()] != '(' ||
      text.back() != ')') {
    return make_error("mode '{}': expected {}(...)", text, name);
  }
  return text.substr(name.size() + 1, text.size() - name.size() - 2);
}

}  // namespace

Result<v1::TargetMode> parse_mode(std::string_view text) {
  v1::TargetMode m;
  if (text.empty() || text == "all") {
    m.set_all(true);
    return m;
  }
  if (text.starts_with("count")) {
    FD_ASSIGN(arg, argument(text, "count"), "target mode");
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), n);
    if (ec != std::errc() || p != arg.data() + arg.size() || n == 0) {
      return make_error("mode '{}': count needs a whole number of hosts above 0", text);
    }
    m.set_count(n);
    return m;
  }
  if (text.starts_with("percent")) {
    FD_ASSIGN(arg, argument(text, "percent"), "target mode");
    std::string a(arg);
    if (!a.empty() && a.back() == '%') a.pop_back();
    char* end = nullptr;
    double p = std::strtod(a.c_str(), &end);
    if (a.empty() || end != a.c_str() + a.size() || !(p > 0 && p <= 100)) {
      return make_error("mode '{}': percent needs a number in (0, 100]", text);
    }
    m.set_percent(p);
    return m;
  }
  if (text.starts_with("one-per") || text.starts_with("one_per")) {
    FD_ASSIGN(arg, argument(text, text.substr(0, 7)), "target mode");
    if (arg.empty()) return make_error("mode '{}': one-per needs a tag key, as in one-per(rack)", text);
    m.set_one_per(std::string(arg));
    return m;
  }
  return make_error("mode '{}' is not one of: all, count(N), percent(P), one-per(KEY)", text);
}

std::string format_mode(const v1::TargetMode& mode) {
  switch (mode.mode_case()) {
    case v1::TargetMode::kCount: return fmt::format("count({})", mode.count());
    case v1::TargetMode::kPercent: return fmt::format("percent({})", mode.percent());
    case v1::TargetMode::kOnePer: return fmt::format("one-per({})", mode.one_per());
    default: return "all";
  }
}

Result<Resolution> resolve(const std::vector<Host>& fleet, const v1::Targets& targets) {
  if (!targets.from_command().empty()) {
    return make_error("from_command \"{}\" is run by an experiment's preflight; here it selects nothing",
                      targets.from_command());
  }
  FD_ASSIGN(selector, Selector::parse(targets.selector()), "targets");
  std::vector<const Host*> matched;
  std::string what = targets.selector().empty() ? std::string("the empty selector") : "selector \"" + targets.selector() + "\"";
  if (targets.hosts_size() > 0) {
    if (!targets.selector().empty()) return make_error("targets name hosts and a selector: give one");
    std::vector<std::string> missing;
    for (const auto& id : targets.hosts()) {
      auto it = std::find_if(fleet.begin(), fleet.end(), [&](const Host& h) { return h.id == id; });
      if (it == fleet.end()) missing.push_back(id);
      else if (std::find(matched.begin(), matched.end(), &*it) == matched.end()) matched.push_back(&*it);
    }
    if (!missing.empty()) {
      return make_error("host(s) {} are not among the {} live agents", fmt::join(missing, ", "), fleet.size());
    }
    what = fmt::format("hosts {}", fmt::join(targets.hosts(), ","));
  } else {
    for (auto& h : fleet) {
      if (selector.matches(h.tags)) matched.push_back(&h);
    }
  }
  std::sort(matched.begin(), matched.end(), [](auto* a, auto* b) { return a->id < b->id; });
  Resolution out;
  for (auto* h : matched) out.matched.push_back(h->id);
  if (matched.empty()) {
    return make_error("{} matches none of the {} live agents", what, fleet.size());
  }
  // Seeded choice keeps runs reproducible from their record; seed 0 keeps id order.
  std::vector<const Host*> order = matched;
  if (targets.seed() != 0) {
    std::mt19937_64 rng(targets.seed());
    std::shuffle(order.begin(), order.end(), rng);
  }
  const auto& mode = targets.mode();
  std::vector<const Host*> chosen;
  switch (mode.mode_case()) {
    case v1::TargetMode::kCount:
      if (mode.count() == 0) return make_error("mode count(0) chooses no host");
      if (mode.count() > order.size()) {
        return make_error("mode count({}) needs {} hosts but {} matches only {}", mode.count(), mode.count(),
                          what, order.size());
      }
      chosen.assign(order.begin(), order.begin() + mode.count());
      break;
    case v1::TargetMode::kPercent: {
      double p = mode.percent();
      if (!(p > 0 && p <= 100)) return make_error("mode percent({}) is outside (0, 100]", p);
      auto n = static_cast<size_t>(std::ceil(p * static_cast<double>(order.size()) / 100.0 - 1e-9));
      n = std::clamp<size_t>(n, 1, order.size());
      chosen.assign(order.begin(), order.begin() + n);
      break;
    }
    case v1::TargetMode::kOnePer: {
      const std::string& key = mode.one_per();
      if (key.empty()) return make_error("mode one-per() needs a tag key");
      std::map<std::string, const Host*> per;
      for (auto* h : order) {
        auto it = h->tags.find(key);
        if (it != h->tags.end()) per.emplace(it->second, h);
      }
      if (per.empty()) return make_error("mode one-per({}): none of the {} hosts {} matches has tag '{}'",
                                         key, order.size(), what, key);
      for (auto& [v, h] : per) chosen.push_back(h);
      break;
    }
    default:
      chosen = order;
  }
  std::sort(chosen.begin(), chosen.end(), [](auto* a, auto* b) { return a->id < b->id; });
  for (auto* h : chosen) out.targets.push_back(h->id);
  return out;
}

}  // namespace firedrill::controller
