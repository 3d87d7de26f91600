#include "controller/evidence/verify_cli.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "common/cli.h"
#include "controller/evidence/verify.h"

namespace firedrill::evidence {

namespace po = boost::program_options;

const char* const kVerifyHelp =
    "  verify recomputes every hash, checks the Ed25519 seals against the pinned key\n"
    "  (--key: the controller's public key from `firedrill keys export`; --keys: a file of\n"
    "  several, from `firedrill keys export --all`: controllers that share a store, or a\n"
    "  key rotation). A run continued at another controller after a takeover is signed\n"
    "  in parts, one per controller; the report lists every key that signed, and each\n"
    "  must be pinned. It checks finding records and the\n"
    "  findings the report was sealed with, derives the report again and compares it, and\n"
    "  for a page renders it again. It names each problem (changed, removed or reordered\n"
    "  events, changed verdict, removed, added or edited finding, another key, truncated\n"
    "  file). A FILE is checked here, with no controller; --run RUN fetches the run's\n"
    "  report from the controller first (pinned, without --key/--keys, to the key the\n"
    "  controller serves).\n\n"
    "EXIT STATUS (verify)\n"
    "  0  VERIFIED: no problem, and every signature is by a pinned key\n"
    "  1  NOT VERIFIED: a problem was found\n"
    "  2  usage error, or the file, the key or the controller could not be read\n"
    "  3  no problem, but no key was pinned: the signatures are valid for the keys the\n"
    "     report carries, and anyone can make a key\n";

Result<KeyRing> pinned_keys(const std::string& key_file, const std::string& keys_file) {
  KeyRing ring;
  if (!keys_file.empty()) {
    FD_ASSIGN(loaded, KeyRing::load(keys_file), "--keys");
    ring = std::move(loaded);
  }
  if (!key_file.empty()) {
    FD_ASSIGN(loaded, PublicKey::load(key_file), "--key");
    ring.add(std::move(loaded));
  }
  return ring;
}

int print_verification(std::string_view text, const KeyRing& ring, std::string_view what) {
  Verification v = verify_report_text(text, &ring, what);
  std::cout << "report verify: " << what << "\n";
  for (auto& c : v.checked) std::cout << "  ok: " << c << "\n";
  for (auto& c : v.skipped) std::cout << "  skipped: " << c << "\n";
  for (auto& i : v.issues) std::cout << "  FAIL [" << to_string(i.problem) << "]: " << i.message << "\n";
  if (!v.ok()) {
    std::cout << "NOT VERIFIED: " << v.issues.size() << " problem" << (v.issues.size() == 1 ? "" : "s") << "\n";
    return kNotVerified;
  }
  if (!v.pinned) {
    std::cout << "SIGNATURE VALID, SIGNER NOT PINNED: " << v.events << " events, head " << v.head << ", signed by "
              << v.signer << ", a key the report carries; pass --key or --keys with the "
              << "controller's public key to verify who signed it\n";
    return kNotPinned;
  }
  std::cout << "VERIFIED: " << v.events << " events, head " << v.head << ", signed by " << v.signer << "\n";
  return kVerified;
}

int report_verify_main(int argc, char** argv) {
  std::string file, key, keys;
  po::options_description desc(std::string("firedrill report verify FILE --key PUBLIC.pem | --keys KEYS.pem\n\n") +
                               kVerifyHelp + "\nOptions");
  desc.add_options()("help,h", "this help")("key", po::value(&key), "PEM public key the report must be signed by")(
      "keys", po::value(&keys), "file of PEM public keys: every key that signed a part of the report must be one")(
      "file", po::value(&file), "report file");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (auto done = parse_verb_options(argc, argv, desc, vm, "firedrill report verify", &pos)) return *done;
  if (file.empty()) return usage_error("firedrill report verify", "give the report FILE (or --run RUN)");
  auto ring = pinned_keys(key, keys);
  if (!ring) return usage_error("firedrill report verify", ring.error().describe(), kVerifyUnreadable);
  std::ifstream in(file, std::ios::binary);
  if (!in) return usage_error("firedrill report verify", sys_error(errno, "open {}", file).describe(), kVerifyUnreadable);
  std::stringstream ss;
  ss << in.rdbuf();
  return print_verification(ss.str(), *ring, file);
}

}  // namespace firedrill::evidence
