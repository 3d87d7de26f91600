# The libFuzzer targets, built only in a clang build dir of their own (FIREDRILL_FUZZ,
# made by scripts/fuzz.sh); never part of the main build or its ctest run.
function(firedrill_fuzzer name)
  add_executable(${name} ${CMAKE_CURRENT_LIST_DIR}/${name}.cpp)
  target_link_libraries(${name} PRIVATE ${ARGN})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
endfunction()

# The agent's command handling (controller stream and local socket).
firedrill_fuzzer(command_handler_fuzz firedrill_agent_core)
# Experiment files: YAML -> Experiment and its checks.
firedrill_fuzzer(experiment_loader_fuzz firedrill_controller_experiment)
# Report files, JSON and HTML, through `report verify`.
firedrill_fuzzer(report_verify_fuzz firedrill_controller_evidence)
# The DNS side of the fault proxy: queries decided and answered (agent/sockfault/dns).
firedrill_fuzzer(dns_fuzz firedrill_agent_sockfault)
