#include "controller/evidence/canonical.h"

#include <cmath>
#include <ctime>

#include <openssl/evp.h>

namespace firedrill::evidence {

namespace {

Result<void> check_numbers(const Json& v, std::string& path) {
  if (v.is_number_float() && !std::isfinite(v.get<double>())) {
    return make_error("{}: number is not finite (NaN or infinity cannot be recorded)", path.empty() ? "/" : path);
  }
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      size_t len = path.size();
      path += "/" + it.key();
      auto r = check_numbers(it.value(), path);
      path.resize(len);
      if (!r) return r;
    }
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) {
      size_t len = path.size();
      path += "/" + std::to_string(i);
      auto r = check_numbers(v[i], path);
      path.resize(len);
      if (!r) return r;
    }
  }
  return ok();
}

}  // namespace

Result<std::string> canonical(const Json& value) {
  std::string path;
  FD_TRY(check_numbers(value, path), "canonical JSON");
  try {
    // nlohmann::json keeps members in a std::map, so they come out sorted.
    return value.dump(-1, ' ', false, Json::error_handler_t::strict);
  } catch (const Json::exception& e) {
    return make_error("canonical JSON: {}", e.what());
  }
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

}  // namespace firedrill::evidence
