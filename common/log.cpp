#include "common/log.h"

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace firedrill {
namespace {

std::mutex g_mu;
LogConfig g_config;
spdlog::sink_ptr g_sink;

void apply_format(spdlog::logger& l) {
  if (g_config.format == LogFormat::kJson) {
    // One JSON object per line; the message is escaped by the caller where it may
    // hold quotes (spdlog has no JSON escaping of its own).
    l.set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n","pid":%P,"msg":"%v"})",
                  spdlog::pattern_time_type::utc);
  } else {
    l.set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v");
  }
  l.set_level(g_config.level);
}

}  // namespace

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
