// The byte-exact forms that evidence is hashed and signed over, and the small
// encodings (hex, base64, RFC 3339 with microseconds) the records use.
//
// Canonical JSON (what every hash and signature covers):
//   - object members sorted by key, compared byte by byte (code point order);
//   - no whitespace outside strings;
//   - strings as UTF-8 (invalid UTF-8 is refused); only '"', '\\' and control
//     characters below 0x20 escaped (\b \f \n \r \t, others as \u00xx in lower-case
//     hex); '/' and non-ASCII characters are written as they are;
//   - integers in plain decimal; other numbers as the shortest digits that read back
//     as the same IEEE double, in fixed notation from 1e-4 up to (not including) 1e16
//     with at least one digit after the point ("0.9", "60.0"), else as d.ddde-05 /
//     d.ddde+16; NaN and infinities are refused.
// These are exactly the bytes of Python's
//   json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
// so anyone can check the chain without firedrill (scripts/verify-evidence.py does).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/time.h"

namespace firedrill::evidence {

using Json = nlohmann::json;

// The canonical bytes of a JSON value; an error names the invalid UTF-8 or number.
Result<std::string> canonical(const Json& value);

// Text from outside (probe output, agents' error messages) made valid UTF-8: every
// byte that does not start a valid sequence becomes U+FFFD, so a cut inside a
// character never makes an event unrecordable.
std::string utf8_clean(std::string_view text);
// The same for every string (and key) in a JSON value.
void utf8_clean_strings(Json& value);

// SHA-256 of bytes, as 64 lower-case hex digits.
std::string sha256_hex(std::string_view bytes);
// The hash that stands before the first event of a chain.
inline const std::string kZeroHash(64, '0');
bool is_hash(std::string_view text);

std::string to_hex(std::string_view bytes);
std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

// 2026-11-21T09:00:00.123456Z; a zero time_point (unset) is "".
std::string format_time(WallTime t);
// Accepts the form above with 0 to 9 fraction digits; "" is the zero time_point.
Result<WallTime> parse_time(std::string_view text);
// Microseconds between two times (b - a).
int64_t micros_between(WallTime a, WallTime b);

// Reads a JSON document with a message that names what is wrong and where; a document
// that stops early is reported as truncated.
Result<Json> parse_json(std::string_view text, std::string_view what);

}  // namespace firedrill::evidence

// WallTime in records: format_time / parse_time.
namespace nlohmann {
template <>
struct adl_serializer<firedrill::WallTime> {
  static void to_json(json& j, const firedrill::WallTime& t) { j = firedrill::evidence::format_time(t); }
  static void from_json(const json& j, firedrill::WallTime& t) {
    auto r = firedrill::evidence::parse_time(j.get<std::string>());
    if (!r) throw std::invalid_argument(r.error().message);
    t = *r;
  }
};
}  // namespace nlohmann
