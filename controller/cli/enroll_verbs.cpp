// `firedrill tokens ...` and `firedrill agents revoke|revoked`: the operators' side of
// enrollment (EnrollmentAdminService, for admins).
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "common/join_token.h"
#include "common/time.h"
#include "controller/cli/client.h"
#include "controller/cli/run_cli.h"
#include "controller/cli/verbs.h"
#include "firedrill/v1/enroll_admin.grpc.pb.h"

namespace firedrill::controller {
namespace po = boost::program_options;
namespace {

using runner::print_json;

constexpr const char* kTokensUsage = R"(firedrill tokens - join tokens for enrolling hosts

SYNOPSIS
  firedrill tokens create --ttl DURATION [--uses N] [--tags 'KEY=VALUE,...']
  firedrill tokens list [--json]
  firedrill tokens revoke ID

DESCRIPTION
  create prints a join token (alone on stdout, for TOKEN=$(firedrill tokens create
  ...)): fdjoin1.<SHA-256 of the fleet CA certificate>.<secret>. On a host,
  `firedrill-agent enroll --controller HOST:PORT --token TOKEN` uses it to get the
  host's certificate (see serve --enroll-listen, --ca-key). A token serves --uses
  enrollments (default 1) until --ttl has passed; with --tags, only agents that claim
  every one of those tags (the tags they will run with) are enrolled, and they stay
  bound to them: an enrolled agent whose stream later claims tags that do not fit its
  token's is refused until it enrolls again with a token for its tags. The controller
  keeps only the SHA-256 of the secret: a token is shown once. list shows the tokens by
  id (the first 16 hex digits of that hash); revoke removes one. Admins only.

OPTIONS)";

constexpr const char* kRevokeUsage = R"(firedrill agents revoke - refuse an agent's certificates

SYNOPSIS
  firedrill agents revoke ID [--reason TEXT]
  firedrill agents revoked [--json]

DESCRIPTION
  revoke refuses every certificate whose common name is ID, at once and for good: the
  agent's live stream is closed (PERMISSION_DENIED, naming the revocation), and new
  streams, enrollments and renewals under ID are refused, after controller restarts
  too (the store keeps the list). Revocation is by agent id, not by certificate
  serial, so the certificates the agent renewed, or a copy made by hand with
  `firedrill certs agent`, are refused alike. revoked lists them. Admins only.

OPTIONS)";

std::unique_ptr<v1::EnrollmentAdminService::Stub> stub(const std::string& api) {
  return v1::EnrollmentAdminService::NewStub(api_channel(api));
}

std::string tags_text(const google::protobuf::Map<std::string, std::string>& tags) {
  return format_tag_list(std::map<std::string, std::string>(tags.begin(), tags.end()));
}

int tokens_create(int argc, char** argv) {
  ClientOptions common;
  std::string ttl_text, tags_list;
  uint32_t uses = 1;
  po::options_description desc(kTokensUsage);
  common.add(desc);
  desc.add_options()
    ("ttl", po::value(&ttl_text), "how long the token serves (required): 15m, 1h, 7d")
    ("uses", po::value(&uses), "how many hosts may enroll with it (default 1)")
    ("tags", po::value(&tags_list), "KEY=VALUE,...: only agents claiming these tags");
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "tokens create"); rc >= 0) return rc;
  if (ttl_text.empty()) return verb_usage_error("tokens create", "--ttl is required (e.g. --ttl 1h)");
  auto ttl = parse_duration(ttl_text);
  if (!ttl) return verb_usage_error("tokens create", "--ttl: " + ttl.error().message);
  if (uses == 0) return verb_usage_error("tokens create", "--uses must be 1 or more");
  auto tags = parse_tag_list(tags_list);
  if (!tags) return verb_usage_error("tokens create", "--tags: " + tags.error().message);
  v1::CreateJoinTokenRequest req;
  req.set_ttl_seconds(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(*ttl).count()));
  req.set_uses(uses);
  for (auto& [k, v] : *tags) (*req.mutable_tags())[k] = v;
  v1::CreateJoinTokenResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = stub(common.api)->CreateJoinToken(&ctx, req, &resp); !st.ok()) {
    return call_error("tokens create", st, common.api);
  }
  if (common.json) {
    print_json(resp);
    return 0;
  }
  std::cout << resp.token() << "\n";
  const auto& i = resp.info();
  std::cerr << fmt::format("join token {}: {} use(s), expires {}{} (shown once: the controller keeps its hash)\n",
                           i.id(), i.uses_allowed(), format_utc(from_proto(i.expires_at())),
                           i.tags().empty() ? "" : ", for tags " + tags_text(i.tags()));
  return 0;
}

