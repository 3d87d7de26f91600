#include "controller/probes/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <mutex>

#include <curl/curl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "controller/experiment/limits.h"
#include "controller/experiment/text_match.h"

extern char** environ;

namespace firedrill::probes {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

namespace {

constexpr size_t kMaxBody = 1 << 20;

std::string ms_text(nanoseconds d) { return fmt::format("{:.1f}ms", std::chrono::duration<double, std::milli>(d).count()); }

void init_curl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t collect(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  size_t len = size * n;
  if (body->size() < kMaxBody) body->append(data, std::min(len, kMaxBody - body->size()));
  return len;
}

struct HttpResult {
  bool ok = false;         // the exchange completed (any status)
  long status = 0;
  std::string body;
  std::string error;
};

// One HTTP exchange on a fresh connection.
HttpResult http_exchange(const std::string& method, const std::string& url, const std::map<std::string, std::string>& headers,
                         const std::string& body, nanoseconds timeout) {
  init_curl();
  HttpResult r;
  CURL* c = curl_easy_init();
  if (c == nullptr) {
    r.error = "curl_easy_init failed";
    return r;
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* hdrs = nullptr;
  for (const auto& [k, v] : headers) hdrs = curl_slist_append(hdrs, (k + ": " + v).c_str());
  long timeout_ms = std::max<long>(1, static_cast<long>(duration_cast<milliseconds>(timeout).count()));
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  // The controller's own proxy settings must not reroute probes.
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "firedrill-probe/" FIREDRILL_VERSION);
  if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  std::string m = method.empty() ? "GET" : method;
  if (m == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (m != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m.c_str());
  }
  if (!body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) {
    r.ok = true;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  } else {
    r.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  }
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return r;
}

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += fmt::format("%{:02X}", ch);
    }
  }
  return out;
}

class HttpProber : public Prober {
 public:
  HttpProber(const v1::Probe& p) : p_(p.http()), timeout_(probe_timeout(p)) {
    if (!p_.body_match().empty()) body_re_ = experiment::TextMatch::compile(p_.body_match());
  }

  slo::Sample sample(uint64_t) override {
    slo::Sample s;
    s.start = WallClock::now();
    auto t0 = Clock::now();
    std::map<std::string, std::string> headers(p_.headers().begin(), p_.headers().end());
    HttpResult r = http_exchange(p_.method(), p_.url(), headers, p_.body(), timeout_);
    s.duration = Clock::now() - t0;
    if (!r.ok) {
      s.detail = r.error;
      return s;
    }
    bool status_ok = p_.expect_status().empty() ? (r.status >= 200 && r.status < 300)
                                                : std::find(p_.expect_status().begin(), p_.expect_status().end(),
                                                            static_cast<uint32_t>(r.status)) != p_.expect_status().end();
    if (!status_ok) {
      s.detail = fmt::format("status {} in {}", r.status, ms_text(s.duration));
      return s;
    }
    if (body_re_ && !*body_re_) {
      s.detail = body_re_->error().message;
      return s;
    }
    if (body_re_ && !(*body_re_)->search(r.body)) {
      s.detail = fmt::format("status {} but the body does not match /{}/", r.status, p_.body_match());
      return s;
    }
    s.ok = true;
    s.detail = fmt::format("{} in {}", r.status, ms_text(s.duration));
    return s;
  }

 private:
  v1::HttpProbe p_;
  nanoseconds timeout_;
  // `validate` refuses what RE2 cannot compile; a pattern that reaches a probe anyway
  // fails every sample with RE2's reason.
  std::optional<Result<experiment::TextMatch>> body_re_;
};

class TcpProber : public Prober {
 public:
  TcpProber(const v1::Probe& p) : address_(p.tcp().address()), timeout_(probe_timeout(p)) {}

  slo::Sample sample(uint64_t) override {
    slo::Sample s;
    s.start = WallClock::now();
    auto t0 = Clock::now();
    s.detail = connect_once(t0 + timeout_);
    s.duration = Clock::now() - t0;
    s.ok = s.detail.empty();
    if (s.ok) s.detail = fmt::format("connected in {}", ms_text(s.duration));
    return s;
  }

