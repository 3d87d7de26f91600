# Process faults and power loss on real processes, cgroups and namespaces the tests
# create (root). The agent binary is driven through `firedrill-agent ctl` where the
# issue asks for it.
add_library(fdp_proc_lab STATIC ${CMAKE_CURRENT_LIST_DIR}/proc_lab.cpp)
target_include_directories(fdp_proc_lab PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(fdp_proc_lab PUBLIC firedrill_agent_bpf firedrill_test_support)
target_compile_definitions(fdp_proc_lab PRIVATE FIREDRILL_AGENT_BIN="$<TARGET_FILE:firedrill-agent>")
add_dependencies(fdp_proc_lab firedrill-agent)

# The workload of the durability cases (power_data_test).
add_executable(fdp_durability_writer ${CMAKE_CURRENT_LIST_DIR}/durability_writer.cpp)
target_include_directories(fdp_durability_writer PRIVATE ${PROJECT_SOURCE_DIR})

foreach(t proc_kill_test proc_keepdown_test power_loss_test power_data_test agent_safety_test)
  firedrill_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.cpp
                 LIBS fdp_proc_lab firedrill_agent_power firedrill_agent_proc LABELS integration)
endforeach()
target_compile_definitions(power_data_test PRIVATE FDP_DURABILITY_WRITER="$<TARGET_FILE:fdp_durability_writer>")
add_dependencies(power_data_test fdp_durability_writer)
# The wedge test drives the agent under a real controller.
target_compile_definitions(agent_safety_test PRIVATE FDP_FIREDRILL_BIN="$<TARGET_FILE:firedrill>")
add_dependencies(agent_safety_test firedrill)
