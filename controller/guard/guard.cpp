#include "controller/guard/guard.h"

#include <algorithm>
#include <map>

namespace firedrill::controller {
namespace {

std::string host_list(const std::vector<std::string>& hosts) {
  constexpr size_t kShown = 10;
  std::string out;
  for (size_t i = 0; i < hosts.size() && i < kShown; ++i) out += (i ? ", " : "") + hosts[i];
  if (hosts.size() > kShown) out += fmt::format(" and {} more", hosts.size() - kShown);
  return out;
}

std::string pct(double p) { return fmt::format("{:.4g}%", p); }

class Verdict {
 public:
  void add(const char* rule, std::string limit, std::vector<std::string> hosts, std::string what) {
    std::sort(hosts.begin(), hosts.end());
    hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
    auto* v = out_.add_violations();
    v->set_rule(rule);
    v->set_limit(limit);
    v->set_message(hosts.empty() ? fmt::format("{} (limit: {}): {}", rule, limit, what)
                                 : fmt::format("{} (limit: {}): {}: {}", rule, limit, what, host_list(hosts)));
    for (auto& h : hosts) v->add_hosts(h);
  }
  v1::GuardVerdict done() {
    out_.set_allowed(out_.violations_size() == 0);
    return std::move(out_);
  }

 private:
  v1::GuardVerdict out_;
};

}  // namespace

Result<void> GuardPolicy::validate() const {
  for (auto& s : protected_selectors) FD_TRY(Selector::parse(s), "protected selector");
  if (budget_percent < 0 || budget_percent > 100) return make_error("fleet budget {}% is outside [0, 100]", budget_percent);
  return ok();
}

v1::GuardVerdict check_guard(const GuardPolicy& policy, const GuardInput& in) {
  Verdict verdict;
  std::map<std::string, const Host*> by_id;
  for (auto& h : in.fleet) by_id[h.id] = &h;
  const double fleet_size = static_cast<double>(in.fleet.size());
  const auto& r = in.radius;
  const auto& targets = in.targets;

  if (in.halted) {
    verdict.add("halted", "no runs while halted", {},
                fmt::format("the fleet is halted ({}); run `firedrill release` first",
                            in.halted_reason.empty() ? "no reason given" : in.halted_reason));
  }

  std::vector<std::string> unknown;
  for (auto& t : targets) {
    if (!by_id.count(t)) unknown.push_back(t);
  }
  if (!unknown.empty()) {
    verdict.add("live_targets", "every target is a live agent", unknown, "targets that are not live agents");
  }

  if (r.max_hosts() > 0 && targets.size() > r.max_hosts()) {
    verdict.add("max_hosts", fmt::format("{} hosts", r.max_hosts()), targets,
                fmt::format("{} targets", targets.size()));
  }

  if (r.max_percent() > 0 && fleet_size > 0) {
    double p = 100.0 * static_cast<double>(targets.size()) / fleet_size;
    if (p > r.max_percent() + 1e-9) {
      verdict.add("max_percent", fmt::format("{} of {} live hosts", pct(r.max_percent()), in.fleet.size()),
                  targets, fmt::format("{} targets are {} of the fleet", targets.size(), pct(p)));
    }
  }

  auto value_of = [&](const std::string& host, const std::string& key) -> std::string {
    auto it = by_id.find(host);
    if (it == by_id.end()) return "(unknown)";
    auto t = it->second->tags.find(key);
    return t == it->second->tags.end() ? "(no " + key + ")" : t->second;
  };

  if (r.has_max_domains() && !r.max_domains().key().empty()) {
    const auto& key = r.max_domains().key();
    std::map<std::string, std::vector<std::string>> domains;
    for (auto& t : targets) domains[value_of(t, key)].push_back(t);
    if (domains.size() > r.max_domains().count()) {
      std::string names;
      for (auto& [v, hs] : domains) names += (names.empty() ? "" : ", ") + v;
      verdict.add("max_domains", fmt::format("{} value(s) of {}", r.max_domains().count(), key), targets,
                  fmt::format("targets span {} values of {} ({})", domains.size(), key, names));
    }
  }

  std::vector<std::string> protectors(r.protected_selectors().begin(), r.protected_selectors().end());
  protectors.insert(protectors.end(), policy.protected_selectors.begin(), policy.protected_selectors.end());
  for (auto& text : protectors) {
    auto sel = Selector::parse(text);
    if (!sel) {
      verdict.add("protected", text, {}, sel.error().message);
      continue;
    }
    std::vector<std::string> hit;
    for (auto& t : targets) {
      auto it = by_id.find(t);
      if (it != by_id.end() && sel->matches(it->second->tags)) hit.push_back(t);
    }
    if (!hit.empty()) {
      verdict.add("protected", fmt::format("never target \"{}\"", text), hit, "protected hosts among the targets");
    }
  }

  if (r.has_keep_untouched() && !r.keep_untouched().key().empty()) {
    const auto& key = r.keep_untouched().key();
    std::set<std::string> all, touched;
    for (auto& h : in.fleet) {
      if (auto t = h.tags.find(key); t != h.tags.end()) all.insert(t->second);
    }
    std::vector<std::string> touching;
    for (auto& t : targets) {
      auto v = value_of(t, key);
      if (all.count(v)) {
        touched.insert(v);
        touching.push_back(t);
      }
    }
    size_t untouched = all.size() - touched.size();
    if (untouched < r.keep_untouched().min()) {
      verdict.add("keep_untouched", fmt::format("at least {} value(s) of {} untouched", r.keep_untouched().min(), key),
                  touching,
                  fmt::format("{} of {} values of {} would stay untouched", untouched, all.size(), key));
    }
  }

  if (policy.budget_hosts > 0 || policy.budget_percent > 0) {
    std::set<std::string> under(in.busy.begin(), in.busy.end());
    std::vector<std::string> added;
    for (auto& t : targets) {
      if (under.insert(t).second) added.push_back(t);
    }
    if (policy.budget_hosts > 0 && under.size() > policy.budget_hosts) {
      verdict.add("fleet_budget", fmt::format("{} hosts under fault across all runs", policy.budget_hosts), added,
                  fmt::format("{} hosts are already under fault; these {} would make {}", in.busy.size(),
                              added.size(), under.size()));
    }
    if (policy.budget_percent > 0 && fleet_size > 0) {
      double p = 100.0 * static_cast<double>(under.size()) / fleet_size;
      if (p > policy.budget_percent + 1e-9) {
        verdict.add("fleet_budget", fmt::format("{} of the live fleet under fault across all runs", pct(policy.budget_percent)),
                    added, fmt::format("{} hosts ({}) would be under fault", under.size(), pct(p)));
      }
    }
  }

  std::vector<std::map<std::string, std::string>> peers;
  if (!policy.controller_domain.empty() && policy.live_peers) peers = policy.live_peers();
  for (auto& [key, value] : policy.controller_domain) {
    bool peer_elsewhere = std::any_of(peers.begin(), peers.end(), [&, &key = key, &value = value](auto& p) {
      auto it = p.find(key);
      return it != p.end() && it->second != value;
    });
    if (peer_elsewhere) continue;
    std::vector<std::string> hit;
    for (auto& t : targets) {
      if (value_of(t, key) == value) hit.push_back(t);
    }
    if (!hit.empty()) {
      verdict.add("controller_domain", fmt::format("the controller lives in {}={} and no live controller lives elsewhere", key, value),
                  hit, "targets in the controller's own failure domain");
    }
  }
  return verdict.done();
}

std::string describe(const v1::GuardVerdict& verdict) {
  if (verdict.allowed()) return "guard allows";
  std::string out = "guard refused:";
  for (auto& v : verdict.violations()) out += " [" + v.message() + "]";
  return out;
}

}  // namespace firedrill::controller
