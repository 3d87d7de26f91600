// How a firedrill daemon takes the signals it stops on.
#pragma once

#include <signal.h>

namespace firedrill {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread, so that every thread started
// afterwards inherits the mask and only the thread that sigwait()s on the returned set
// takes them (call it before starting any thread). SIGPIPE is ignored: a peer that goes
// away is a failed write, never the end of the daemon.
sigset_t block_stop_signals();

}  // namespace firedrill
