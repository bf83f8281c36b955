#cmake - DMODE = snapshot | check - DSNAPSHOT = < file> - P shm_audit.cmake
#snapshot : records the smh - segments present before the tests.
#check : fails, naming them, if any other smh - segment is present now, and
#removes them so one failing run does not fail the next.
if (NOT IS_DIRECTORY / dev / shm)
message(STATUS "no /dev/shm here: nothing to audit") return () endif()
    file(GLOB now RELATIVE / dev / shm / dev / shm / smh - *) if (MODE STREQUAL "snapshot")
        file(WRITE $ { SNAPSHOT } "${now}") list(LENGTH now count)
            message(STATUS "${count} smh- segment(s) existed before the tests") return () endif()
                file(READ ${SNAPSHOT} before) if (before) list(REMOVE_ITEM now ${before})
                    endif() if (now) foreach (name IN LISTS now) file(REMOVE / dev / shm / ${name})
                        endforeach() message(FATAL_ERROR "the tests left segments behind: ${now}")
                            endif() message(STATUS "no segment left behind")
