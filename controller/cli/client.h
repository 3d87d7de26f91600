// What every client verb of `firedrill` shares: the options that reach the daemon
// (--api, --json), its usage and call errors, and a deadline for one call.
#pragma once

#include <chrono>
#include <string>

#include <boost/program_options.hpp>
#include <grpcpp/grpcpp.h>

#include "controller/api/services.h"

namespace firedrill::controller {

// --api SOCKET|https://HOST:PORT (default $FIREDRILL_API or /run/firedrill/controller.sock)
// and, for https, --tls-cert, --tls-key and --tls-ca (api_client_tls()).
void add_api_options(boost::program_options::options_description& d, std::string* api);

// --help, the API options above, --json.
struct ClientOptions {
  std::string api = default_api_socket();
  bool json = false;
  void add(boost::program_options::options_description& d, bool with_json = true);
};

// Parses a verb's argv ("firedrill VERB"); -1 to go on, else the exit code.
int parse_verb(int argc, char** argv, boost::program_options::options_description& desc,
               boost::program_options::variables_map& vm, const char* verb,
               boost::program_options::positional_options_description* pos = nullptr);

// "firedrill VERB: what" on stderr; 2.
int verb_usage_error(const char* verb, const std::string& what);

// A failed call: no daemon on `api` is exit 2 (and says which socket it tried); the
// daemon's refusal is 1, or 2 for a request it found invalid.
int call_error(const char* verb, const grpc::Status& s, const std::string& api);

inline constexpr auto kCallTimeout = std::chrono::seconds(120);
inline void deadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
}

}  // namespace firedrill::controller
