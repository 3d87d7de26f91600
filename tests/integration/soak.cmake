# The crash soak (issue 13), bounded: 50 cycles of SIGKILL around applies of every fault
# kind, with a restart, with the watcher's restart, with the watcher finishing the
# journal and with the controller SIGKILLed; nothing may be left (about 3-4 minutes
# here). The long run is `scripts/soak.sh 1000`.
add_test(NAME agent_crash_soak COMMAND ${PROJECT_SOURCE_DIR}/scripts/soak.sh 50)
set_tests_properties(agent_crash_soak PROPERTIES
  LABELS integration TIMEOUT 900 RESOURCE_LOCK firedrill-agent-soak
  ENVIRONMENT "FIREDRILL_AGENT=$<TARGET_FILE:firedrill-agent>;FIREDRILL_BIN=$<TARGET_FILE:firedrill>;SOAK_SEED=13")
