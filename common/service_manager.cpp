#include "common/service_manager.h"

#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/log.h"

namespace firedrill {

void notify_ready(std::string_view status) {
  std::string msg = "READY=1\nSTATUS=" + std::string(status);
  if (int r = sd_notify(0, msg.c_str()); r < 0) logger("service")->warn("sd_notify READY: {}", std::strerror(-r));
}

void notify_stopping() { sd_notify(0, "STOPPING=1"); }

int wait_for_stop_signal(const sigset_t& sigs, const std::function<void()>& alive) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) {
    int sig = 0;
    sigwait(&sigs, &sig);
    return sig;
  }
  const uint64_t half = usec / 2;
  const timespec tick{static_cast<time_t>(half / 1'000'000), static_cast<long>(half % 1'000'000) * 1000};
  while (true) {
    int sig = sigtimedwait(&sigs, nullptr, &tick);
    if (sig > 0) return sig;
    if (errno != EAGAIN && errno != EINTR) {
      logger("service")->error("sigtimedwait: {}", std::strerror(errno));
      sigwait(&sigs, &sig);
      return sig;
    }
    alive();
    sd_notify(0, "WATCHDOG=1");
  }
}

}  // namespace firedrill
