#include "common/log.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace firedrill {
namespace {

std::mutex g_mu;
LogConfig g_config;
spdlog::sink_ptr g_sink;

// %j: the message as the inside of a JSON string (quotes, backslashes and control
// characters escaped), so that every line is one valid JSON object.
class JsonMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    for (char c : msg.payload) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            int n = std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
            dest.append(buf, buf + n);
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};

// %J: the syslog priority of the level as journald reads it at the start of a line
// ("<3>" for error), so that `journalctl -p err` finds the errors.
class JournalPriority : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    char p = '6';
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: p = '7'; break;
      case spdlog::level::info: p = '6'; break;
      case spdlog::level::warn: p = '4'; break;
      case spdlog::level::err: p = '3'; break;
      case spdlog::level::critical: p = '2'; break;
      default: break;
    }
    const char text[] = {'<', p, '>'};
    dest.append(text, text + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JournalPriority>(); }
};

void apply_format(spdlog::logger& l) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<JsonMessage>('j').add_flag<JournalPriority>('J');
  if (g_config.format == LogFormat::kJson) {
    f->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n","pid":%P,"msg":"%j"})");
  } else if (stderr_is_journal()) {
    // The journal stamps and tags every line itself.
    f->set_pattern("%J%l [%n] %v");
  } else {
    f->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v");
  }
  l.set_formatter(std::move(f));
  l.set_level(g_config.level);
}

}  // namespace

bool stderr_is_journal() {
  // systemd sets JOURNAL_STREAM=DEV:INODE of the stream it connected; stderr may
  // since have been redirected, so it is the journal only if they still match.
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

void init_logging(const LogConfig& config) {
  std::lock_guard lock(g_mu);
  g_config = config;
  if (!g_sink) g_sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  spdlog::apply_all([](std::shared_ptr<spdlog::logger> l) { apply_format(*l); });
}

std::shared_ptr<spdlog::logger> logger(const std::string& subsystem) {
  std::lock_guard lock(g_mu);
  if (auto l = spdlog::get(subsystem)) return l;
  if (!g_sink) g_sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto l = std::make_shared<spdlog::logger>(subsystem, g_sink);
  apply_format(*l);
  l->flush_on(spdlog::level::info);
  spdlog::register_logger(l);
  return l;
}

Result<LogFormat> parse_log_format(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return make_error("log format '{}' is not one of: text, json", text);
}

Result<spdlog::level::level_enum> parse_log_level(std::string_view text) {
  auto level = spdlog::level::from_str(std::string(text));
  if (level == spdlog::level::off && text != "off") {
    return make_error("log level '{}' is not one of: trace, debug, info, warn, error, off", text);
  }
  return level;
}

Result<LogConfig> parse_log_options(std::string_view format, std::string_view level) {
  FD_ASSIGN(f, parse_log_format(format), "--log-format");
  FD_ASSIGN(l, parse_log_level(level), "--log-level");
  return LogConfig{f, l};
}

}  // namespace firedrill
