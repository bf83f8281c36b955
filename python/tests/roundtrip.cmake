# C++ creates and releases a segment and exits; Python attaches, checks and
# writes; after Python has exited, C++ attaches again: Python's exit did not
# remove the segment (its resource tracker is kept out of it).
# cmake -DHELPER=.. -DPYTHON=.. -DPEER=.. -DCLI=.. -DNAME=.. -P roundtrip.cmake
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    execute_process(COMMAND ${CLI} rm ${NAME} OUTPUT_QUIET ERROR_QUIET)
    message(FATAL_ERROR "failed (${result}): ${ARGV}\n${out}")
  endif()
endfunction()
# NAME is fixed at configure time: random bits keep two suites running at once
# on one machine (two build trees, two engineers) off each other's segment.
string(RANDOM LENGTH 12 ALPHABET 0123456789abcdef salt)
set(NAME ${NAME}-${salt})
run(${HELPER} create-release ${NAME} 1000 5)
run(${PYTHON} ${PEER} answer int ${NAME} 5)
# The resource tracker unlinks at its own exit, just after Python's: give it
# that moment, so the check below would see what it did.
execute_process(COMMAND ${CMAKE_COMMAND} -E sleep 0.5)
run(${HELPER} check int ${NAME} 6)
run(${CLI} rm ${NAME})
message(STATUS "C++ -> Python -> C++ round trip done")
