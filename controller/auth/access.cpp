#include "controller/auth/access.h"

#include <algorithm>
#include <charconv>

#include <fmt/ranges.h>

namespace firedrill::auth {
namespace {

bool has_prefix(const std::string& s, std::string_view p) { return s.size() > p.size() && s.compare(0, p.size(), p) == 0; }

std::optional<uint32_t> number(std::string_view text) {
  uint32_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

Result<void> check_entry(const std::string& setting, const std::string& entry) {
  auto bad = [&](const char* why) { return make_error("{} '{}': {}", setting, entry, why); };
  if (entry.empty()) return bad("an empty entry");
  if (entry.find_first_of(" \t,") != std::string::npos) return bad("one user, group:NAME, uid:N or cn:NAME per entry");
  if (entry.rfind("uid:", 0) == 0 && !number(std::string_view(entry).substr(4))) return bad("uid:N takes a number");
  for (std::string_view p : {"group:", "cn:", "uid:"}) {
    if (entry.rfind(p, 0) == 0 && entry.size() == p.size()) return bad("a name is missing after the prefix");
  }
  if (entry.find(':') != std::string::npos && !has_prefix(entry, "group:") && !has_prefix(entry, "cn:") &&
      !has_prefix(entry, "uid:")) {
    return bad("the prefixes are group:, uid: and cn:");
  }
  return ok();
}

Result<ApprovalRule> parse_rule(const std::string& text) {
  auto bad = [&](const std::string& why) { return make_error("approval policy '{}': {} (ENV=N or ENV=N:WHO,WHO)", text, why); };
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) return bad("no environment");
  ApprovalRule r;
  r.environment = text.substr(0, eq);
  std::string rest = text.substr(eq + 1);
  auto colon = rest.find(':');
  auto count = number(std::string_view(rest).substr(0, colon));
  if (!count) return bad("the count of approvals is not a number");
  if (*count > 16) return bad("more than 16 approvals");
  r.required = *count;
  if (colon != std::string::npos) {
    std::string who = rest.substr(colon + 1);
    size_t start = 0;
    while (start <= who.size()) {
      auto end = who.find(',', start);
      std::string entry = who.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (auto c = check_entry("approval policy " + r.environment, entry); !c) return c.error();
      r.approvers.push_back(entry);
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return r;
}

}  // namespace

std::string action_name(Action a) {
  switch (a) {
    case Action::kRead: return "read";
    case Action::kOperate: return "operate";
    case Action::kHalt: return "halt";
    case Action::kApprove: return "approve";
    case Action::kAdmin: return "administer";
  }
  return "?";
}

std::string ApprovalRule::describe() const {
  if (approvers.empty()) return fmt::format("{} approval(s) from any approver", required);
  return fmt::format("{} approval(s) from {}", required, fmt::join(approvers, ", "));
}

Result<Access> Access::make(AccessConfig config) {
  for (auto [setting, list] : {std::pair{"viewer", &config.viewers}, std::pair{"operator", &config.operators},
                               std::pair{"approver", &config.approvers}, std::pair{"admin", &config.admins}}) {
    for (const auto& e : *list) {
      if (auto c = check_entry(setting, e); !c) return c.error();
    }
  }
  Access a;
  for (const auto& text : config.approval_policy) {
    auto rule = parse_rule(text);
    if (!rule) return rule.error();
    for (const auto& r : a.rules_) {
      if (r.environment == rule->environment) return make_error("approval policy: environment {} given twice", rule->environment);
    }
    a.rules_.push_back(std::move(*rule));
  }
  a.config_ = std::move(config);
  return a;
}

bool Access::matches(const Caller& caller, const std::string& entry) {
  if (has_prefix(entry, "group:")) {
    auto g = entry.substr(6);
    return std::find(caller.groups.begin(), caller.groups.end(), g) != caller.groups.end();
  }
  if (has_prefix(entry, "uid:")) return caller.uid && number(std::string_view(entry).substr(4)) == *caller.uid;
  return caller.name == entry;  // a user name, or cn:NAME (a certificate's name always carries the prefix)
}

int Access::roles(const Caller& caller) const {
  int r = 0;
  auto any = [&](const std::vector<std::string>& list) {
    return std::any_of(list.begin(), list.end(), [&](const std::string& e) { return matches(caller, e); });
  };
  if (caller.uid && (*caller.uid == 0 || *caller.uid == config_.controller_uid)) r |= kAdmin;
  if (any(config_.admins)) r |= kAdmin;
  if (any(config_.operators)) r |= kOperator;
  if (!config_.api_group.empty() && matches(caller, "group:" + config_.api_group)) r |= kOperator;
  if (any(config_.approvers)) r |= kApprover;
  if (any(config_.viewers)) r |= kViewer;
  if (r & kAdmin) r |= kOperator | kApprover;
  if (r) r |= kViewer;
  return r;
}

std::string Access::roles_of(const Caller& caller) const {
  int r = roles(caller);
  std::vector<std::string> names;
  if (r & kViewer) names.push_back("viewer");
  if (r & kOperator) names.push_back("operator");
  if (r & kApprover) names.push_back("approver");
  if (r & kAdmin) names.push_back("admin");
  return names.empty() ? "no role" : fmt::format("{}", fmt::join(names, ", "));
}

Result<void> Access::allow(const Caller& caller, Action action) const {
  int r = roles(caller);
  int need = 0;
  const char* role = "";
  switch (action) {
    case Action::kRead: need = kViewer; role = "viewer"; break;
    case Action::kOperate:
    case Action::kHalt: need = kOperator; role = "operator"; break;
    case Action::kApprove: need = kApprover; role = "approver"; break;
    case Action::kAdmin: need = kAdmin; role = "admin"; break;
  }
  if (r & need) return ok();
  return make_error("{} may not {}: that needs the {} role ({} has {}; roles are set in the controller's configuration)",
                    caller.describe(), action_name(action), role, caller.name, roles_of(caller));
}

std::optional<ApprovalRule> Access::rule_for(const std::string& environment) const {
  const ApprovalRule* fallback = nullptr;
  for (const auto& r : rules_) {
    if (r.environment == environment) return r;
    if (r.environment == "*") fallback = &r;
  }
  if (fallback) return *fallback;
  return std::nullopt;
}

Result<void> Access::may_approve(const Caller& caller, const std::string& environment, const std::string& started_by) const {
  if (auto a = allow(caller, Action::kApprove); !a) return a;
  if (caller.name == started_by) {
    return make_error("{} started this run and may not approve it (approvals come from someone else)", caller.describe());
  }
  auto rule = rule_for(environment);
  if (rule && !rule->approvers.empty() &&
      std::none_of(rule->approvers.begin(), rule->approvers.end(), [&](const std::string& e) { return matches(caller, e); })) {
    return make_error("{} may not approve runs in environment '{}': the policy asks for {}", caller.describe(),
                      environment.empty() ? "(none)" : environment, rule->describe());
  }
  return ok();
}

std::string Access::describe() const {
  std::string s = fmt::format("admins: root, uid {}{}{}", config_.controller_uid,
                              config_.admins.empty() ? "" : ", ", fmt::join(config_.admins, ", "));
  if (!config_.operators.empty() || !config_.api_group.empty()) {
    s += fmt::format("; operators: {}{}{}", fmt::join(config_.operators, ", "),
                     config_.operators.empty() || config_.api_group.empty() ? "" : ", ",
                     config_.api_group.empty() ? "" : "group:" + config_.api_group);
  }
  if (!config_.approvers.empty()) s += fmt::format("; approvers: {}", fmt::join(config_.approvers, ", "));
  if (!config_.viewers.empty()) s += fmt::format("; viewers: {}", fmt::join(config_.viewers, ", "));
  for (const auto& r : rules_) s += fmt::format("; runs in {}: {}", r.environment, r.describe());
  return s;
}

}  // namespace firedrill::auth
