// What a daemon tells the service manager (systemd's sd_notify protocol, through
// libsystemd): READY=1 once it serves, STOPPING=1 when it goes, and WATCHDOG=1 while
// it is alive, so that systemd restarts one that hangs (WatchdogSec= in the unit).
// Outside systemd ($NOTIFY_SOCKET unset) every call does nothing.
#pragma once

#include <signal.h>

#include <chrono>
#include <functional>
#include <string_view>

namespace firedrill {

void notify_ready(std::string_view status);
void notify_stopping();

// Waits for one of `sigs` (blocked by block_stop_signals) and returns it. While it
// waits it calls `alive` every half of the service's watchdog interval
// ($WATCHDOG_USEC) and, each time alive returns, sends WATCHDOG=1: alive should touch
// what a hung daemon would hang on, so that a hang starves the watchdog. Without a
// watchdog it only waits.
int wait_for_stop_signal(const sigset_t& sigs, const std::function<void()>& alive);

}  // namespace firedrill