int tokens_list(int argc, char** argv) {
  ClientOptions common;
  po::options_description desc(kTokensUsage);
  common.add(desc);
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "tokens list"); rc >= 0) return rc;
  v1::ListJoinTokensResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = stub(common.api)->ListJoinTokens(&ctx, {}, &resp); !st.ok()) return call_error("tokens list", st, common.api);
  if (common.json) {
    print_json(resp);
    return 0;
  }
  auto now = WallClock::now();
  std::cout << fmt::format("{:<17} {:<7} {:<22} {:<16} {}\n", "ID", "USES", "EXPIRES", "BY", "TAGS");
  for (auto& t : resp.tokens()) {
    auto expires = from_proto(t.expires_at());
    std::cout << fmt::format("{:<17} {:<7} {:<22} {:<16} {}\n", t.id(), fmt::format("{}/{}", t.uses(), t.uses_allowed()),
                             expires <= now ? "expired" : format_utc(expires), t.created_by(), tags_text(t.tags()));
  }
  return 0;
}

int tokens_revoke(int argc, char** argv) {
  ClientOptions common;
  std::string id;
  po::options_description desc(kTokensUsage);
  common.add(desc, false);
  desc.add_options()("id", po::value(&id), "the token's id (tokens list)");
  po::positional_options_description pos;
  pos.add("id", 1);
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "tokens revoke", &pos); rc >= 0) return rc;
  if (id.empty()) return verb_usage_error("tokens revoke", "give the token's id (firedrill tokens list)");
  v1::RevokeJoinTokenRequest req;
  req.set_id(id);
  v1::RevokeJoinTokenResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = stub(common.api)->RevokeJoinToken(&ctx, req, &resp); !st.ok()) {
    return call_error("tokens revoke", st, common.api);
  }
  std::cout << "join token " << id << " revoked\n";
  return 0;
}

}  // namespace

int tokens_main(int argc, char** argv) {
  std::string sub = argc >= 2 ? argv[1] : "";
  if (sub == "create") return tokens_create(argc - 1, argv + 1);
  if (sub == "list") return tokens_list(argc - 1, argv + 1);
  if (sub == "revoke") return tokens_revoke(argc - 1, argv + 1);
  if (sub == "--help" || sub == "-h") {
    std::cout << kTokensUsage << "\n  (each subcommand has --help)\n";
    return 0;
  }
  return verb_usage_error("tokens", sub.empty() ? "give a subcommand: create, list or revoke"
                                                : "unknown subcommand '" + sub + "' (create, list, revoke)");
}

int agents_revoke_main(int argc, char** argv) {
  ClientOptions common;
  std::string id, reason;
  po::options_description desc(kRevokeUsage);
  common.add(desc);
  desc.add_options()
    ("id", po::value(&id), "the agent id")
    ("reason", po::value(&reason), "why, for the record and the agent's refusal");
  po::positional_options_description pos;
  pos.add("id", 1);
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "agents revoke", &pos); rc >= 0) return rc;
  if (id.empty()) return verb_usage_error("agents revoke", "give the agent id");
  v1::RevokeAgentRequest req;
  req.set_agent_id(id);
  req.set_reason(reason);
  v1::RevokeAgentResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = stub(common.api)->RevokeAgent(&ctx, req, &resp); !st.ok()) return call_error("agents revoke", st, common.api);
  std::cout << "agent " << id << " revoked" << (resp.was_connected() ? "; its stream was closed" : "") << "\n";
  return 0;
}

int agents_revoked_main(int argc, char** argv) {
  ClientOptions common;
  po::options_description desc(kRevokeUsage);
  common.add(desc);
  po::variables_map vm;
  if (int rc = parse_verb(argc, argv, desc, vm, "agents revoked"); rc >= 0) return rc;
  v1::ListRevokedAgentsResponse resp;
  grpc::ClientContext ctx;
  deadline(ctx);
  if (auto st = stub(common.api)->ListRevokedAgents(&ctx, {}, &resp); !st.ok()) {
    return call_error("agents revoked", st, common.api);
  }
  if (common.json) {
    print_json(resp);
    return 0;
  }
  std::cout << fmt::format("{:<24} {:<22} {:<16} {}\n", "AGENT", "REVOKED", "BY", "REASON");
  for (auto& a : resp.agents()) {
    std::cout << fmt::format("{:<24} {:<22} {:<16} {}\n", a.agent_id(), format_utc(from_proto(a.revoked_at())),
                             a.revoked_by(), a.reason());
  }
  return 0;
}

}  // namespace firedrill::controller
