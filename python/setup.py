"""Builds smh._core, the package's compiled extension: the C++ library's
headers (../include, found next to this directory) bound with pybind11
(Debian's python3-pybind11; no other binding library). pip runs it:
    /usr/bin/python3 -m venv --system-site-packages venv
    venv/bin/pip install --no-build-isolation --no-index ./python
which needs a C++20 compiler (g++ 11 or later), python3-dev, python3-pybind11
and Boost's headers (libboost-dev): scripts/install-deps installs them.
SMH_INCLUDE_DIR names the headers' directory when they are elsewhere (the
one holding smh/shared_memory_handlee.hpp); CPPFLAGS=-I... Boost's. Linux only."""
import os
import sys

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))


def headers():
    for candidate in (os.environ.get("SMH_INCLUDE_DIR"), os.path.join(HERE, "..", "include")):
        if candidate and os.path.isfile(os.path.join(candidate, "smh",
                                                     "shared_memory_handlee.hpp")):
            return os.path.abspath(candidate)
    sys.exit("smh: the C++ headers (include/smh/) are not next to this python/ directory: "
             "install from a clone of the repository, or set SMH_INCLUDE_DIR")


if not sys.platform.startswith("linux"):
    sys.exit("smh: the Python package is for Linux (segments are files in /dev/shm)")

setup(ext_modules=[Pybind11Extension(
    "smh._core", ["src/module.cpp"], include_dirs=[headers()], cxx_std=20,
    depends=[os.path.join("src", name) for name in ("elements.hpp", "handle.hpp")],
    extra_compile_args=["-O2", "-Wall", "-Wextra"])])
