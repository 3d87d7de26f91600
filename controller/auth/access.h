// Roles and approval policy, from the controller's configuration (never from an
// experiment file or the caller's environment).
//
//   viewer    reads: agents, plans, runs, status
//   operator  inject, run, abort, halt and release (every operator may halt)
//   approver  approves or rejects runs waiting for approval
//   admin     everything above, and schedules (and, as they come to the API, keys and
//             policy)
//
// Who holds a role is a list of entries: a user name ("alice"), "group:NAME" (a Unix
// group, primary or supplementary), "uid:N" (a uid, also one without a user entry) or
// "cn:NAME" (a client certificate's common name). Root and the user the controller runs
// as are always admins: they own the state directory and its keys anyway. Members of
// the API socket's group (--api-group) are operators, as the socket's mode promises.
//
// Approval policy per environment (the experiment's `environment`), "ENV=N" or
// "ENV=N:WHO,WHO": runs in ENV wait for N approvals from distinct people, each of them
// an approver matching one of WHO (any approver when none is given). "*" stands for
// every environment without a rule of its own. The experiment's own `approvals` can
// ask for more, never for less. Nobody approves a run they started.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "controller/auth/identity.h"

namespace firedrill::auth {

enum class Action { kRead, kOperate, kHalt, kApprove, kAdmin };
std::string action_name(Action a);

struct AccessConfig {
  std::vector<std::string> viewers, operators, approvers, admins;
  std::vector<std::string> approval_policy;  // "ENV=N[:WHO,...]"
  std::string api_group;                     // the API socket's group: operators
  uid_t controller_uid = 0;                  // the user the controller runs as: admin
};

struct ApprovalRule {
  std::string environment;  // "*": the others
  uint32_t required = 0;
  std::vector<std::string> approvers;  // entries as above; empty: any approver
  std::string describe() const;        // "2 approvals from group:sre-leads"
};

class Access {
 public:
  // Checks every entry's form; an error names the setting and the entry.
  static Result<Access> make(AccessConfig config);

  // May `caller` do `action`? The error says who, what and which role it needs.
  Result<void> allow(const Caller& caller, Action action) const;
  // The rule for runs in `environment`, if any.
  std::optional<ApprovalRule> rule_for(const std::string& environment) const;
  // May `caller` approve (or reject) a run in `environment` started by `started_by`?
  Result<void> may_approve(const Caller& caller, const std::string& environment, const std::string& started_by) const;
  // The roles `caller` holds, for messages: "viewer, operator".
  std::string roles_of(const Caller& caller) const;
  // One line for the daemon's start log.
  std::string describe() const;

 private:
  enum Role { kViewer = 1, kOperator = 2, kApprover = 4, kAdmin = 8 };
  int roles(const Caller& caller) const;
  static bool matches(const Caller& caller, const std::string& entry);

  AccessConfig config_;
  std::vector<ApprovalRule> rules_;
};

}  // namespace firedrill::auth
