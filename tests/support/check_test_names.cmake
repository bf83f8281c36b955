# cmake -DTESTS=<smh_tests> -P check_test_names.cmake
# Fails if a test name holds ';', which splits it in two for ctest (a CMake
# list separator): each half then matches no test and "passes" without running.
execute_process(COMMAND ${TESTS} --list-test-names-only OUTPUT_VARIABLE names)
string(FIND "${names}" ";" at)
if(NOT at EQUAL -1)
  message(FATAL_ERROR "a test name holds ';':\n${names}")
endif()
message(STATUS "no test name holds ';'")
