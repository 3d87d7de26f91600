// `firedrill report verify`, the one evidence verb that needs no controller: it checks
// a report file against pinned public keys, offline (the other evidence verbs are
// clients of the controller's API, controller/cli/evidence_verbs.cpp).
#pragma once

#include <string>
#include <string_view>

#include "controller/evidence/signing_key.h"

namespace firedrill::evidence {

// Exit codes of `report verify`.
inline constexpr int kVerified = 0;
inline constexpr int kNotVerified = 1;
inline constexpr int kVerifyUnreadable = 2;
inline constexpr int kNotPinned = 3;

// The report's text checked against `ring` (empty: nothing pinned), printed for
// people ("report verify: WHAT", each check, the verdict line); the exit code.
int print_verification(std::string_view text, const KeyRing& ring, std::string_view what);

// Loads --key FILE and --keys FILE (either may be empty) into one ring.
Result<KeyRing> pinned_keys(const std::string& key_file, const std::string& keys_file);

// `firedrill report verify FILE --key PUBLIC.pem | --keys KEYS.pem` (argv[0] = "verify").
int report_verify_main(int argc, char** argv);

// The part of `firedrill report --help` that describes verification.
extern const char* const kVerifyHelp;

}  // namespace firedrill::evidence
