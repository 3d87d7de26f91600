// One spdlog logger per subsystem ("agent.net", "controller.guard", ...), all sharing
// one sink, so that text or JSON output is chosen once per process. Text lines carry
// their own timestamp, except under systemd (stderr is the journal): there a line is
// "<PRIORITY>level [logger] message" and the journal keeps the time and the level.
// JSON is one object per line: ts, level, logger, pid, msg (escaped).
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "common/result.h"

namespace firedrill {

enum class LogFormat { kText, kJson };

struct LogConfig {
  LogFormat format = LogFormat::kText;
  spdlog::level::level_enum level = spdlog::level::info;
};

// Sets up the shared sink; call once at start. Safe to call again (tests).
void init_logging(const LogConfig& config);

// Whether stderr is still the journal stream systemd gave us ($JOURNAL_STREAM).
bool stderr_is_journal();

// The logger of a subsystem, created on first use.
std::shared_ptr<spdlog::logger> logger(const std::string& subsystem);

Result<LogFormat> parse_log_format(std::string_view text);
Result<spdlog::level::level_enum> parse_log_level(std::string_view text);
// The daemons' --log-format and --log-level together; an error names the option.
Result<LogConfig> parse_log_options(std::string_view format, std::string_view level);

}  // namespace firedrill
