#include "controller/cli/client.h"

#include <iostream>

#include "common/cli.h"

namespace firedrill::controller {
namespace po = boost::program_options;

void add_api_options(po::options_description& d, std::string* api) {
  auto& tls = api_client_tls();
  d.add_options()
    ("api", po::value(api),
     "the controller's API: its Unix socket (default /run/firedrill/controller.sock, or $FIREDRILL_API), or "
     "https://HOST:PORT (`firedrill serve --api-listen`) with --tls-cert, --tls-key and --tls-ca")
    ("tls-cert", po::value(&tls.cert), "for an https API: this caller's client certificate, PEM (default $FIREDRILL_API_CERT)")
    ("tls-key", po::value(&tls.key), "its private key, PEM (default $FIREDRILL_API_KEY)")
    ("tls-ca", po::value(&tls.ca), "the fleet's CA certificate, PEM (default $FIREDRILL_API_CA)");
}

void ClientOptions::add(po::options_description& d, bool with_json) {
  d.add_options()("help,h", "print this help");
  add_api_options(d, &api);
  if (with_json) d.add_options()("json", po::bool_switch(&json), "print the answer as JSON");
}

int parse_verb(int argc, char** argv, po::options_description& desc, po::variables_map& vm, const char* verb,
               po::positional_options_description* pos) {
  auto done = parse_verb_options(argc, argv, desc, vm, std::string("firedrill ") + verb, pos);
  return done ? *done : -1;
}

int verb_usage_error(const char* verb, const std::string& what) {
  return firedrill::usage_error(std::string("firedrill ") + verb, what);
}

int call_error(const char* verb, const grpc::Status& s, const std::string& api) {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    const char* hint = api.starts_with("https://")
                           ? "is `firedrill serve --api-listen` running there, and is --tls-cert signed by the fleet's CA?"
                           : "is `firedrill serve` running? --api or $FIREDRILL_API pick another socket";
    std::cerr << "firedrill " << verb << ": no controller answers on " << api << " (" << hint
              << "): " << s.error_message() << "\n";
    return 2;
  }
  std::cerr << "firedrill " << verb << ": " << s.error_message() << "\n";
  return s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ? 2 : 1;
}

}  // namespace firedrill::controller
