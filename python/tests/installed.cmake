# The smh Python package as a user installs it (README, "From Python"): a
# fresh virtual environment with the system's packages, one offline pip
# install, then pytest against the installed copy (SMH_TEST_INSTALLED=1: the
# checkout is not on sys.path), with the seed examples under every start method.
# pip compiles the extension (smh._core) from include/ as it installs.
# cmake -DPYTHON=<python with pytest> -DSOURCE=<repo> -DWORK=<dir> -P installed.cmake
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out
                  WORKING_DIRECTORY ${WORK})
  message("${out}")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${what} failed (${result}): ${ARGN}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
# pip builds in the directory it is given: a copy (python/ and, next to it,
# the headers it compiles), so the checkout stays clean.
file(COPY ${SOURCE}/python/pyproject.toml ${SOURCE}/python/README.md ${SOURCE}/python/setup.py
     DESTINATION ${WORK}/checkout/python)
file(COPY ${SOURCE}/python/smh ${SOURCE}/python/src DESTINATION ${WORK}/checkout/python
     PATTERN __pycache__ EXCLUDE)
file(COPY ${SOURCE}/include DESTINATION ${WORK}/checkout)
run("creating the virtual environment" ${PYTHON} -m venv --system-site-packages ${WORK}/venv)
run("pip install" ${WORK}/venv/bin/pip install --no-build-isolation --no-index --quiet
    --disable-pip-version-check ${WORK}/checkout/python)
run("pytest against the installed package" ${CMAKE_COMMAND} -E env SMH_TEST_INSTALLED=1
    PYTHONPATH= ${WORK}/venv/bin/python -m pytest -q -rs -p no:cacheprovider
    ${SOURCE}/python/tests/test_installed.py ${SOURCE}/python/tests/test_seed_examples.py
    ${SOURCE}/python/tests/test_transfer.py)
file(REMOVE_RECURSE ${WORK})
