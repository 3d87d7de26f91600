#include "controller/evidence/canonical.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>

#include <openssl/evp.h>

namespace firedrill::evidence {

namespace {

// Python's repr() of a float, which is what json.dumps writes: the shortest digits
// that read back as the same double, in fixed notation from 1e-4 up to 1e16 (with at
// least one digit after the point), in exponent notation (e-05, e+16) outside.
std::string float_text(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, r.ptr);  // "-8.217054263565892e-01": the shortest round trip
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t epos = sci.find('e');
  std::string digits = sci.substr(0, epos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int exp = std::stoi(sci.substr(epos + 1));
  std::string out;
  if (exp >= -4 && exp < 16) {
    size_t whole = static_cast<size_t>(exp + 1);
    if (exp >= 0) {
      std::string ip = digits.substr(0, std::min(digits.size(), whole));
      ip.resize(whole, '0');
      std::string fp = digits.size() > whole ? digits.substr(whole) : "0";
      out = ip + "." + fp;
    } else {
      out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  }
  return neg ? "-" + out : out;
}

// The length of the valid UTF-8 sequence at s[i], 0 when none starts there.
size_t utf8_sequence(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t cp;
  if (c < 0x80) {
    return 1;
  } else if ((c >> 5) == 6) {
    n = 1;
    cp = c & 0x1f;
  } else if ((c >> 4) == 14) {
    n = 2;
    cp = c & 0x0f;
  } else if ((c >> 3) == 30) {
    n = 3;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n >= s.size()) return 0;
  for (size_t k = 1; k <= n; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc >> 6) != 2) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
  if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
      (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  return n + 1;
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string where(const std::string& path) { return path.empty() ? "/" : path; }

Result<void> write_string(std::string& out, std::string_view s, const std::string& path) {
  if (!valid_utf8(s)) return make_error("{}: text is not valid UTF-8", where(path));
  out += '"';
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += ch;
    }
  }
  out += '"';
  return ok();
}

Result<void> write(std::string& out, const Json& v, std::string& path) {
  switch (v.type()) {
    case Json::value_t::null: out += "null"; return ok();
    case Json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return ok();
    case Json::value_t::number_integer: out += std::to_string(v.get<int64_t>()); return ok();
    case Json::value_t::number_unsigned: out += std::to_string(v.get<uint64_t>()); return ok();
    case Json::value_t::number_float: {
      double d = v.get<double>();
      if (!std::isfinite(d)) return make_error("{}: number is not finite (NaN or infinity cannot be recorded)", where(path));
      out += float_text(d);
      return ok();
    }
    case Json::value_t::string: return write_string(out, v.get_ref<const std::string&>(), path);
    case Json::value_t::array: {
      out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ',';
        size_t len = path.size();
        path += "/" + std::to_string(i);
        auto r = write(out, v[i], path);
        path.resize(len);
        if (!r) return r;
      }
      out += ']';
      return ok();
    }
    case Json::value_t::object: {
      // nlohmann::json keeps members in a std::map: sorted by bytes, which for UTF-8
      // is the order of code points (Python's sort_keys).
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ',';
        first = false;
        size_t len = path.size();
        path += "/" + it.key();
        auto r = write_string(out, it.key(), path);
        if (r) {
          out += ':';
          r = write(out, it.value(), path);
        }
        path.resize(len);
        if (!r) return r;
      }
      out += '}';
      return ok();
    }
    default:
      return make_error("{}: binary values cannot be recorded", where(path));
  }
}

}  // namespace

Result<std::string> canonical(const Json& value) {
  std::string out, path;
  FD_TRY(write(out, value, path), "canonical JSON");
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  return to_hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

bool is_hash(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n);
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return make_error("base64 '{}': length {} is not a multiple of 4", text, text.size());
  std::string out(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return make_error("base64 '{}': not valid base64", text);
  // EVP_DecodeBlock counts padding as data bytes.
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string format_time(WallTime t) {
  if (t == WallTime{}) return "";
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  int64_t secs = us / 1'000'000;
  int64_t frac = us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:06d}Z", buf, frac);
}

Result<WallTime> parse_time(std::string_view text) {
  if (text.empty()) return WallTime{};
  auto bad = [&](std::string_view why) {
    return make_error("time '{}': {} (expected e.g. 2026-11-21T09:00:00.123456Z)", text, why);
  };
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text.back() != 'Z') {
    return bad("not RFC 3339 in UTC");
  }
  auto num = [&](size_t pos, size_t len, int& out) {
    out = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, s;
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, s)) {
    return bad("a field is not a number");
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return bad("a field is out of range");
  int64_t frac_ns = 0;
  size_t i = 19;
  if (text[i] == '.') {
    ++i;
    int digits = 0;
    while (i < text.size() - 1) {
      if (!std::isdigit(static_cast<unsigned char>(text[i])) || digits == 9) return bad("bad fraction of a second");
      frac_ns = frac_ns * 10 + (text[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return bad("empty fraction of a second");
    for (; digits < 9; ++digits) frac_ns *= 10;
  }
  if (i != text.size() - 1) return bad("unexpected text before 'Z'");
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  std::time_t secs = timegm(&tm);
  return WallTime(std::chrono::duration_cast<WallClock::duration>(std::chrono::seconds(secs) +
                                                                  std::chrono::nanoseconds(frac_ns)));
}

int64_t micros_between(WallTime a, WallTime b) {
  return std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
}

Result<Json> parse_json(std::string_view text, std::string_view what) {
  if (text.empty()) return make_error("{}: truncated file: it is empty", what);
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    // A parse that fails at (or just before) the end means the document stops early.
    size_t last = text.find_last_not_of(" \t\r\n");
    if (last == std::string_view::npos || e.byte + 1 >= last + 1) {
      return make_error("{}: truncated file: the JSON document stops at byte {} before it is complete", what,
                        text.size());
    }
    return make_error("{}: not valid JSON at byte {}: {}", what, e.byte, e.what());
  }
}

std::string utf8_clean(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

void utf8_clean_strings(Json& value) {
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (!valid_utf8(s)) value = utf8_clean(s);
  } else if (value.is_object()) {
    // Keys are text too.
    Json out = Json::object();
    bool changed = false;
    for (auto it = value.begin(); it != value.end(); ++it) {
      utf8_clean_strings(it.value());
      if (!valid_utf8(it.key())) changed = true;
    }
    if (changed) {
      for (auto it = value.begin(); it != value.end(); ++it) out[utf8_clean(it.key())] = it.value();
      value = std::move(out);
    }
  } else if (value.is_array()) {
    for (auto& v : value) utf8_clean_strings(v);
  }
}

}  // namespace firedrill::evidence
