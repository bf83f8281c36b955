# Installs smh into a private prefix, then builds and runs two consumer
# projects: one through find_package(smh CONFIG), one through add_subdirectory.
# cmake -DSOURCE_DIR=.. -DWORK_DIR=.. -DCXX=.. -DGENERATOR=.. -P run.cmake
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed (${result}): ${ARGV}\n${out}")
  endif()
  message(STATUS "${out}")
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(here ${CMAKE_CURRENT_LIST_DIR})
set(common -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX})

run(${CMAKE_COMMAND} ${common} -S ${SOURCE_DIR} -B ${WORK_DIR}/smh
    -DSMH_BUILD_TESTS=OFF -DSMH_BUILD_EXAMPLES=OFF -DSMH_INSTALL=ON
    -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/smh)
run(${CMAKE_COMMAND} --install ${WORK_DIR}/smh)
foreach(installed include/smh/shared_memory_handlee.hpp lib/cmake/smh/smhConfig.cmake
        lib/cmake/smh/smhConfigVersion.cmake share/pkgconfig/smh.pc bin/smh)
  if(NOT EXISTS ${WORK_DIR}/prefix/${installed})
    message(FATAL_ERROR "cmake --install did not install ${installed}")
  endif()
endforeach()
run(${WORK_DIR}/prefix/bin/smh --version)

# A consumer without CMake: pkg-config's flags are enough to build.
find_program(PKG_CONFIG pkg-config)
if(PKG_CONFIG)
  set(ENV{PKG_CONFIG_PATH} ${WORK_DIR}/prefix/share/pkgconfig)
  execute_process(COMMAND ${PKG_CONFIG} --cflags --libs smh OUTPUT_VARIABLE flags
                  OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(${CXX} ${here}/consumer.cpp ${flags} -o ${WORK_DIR}/pkg_config_consumer)
  run(${WORK_DIR}/pkg_config_consumer)
else()
  message(STATUS "pkg-config not installed: the pkg-config consumer is not built")
endif()

run(${CMAKE_COMMAND} ${common} -S ${here}/find_package -B ${WORK_DIR}/find_package
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/find_package)
run(${WORK_DIR}/find_package/consumer)

run(${CMAKE_COMMAND} ${common} -S ${here}/add_subdirectory -B ${WORK_DIR}/add_subdirectory
    -DSMH_SOURCE_DIR=${SOURCE_DIR})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/add_subdirectory)
run(${WORK_DIR}/add_subdirectory/consumer)
