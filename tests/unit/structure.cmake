# Folder-level include edges of agent/, controller/ and common/ point one way: no cycle.
add_test(NAME folder_cycles COMMAND ${PROJECT_SOURCE_DIR}/scripts/folder-cycles.py ${PROJECT_SOURCE_DIR})
set_tests_properties(folder_cycles PROPERTIES LABELS unit)
# ... and the check does see a cycle (a fixture tree with one).
add_test(NAME folder_cycles_detects_a_cycle
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/folder-cycles.py ${PROJECT_SOURCE_DIR}/tests/data/folder-cycle)
set_tests_properties(folder_cycles_detects_a_cycle PROPERTIES LABELS unit
                     PASS_REGULAR_EXPRESSION "folder cycle: controller/a, controller/b")
# The agent links only the protos it speaks: none of the controller's messages
# (experiments, runs, the controller's API) is in firedrill-agent.
add_test(NAME agent_links_only_its_protos
         COMMAND sh -c "syms=$(nm -C \"$1\") || exit 2; ! printf '%s\\n' \"$syms\" | grep -E 'firedrill::v1::(Experiment|RunRecord|Targets|ControllerService)::'"
                 sh $<TARGET_FILE:firedrill-agent>)
set_tests_properties(agent_links_only_its_protos PROPERTIES LABELS unit)
