# The installed package, as consumers use it. One step per MODE:
#   install      builds smh and installs it with `cmake --install --prefix`,
#                into a prefix other than the configured one (LICENSE too);
#                a configuration with SMH_BUILD_TOOLS=OFF installs headers only
#   cmake        builds and runs a consumer through find_package(smh CONFIG),
#                and one through add_subdirectory
#   pkg-config   builds and runs a consumer with nothing but the compiler,
#                the -std flag and `pkg-config --cflags --libs smh`, from the
#                install and from a copy of it moved elsewhere
# cmake -DMODE=.. -DSOURCE_DIR=.. -DWORK_DIR=.. -DCXX=.. -DGENERATOR=.. -P run.cmake
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed (${result}): ${ARGV}\n${out}")
  endif()
  message(STATUS "${out}")
endfunction()

set(here ${CMAKE_CURRENT_LIST_DIR})
set(common -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX})
set(prefix ${WORK_DIR}/prefix)

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE ${WORK_DIR})
  # Configured for one prefix, installed into another: what is installed must
  # point into the prefix it was installed to.
  run(${CMAKE_COMMAND} ${common} -S ${SOURCE_DIR} -B ${WORK_DIR}/smh
      -DSMH_BUILD_TESTS=OFF -DSMH_BUILD_EXAMPLES=OFF -DSMH_INSTALL=ON
      -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/configured-prefix)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/smh)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/smh --prefix ${prefix})
  foreach(installed include/smh/shared_memory_handlee.hpp lib/cmake/smh/smhConfig.cmake
          lib/cmake/smh/smhConfigVersion.cmake share/pkgconfig/smh.pc bin/smh
          share/doc/smh/LICENSE)
    if(NOT EXISTS ${prefix}/${installed})
      message(FATAL_ERROR "cmake --install did not install ${installed}")
    endif()
  endforeach()
  if(EXISTS ${WORK_DIR}/configured-prefix)
    message(FATAL_ERROR "cmake --install --prefix wrote into the configured prefix")
  endif()
  run(${prefix}/bin/smh --version)

  # The headers-only install the README offers: nothing to compile, no tool.
  set(headers_only ${WORK_DIR}/headers-only-prefix)
  run(${CMAKE_COMMAND} ${common} -S ${SOURCE_DIR} -B ${WORK_DIR}/smh-headers-only
      -DSMH_BUILD_TESTS=OFF -DSMH_BUILD_EXAMPLES=OFF -DSMH_BUILD_TOOLS=OFF -DSMH_INSTALL=ON)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/smh-headers-only --prefix ${headers_only})
  if(NOT EXISTS ${headers_only}/include/smh/shared_memory_handlee.hpp OR
     NOT EXISTS ${headers_only}/share/pkgconfig/smh.pc OR EXISTS ${headers_only}/bin)
    message(FATAL_ERROR "SMH_BUILD_TOOLS=OFF did not install the headers alone")
  endif()
  file(REMOVE_RECURSE ${WORK_DIR}/smh-headers-only ${headers_only})
elseif(MODE STREQUAL "cmake")
  run(${CMAKE_COMMAND} ${common} -S ${here}/find_package -B ${WORK_DIR}/find_package
      -DCMAKE_PREFIX_PATH=${prefix})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/find_package)
  run(${WORK_DIR}/find_package/consumer)

  run(${CMAKE_COMMAND} ${common} -S ${here}/add_subdirectory -B ${WORK_DIR}/add_subdirectory
      -DSMH_SOURCE_DIR=${SOURCE_DIR})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/add_subdirectory)
  run(${WORK_DIR}/add_subdirectory/consumer)
elseif(MODE STREQUAL "pkg-config")
  find_program(PKG_CONFIG NAMES pkg-config pkgconf)
  if(NOT PKG_CONFIG)
    message("skipped: pkg-config is not installed")
    return()
  endif()
  # The install, then a copy of it elsewhere (a prefix moved, or unpacked
  # from an archive): each must point into itself, not where it was made.
  set(moved ${WORK_DIR}/moved-prefix)
  file(REMOVE_RECURSE ${moved})
  file(COPY ${prefix}/ DESTINATION ${moved})
  foreach(root IN ITEMS ${prefix} ${moved})
    # Only this tree's file: no system or user directories.
    set(ENV{PKG_CONFIG_PATH} "")
    set(ENV{PKG_CONFIG_LIBDIR} ${root}/share/pkgconfig)
    execute_process(COMMAND ${PKG_CONFIG} --cflags --libs smh OUTPUT_VARIABLE flags
                    OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
    message(STATUS "pkg-config --cflags --libs smh, installed in ${root}: ${flags}")
    if(NOT flags MATCHES "(^| )-I([^ ]*)/include( |$)")
      message(FATAL_ERROR "pkg-config gives no include directory: ${flags}")
    endif()
    file(REAL_PATH "${CMAKE_MATCH_2}" include_prefix)
    file(REAL_PATH "${root}" real_root)
    if(NOT include_prefix STREQUAL real_root)
      message(FATAL_ERROR "smh.pc in ${root} points elsewhere: ${flags}")
    endif()
    if(flags MATCHES "-std=")
      message(FATAL_ERROR "smh.pc chooses the language level for its consumer: ${flags}")
    endif()
    separate_arguments(flags UNIX_COMMAND "${flags}")
    run(${CXX} -std=c++20 ${here}/consumer.cpp ${flags} -o ${WORK_DIR}/pkg_config_consumer)
    run(${WORK_DIR}/pkg_config_consumer)
  endforeach()
  file(REMOVE_RECURSE ${moved})

  # README.md's pkg-config line, as written, with the prefix and the source
  # file replaced.
  file(STRINGS ${SOURCE_DIR}/README.md line REGEX "pkg-config --cflags --libs smh\\)$")
  if(NOT line MATCHES "^c\\+\\+ .*/some/prefix")
    message(FATAL_ERROR "README.md has no pkg-config line to try: ${line}")
  endif()
  string(REPLACE "/some/prefix" "${prefix}" line "${line}")
  string(REPLACE "app.cpp" "${here}/consumer.cpp -o ${WORK_DIR}/readme_consumer" line "${line}")
  string(REGEX REPLACE "^c\\+\\+ " "${CXX} " line "${line}")
  unset(ENV{PKG_CONFIG_LIBDIR})
  run(sh -e -c "${line}")
  run(${WORK_DIR}/readme_consumer)
else()
  message(FATAL_ERROR "MODE must be install, cmake or pkg-config, not '${MODE}'")
endif()
