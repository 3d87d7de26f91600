// The enrollment part of the controller's store (controller/enroll writes and reads
// it): join tokens, kept by the SHA-256 of their secret (the secret itself is shown
// once, never stored), the tags each enrolled agent's token was limited to, and the
// agents whose certificates are revoked. Store (store.h)
// holds these beside the rest, in both the SQLite and the PostgreSQL store.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/time.h"

namespace firedrill::controller {

struct JoinTokenRow {
  std::string secret_sha256;  // hex, the key
  std::map<std::string, std::string> tags;
  uint32_t uses_allowed = 1;
  uint32_t uses = 0;
  WallTime created_at;
  WallTime expires_at;
  std::string created_by;
};

struct AgentRevocationRow {
  std::string agent_id;
  WallTime revoked_at;
  std::string revoked_by;
  std::string reason;
};

// What an agent enrolled with: its token's tags (empty: a token for any tags), which
// the agent's stream must still fit at every Hello (controller/session/enrolled_tags.h).
struct AgentEnrollmentRow {
  std::string agent_id;  // the key
  std::map<std::string, std::string> tags;
  std::string token_id;  // the token's id (`firedrill tokens list`)
  WallTime enrolled_at;
};

class EnrollmentRecords {
 public:
  virtual ~EnrollmentRecords() = default;

  virtual Result<void> put_join_token(const JoinTokenRow& row) = 0;
  virtual Result<std::optional<JoinTokenRow>> join_token(const std::string& secret_sha256) = 0;
  virtual Result<std::vector<JoinTokenRow>> join_tokens() = 0;  // oldest first
  // Takes one use of the token, atomically: false (nothing changed) when it is gone,
  // expired at `now` or used up.
  virtual Result<bool> use_join_token(const std::string& secret_sha256, WallTime now) = 0;
  // Removes the tokens whose hash starts with `prefix` (at least 8 hex digits); how many.
  virtual Result<size_t> remove_join_tokens(const std::string& prefix) = 0;

  // The last enrollment of an agent id replaces the one before.
  virtual Result<void> put_agent_enrollment(const AgentEnrollmentRow& row) = 0;
  virtual Result<std::vector<AgentEnrollmentRow>> agent_enrollments() = 0;  // by id

  // Revocation is by agent id and never undone by the store (a second one keeps the first).
  virtual Result<void> revoke_agent(const AgentRevocationRow& row) = 0;
  virtual Result<std::vector<AgentRevocationRow>> agent_revocations() = 0;  // by id
};

}  // namespace firedrill::controller