 private:
  // "" when connected.
  std::string connect_once(Clock::time_point deadline) {
    auto colon = address_.rfind(':');
    std::string host = address_.substr(0, colon);
    std::string port = address_.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) return fmt::format("resolve {}: {}", host, gai_strerror(rc));
    std::string err = "no address";
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) {
        err = std::strerror(errno);
        continue;
      }
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        ::close(fd);
        freeaddrinfo(res);
        return "";
      }
      if (errno != EINPROGRESS) {
        err = fmt::format("connect: {}", std::strerror(errno));
        ::close(fd);
        continue;
      }
      pollfd pfd{fd, POLLOUT, 0};
      auto left = duration_cast<milliseconds>(deadline - Clock::now()).count();
      int n = left > 0 ? ::poll(&pfd, 1, static_cast<int>(left)) : 0;
      if (n == 0) {
        err = fmt::format("connect timed out after {}", format_duration(timeout_));
        ::close(fd);
        break;
      }
      int so_error = 0;
      socklen_t len = sizeof so_error;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      ::close(fd);
      if (n > 0 && so_error == 0) {
        freeaddrinfo(res);
        return "";
      }
      err = fmt::format("connect: {}", std::strerror(n < 0 ? errno : so_error));
    }
    freeaddrinfo(res);
    return err;
  }

  std::string address_;
  nanoseconds timeout_;
};

std::string first_line(const std::string& s, size_t max = 200) {
  std::string line = s.substr(0, s.find('\n'));
  if (line.size() > max) line = line.substr(0, max) + "...";
  return line;
}

class CommandProber : public Prober {
 public:
  CommandProber(const v1::Probe& p)
      : p_(p.command()), timeout_(probe_timeout(p)), env_(p_.env().begin(), p_.env().end()) {
    if (!p_.output_match().empty()) out_re_ = experiment::TextMatch::compile(p_.output_match());
  }

  slo::Sample sample(uint64_t) override {
    slo::Sample s;
    s.start = WallClock::now();
    auto t0 = Clock::now();
    CommandResult r = run_command({p_.argv().begin(), p_.argv().end()}, env_, timeout_);
    s.duration = Clock::now() - t0;
    if (!r.started || r.timed_out || r.signal != 0 || r.exit_code != p_.expect_exit()) {
      s.detail = r.describe();
      if (r.started && !r.timed_out && r.signal == 0) s.detail += fmt::format(" (expected {})", p_.expect_exit());
      return s;
    }
    if (out_re_ && !*out_re_) {
      s.detail = out_re_->error().message;
      return s;
    }
    if (out_re_ && !(*out_re_)->search(r.out)) {
      s.detail = fmt::format("exit {} but the output does not match /{}/: {}", r.exit_code, p_.output_match(),
                             first_line(r.out));
      return s;
    }
    s.ok = true;
    s.detail = fmt::format("exit {} in {}", r.exit_code, ms_text(s.duration));
    return s;
  }

 private:
  v1::CommandProbe p_;
  nanoseconds timeout_;
  std::map<std::string, std::string> env_;
  std::optional<Result<experiment::TextMatch>> out_re_;
};

class PrometheusProber : public Prober {
 public:
  PrometheusProber(const v1::Probe& p) : p_(p.prometheus()), timeout_(probe_timeout(p)) {
    std::string base = p_.url();
    while (!base.empty() && base.back() == '/') base.pop_back();
    url_ = base + "/api/v1/query?query=" + url_encode(p_.query());
  }

  slo::Sample sample(uint64_t) override {
    slo::Sample s;
    s.start = WallClock::now();
    auto t0 = Clock::now();
    HttpResult r = http_exchange("GET", url_, {}, "", timeout_);
    s.duration = Clock::now() - t0;
    if (!r.ok) {
      s.detail = r.error;
      return s;
    }
    if (r.status != 200) {
      s.detail = fmt::format("status {}: {}", r.status, first_line(r.body));
      return s;
    }
    auto v = prometheus_value(r.body);
    if (!v) {
      s.detail = v.error().message;
      return s;
    }
    s.ok = compare(*v, p_.op(), p_.threshold());
    s.detail = fmt::format("{} {} {}: {}", *v, comparison_symbol(p_.op()), p_.threshold(), s.ok ? "true" : "false");
    return s;
  }

 private:
  v1::PrometheusProbe p_;
  nanoseconds timeout_;
  std::string url_;
};

class DataProber : public Prober {
 public:
  DataProber(const v1::Probe& p) : p_(p.data()), timeout_(probe_timeout(p)), env_(p_.env().begin(), p_.env().end()) {}

  slo::Sample sample(uint64_t seq) override {
    slo::Sample s;
    s.marker = seq;
    std::vector<std::string> argv;
    std::string marker = std::to_string(seq);
    for (std::string a : p_.write()) {
      for (size_t pos = a.find("{marker}"); pos != std::string::npos; pos = a.find("{marker}", pos + marker.size())) {
        a.replace(pos, 8, marker);
      }
      argv.push_back(std::move(a));
    }
    s.start = WallClock::now();
    auto t0 = Clock::now();
    CommandResult r = run_command(argv, env_, timeout_);
    s.duration = Clock::now() - t0;
    s.ok = r.started && !r.timed_out && r.signal == 0 && r.exit_code == 0;
    s.detail = s.ok ? fmt::format("marker {} acknowledged in {}", seq, ms_text(s.duration))
                    : fmt::format("marker {} not acknowledged: {}", seq, r.describe());
    return s;
  }

