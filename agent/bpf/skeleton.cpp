#include "agent/bpf/skeleton.h"

#include <unistd.h>

#include <cstdarg>
#include <mutex>

#include "common/log.h"

namespace firedrill::agent::bpf {
namespace {

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  static auto log = logger("agent.libbpf");
  char buf[1024];
  int n = vsnprintf(buf, sizeof buf, format, args);
  std::string_view msg(buf, n > 0 ? std::min<size_t>(n, sizeof buf - 1) : 0);
  while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
  switch (level) {
    case LIBBPF_WARN: log->warn("{}", msg); break;
    case LIBBPF_INFO: log->debug("{}", msg); break;
    default: log->trace("{}", msg); break;
  }
  return n;
}

}  // namespace

void route_libbpf_logs() {
  static std::once_flag once;
  std::call_once(once, [] {
    libbpf_set_print(libbpf_print);
    libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
  });
}

void UniqueFd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace firedrill::agent::bpf
