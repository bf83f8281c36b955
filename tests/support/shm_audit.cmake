# cmake -DMODE=snapshot|check -DSNAPSHOT=<file> -P shm_audit.cmake
# snapshot: records the smh- segments present before the tests.
# check:    fails, naming them, if any new smh- segment is still there whose
#           creating process has ended: a test (or a child it started) left it
#           behind. Those are removed, so one failing run does not fail the
#           next. Segments of processes still running (another suite, a
#           benchmark) are neither reported nor touched.
if(NOT IS_DIRECTORY /dev/shm)
  message(STATUS "no /dev/shm here: nothing to audit")
  return()
endif()
file(GLOB now RELATIVE /dev/shm /dev/shm/smh-*)
if(MODE STREQUAL "snapshot")
  file(WRITE ${SNAPSHOT} "${now}")
  list(LENGTH now count)
  message(STATUS "${count} smh- segment(s) existed before the tests")
  return()
endif()
file(READ ${SNAPSHOT} before)
if(before)
  list(REMOVE_ITEM now ${before})
endif()

# The creating process: from names like smh-test-<pid>-..., else from the
# header's creator_pid (offset 80, little-endian; docs/layout.md).
function(creator_of name out)
  set(${out} "" PARENT_SCOPE)
  if(name MATCHES "^smh-[a-z]+-([0-9]+)-")
    set(${out} ${CMAKE_MATCH_1} PARENT_SCOPE)
    return()
  endif()
  # Another user's segment (0600) is none of ours, and reading it would fail.
  execute_process(COMMAND test -r /dev/shm/${name} RESULT_VARIABLE unreadable)
  if(unreadable)
    return()
  endif()
  file(READ /dev/shm/${name} magic LIMIT 8 HEX)
  if(NOT magic STREQUAL "534d485345470001")
    return()
  endif()
  file(READ /dev/shm/${name} pid_hex OFFSET 80 LIMIT 4 HEX)
  string(REGEX MATCHALL ".." bytes "${pid_hex}")
  list(REVERSE bytes)
  string(JOIN "" pid_hex ${bytes})
  math(EXPR pid "0x${pid_hex}")
  set(${out} ${pid} PARENT_SCOPE)
endfunction()

set(left "")
foreach(name IN LISTS now)
  creator_of(${name} pid)
  if(pid AND NOT EXISTS /proc/${pid})
    list(APPEND left ${name})
    file(REMOVE /dev/shm/${name})
  endif()
endforeach()
if(left)
  message(FATAL_ERROR "the tests left segments behind: ${left}")
endif()
message(STATUS "no segment left behind")
