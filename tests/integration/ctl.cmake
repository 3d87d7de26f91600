# The controller (issue 4) with real agents in namespaces the tests create (root),
# and hostile input on both ends of the agent stream.
add_library(fdc_ctl_lab STATIC ${CMAKE_CURRENT_LIST_DIR}/ctl/ctl_lab.cpp)
target_include_directories(fdc_ctl_lab PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(fdc_ctl_lab PUBLIC firedrill_test_support Threads::Threads)
target_compile_definitions(fdc_ctl_lab PRIVATE FDC_FIREDRILL_BIN="$<TARGET_FILE:firedrill>"
                                               FDC_AGENT_BIN="$<TARGET_FILE:firedrill-agent>")
add_dependencies(fdc_ctl_lab firedrill firedrill-agent)

firedrill_test(ctl_fleet_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/ctl/ctl_fleet_test.cpp
               LIBS fdc_ctl_lab firedrill_agent_journal LABELS integration)
firedrill_test(ctl_hostile_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/ctl/ctl_hostile_test.cpp
               LIBS fdc_ctl_lab firedrill_controller_session LABELS integration)
# A state directory written by firedrill 0.1.0 (tests/data/state-0.1.0, made by its
# make.sh) under a controller of this version: migrated, imported, still verifiable.
firedrill_test(state_migration_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/ctl/state_migration_test.cpp
               LIBS fdc_ctl_lab firedrill_controller_sqlite firedrill_controller_store LABELS integration)
target_compile_definitions(state_migration_test PRIVATE FDC_STATE_010="${PROJECT_SOURCE_DIR}/tests/data/state-0.1.0/state")
# report, keys and finding from another directory with no state directory, through the
# API of a served controller (loopback, no agents).
firedrill_test(cli_api_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/ctl/cli_api_test.cpp
               LIBS fdc_ctl_lab LABELS integration)
target_compile_definitions(cli_api_test PRIVATE FDC_EXPERIMENTS="${PROJECT_SOURCE_DIR}/experiments")
# /metrics of agents and the controller scraped with curl inside the test's namespaces.
firedrill_test(metrics_scrape_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/ctl/metrics_scrape_test.cpp
               LIBS fdc_ctl_lab LABELS integration)
# An agent of the previous release (0.1.0) on the wire: its Hello, encoded with its own
# schema (tests/data/agent-0.1.0), registers with this controller, and what the
# controller sends decodes with that schema.
firedrill_test(previous_release_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/ctl/previous_release_test.cpp
               LIBS fdc_ctl_lab firedrill_proto LABELS integration)
target_compile_definitions(previous_release_test PRIVATE FDC_AGENT_010="${PROJECT_SOURCE_DIR}/tests/data/agent-0.1.0")
# Leases and liveness on the monotonic clock: the controller's wall clock jumped (libfaketime).
firedrill_test(wall_clock_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/ctl/wall_clock_test.cpp
               LIBS fdc_ctl_lab LABELS integration)
# Enrollment (issue 14): join tokens, `firedrill-agent enroll` in host namespaces, the
# enrolled agent on its own certificate, refusals, revocation, renewal over the stream.
firedrill_test(enroll_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/ctl/enroll_test.cpp
               LIBS fdc_ctl_lab LABELS integration)
