// ldns for C++: its common.h defines `bool`, `true` and `false` as macros unless
// stdbool.h came first, which breaks the C++ standard headers that follow (clang).
#pragma once

#include <stdbool.h>  // NOLINT(modernize-deprecated-headers): must precede ldns

#include <ldns/ldns.h>
