// The `firedrill` verbs of experiment runs and schedules (listed in
// controller/cli/commands.cpp). They talk to the daemon (`firedrill serve`) through
// RunService on its API socket.
#pragma once

#include <signal.h>

#include <string>

#include "firedrill/v1/run.pb.h"

namespace firedrill::runner {

int run_main(int argc, char** argv);       // start a run and follow it live; exit 0 passed, 1 failed, 2 otherwise
int show_main(int argc, char** argv);      // one run in full, or the recent ones
int approve_main(int argc, char** argv);   // approve (or reject) a run as a named person
int abort_main(int argc, char** argv);     // stop a run; its faults are reverted
int schedule_main(int argc, char** argv);  // schedule add|list|pause|resume|remove

// A message as JSON on stdout (proto field names), what every verb's --json prints.
void print_json(const google::protobuf::Message& m);

// Blocks SIGINT and SIGTERM for follow_run; call it before any gRPC thread starts.
sigset_t block_interrupts();
// Follows run `id` live to its end (events, a status line unless `quiet`, the verdict,
// where its report is), or with `json` only the finished run as JSON; SIGINT/SIGTERM in
// `sigs` abort the run. `api` may list controllers of one store ("A,B"): when the one
// followed stops answering, the run is followed on at the next. Returns exit_code().
int follow_run(const std::string& api, const std::string& id, sigset_t sigs, bool quiet, const char* verb,
               bool json);

// What `run` and a followed `inject` end with: where run `id`'s report is (the
// controller's store, as the controller on `api` names it) and the exact commands that
// fetch it and verify it against the controller's key.
std::string report_hint(const std::string& api, const std::string& id);

// The verdict table and the run's summary as printed at the end of `run` and by `show`.
std::string render_verdict(const v1::RunRecord& run);
// 0 passed, 1 an SLO failed, 2 refused or aborted (or not finished).
int exit_code(const v1::RunRecord& run);

}  // namespace firedrill::runner