 private:
  v1::DataProbe p_;
  nanoseconds timeout_;
  std::map<std::string, std::string> env_;
};

}  // namespace

nanoseconds probe_interval(const v1::Probe& p) {
  return p.has_interval() ? from_proto(p.interval()) : nanoseconds(experiment::kDefaultProbeInterval);
}

nanoseconds probe_timeout(const v1::Probe& p) { return p.has_timeout() ? from_proto(p.timeout()) : probe_interval(p); }

std::unique_ptr<Prober> make_prober(const v1::Probe& probe) {
  switch (probe.kind_case()) {
    case v1::Probe::kHttp: return std::make_unique<HttpProber>(probe);
    case v1::Probe::kTcp: return std::make_unique<TcpProber>(probe);
    case v1::Probe::kCommand: return std::make_unique<CommandProber>(probe);
    case v1::Probe::kPrometheus: return std::make_unique<PrometheusProber>(probe);
    case v1::Probe::kData: return std::make_unique<DataProber>(probe);
    default: return nullptr;
  }
}

CommandResult run_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                          nanoseconds timeout, size_t max_output) {
  SpawnOptions o;
  o.argv = argv;
  o.env = env;
  o.timeout = timeout;
  o.max_output = max_output;
  return spawn(o);
}

Result<std::vector<uint64_t>> parse_markers(std::string_view text) {
  std::vector<uint64_t> out;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == '"' || c == '\'' || c == '[' || c == ']') {
      ++i;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      size_t end = i;
      while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
      return make_error("read-back output: '{}' is not a marker number", text.substr(i, std::min<size_t>(end - i, 40)));
    }
    uint64_t v = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      v = v * 10 + static_cast<uint64_t>(text[i] - '0');
      ++i;
    }
    out.push_back(v);
  }
  return out;
}

slo::DataCheck read_markers(const v1::DataProbe& data, nanoseconds timeout) {
  slo::DataCheck check;
  std::map<std::string, std::string> env(data.env().begin(), data.env().end());
  CommandResult r = run_command({data.read().begin(), data.read().end()}, env, timeout, 64 << 20);
  if (!r.started || r.timed_out || r.signal != 0 || r.exit_code != 0) {
    check.error = r.describe();
    return check;
  }
  auto markers = parse_markers(r.out);
  if (!markers) {
    check.error = markers.error().message;
    return check;
  }
  check.read_ok = true;
  check.read.insert(markers->begin(), markers->end());
  return check;
}

Result<double> prometheus_value(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return make_error("the answer is not JSON");
  if (j.value("status", "") != "success") {
    return make_error("query failed: {}", j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : "no error given");
  }
  const auto& data = j["data"];
  if (!data.is_object()) return make_error("the answer has no data");
  std::string type = data.value("resultType", "");
  const auto& result = data["result"];
  const nlohmann::json* pair = nullptr;
  if (type == "scalar") {
    pair = &result;
  } else if (type == "vector") {
    if (!result.is_array() || result.empty()) return make_error("the query returned no series");
    if (result.size() > 1) return make_error("the query returned {} series; it must return one", result.size());
    if (!result[0].is_object() || !result[0].contains("value")) return make_error("the series has no value");
    pair = &result[0]["value"];
  } else {
    return make_error("result type '{}' is not scalar or vector", type);
  }
  if (!pair->is_array() || pair->size() != 2 || !(*pair)[1].is_string()) return make_error("malformed sample value");
  std::string v = (*pair)[1].get<std::string>();
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (end == v.c_str()) return make_error("value '{}' is not a number", v);
  if (std::isnan(d)) return make_error("the value is NaN");
  return d;
}

bool compare(double value, v1::Comparison op, double threshold) {
  switch (op) {
    case v1::COMPARISON_LT: return value < threshold;
    case v1::COMPARISON_GT: return value > threshold;
    case v1::COMPARISON_GE: return value >= threshold;
    case v1::COMPARISON_EQ: return value == threshold;
    case v1::COMPARISON_NE: return value != threshold;
    case v1::COMPARISON_LE:
    default: return value <= threshold;
  }
}

std::string comparison_symbol(v1::Comparison op) {
  switch (op) {
    case v1::COMPARISON_LT: return "<";
    case v1::COMPARISON_GT: return ">";
    case v1::COMPARISON_GE: return ">=";
    case v1::COMPARISON_EQ: return "==";
    case v1::COMPARISON_NE: return "!=";
    default: return "<=";
  }
}

}  // namespace firedrill::probes
