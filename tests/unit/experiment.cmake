# Experiments (issue 5): loader and validation, SLOs, scheduler, runner, probes.
firedrill_test(experiment_loader_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/experiment_loader_test.cpp
               ${CMAKE_CURRENT_LIST_DIR}/experiment_overrides_test.cpp
               LIBS firedrill_controller_experiment LABELS unit)
firedrill_test(slo_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/slo_test.cpp
               LIBS firedrill_controller_slo LABELS unit)
firedrill_test(scheduler_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/scheduler_test.cpp
               LIBS firedrill_controller_scheduler LABELS unit)
firedrill_test(runner_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/runner_test.cpp
               LIBS firedrill_controller_runner LABELS unit)
firedrill_test(run_manager_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/run_manager_test.cpp
               LIBS firedrill_controller_runner LABELS unit)
