#!/usr/bin/env python3
"""The Python side of the C++/Python tests run by ctest (python/CMakeLists.txt),
speaking the test helper's protocol (tests/support/helper.cpp): element i of
an int32 segment holds i * 7 + seed; of a geo::Point segment,
(i * 0.5, -seed, i + seed). Through the smh package, as its users would.

  peer.py answer int NAME SEED             attach, check SEED, write SEED + 1
  peer.py --numpy answer int NAME SEED     the same through numpy()
                                          (exit 77, skipped, without NumPy)
  peer.py create-run int|point COUNT SEED PROGRAM...
      create a segment, write SEED, run `PROGRAM... answer int NAME SEED`,
      check SEED + 1; the owner's close() removes the segment
Exit status: 0 as expected, 1 wrong data, 2 usage, 10 + errc for an smh.Error.
"""
import os
import subprocess
import sys

import smh
from smh import SharedMemoryHandlee

ERRC = ["not_found", "already_exists", "invalid_name", "invalid_length", "type_mismatch",
        "corrupt_segment", "permission_denied", "no_space", "os_error"]
TYPES = {"int": dict(struct="i"), "point": dict(struct="ddi", type_name="geo::Point")}


def value(kind, i, seed):
    return (i * 7 + seed,) if kind == "int" else (i * 0.5, -float(seed), i + seed)


def fill(shm, seed, kind="int"):
    for i in range(len(shm)):
        shm[i] = value(kind, i, seed)


def holds(shm, seed, kind="int"):
    return all(shm[i] == value(kind, i, seed) for i in range(len(shm)))


def main(args):
    if len(args) >= 4 and args[0] == "answer" and args[1] == "int":
        seed = int(args[3])
        with SharedMemoryHandlee.attach(args[2], **TYPES["int"]) as shm:
            if shm.type_name != "int32" or not holds(shm, seed):
                return 1
            fill(shm, seed + 1)
        return 0
    if len(args) >= 5 and args[:3] == ["--numpy", "answer", "int"]:
        args = args[1:]
        try:
            import numpy
        except ImportError:
            print("peer.py: NumPy is not installed", file=sys.stderr)
            return 77
        seed = int(args[3])
        with SharedMemoryHandlee.attach(args[2], **TYPES["int"]) as shm:
            array = shm.numpy()
            expected = numpy.arange(len(shm), dtype=numpy.int32) * 7 + seed
            ok = array.dtype == numpy.int32 and bool((array == expected).all())
            array += 1  # writes through to the segment: now SEED + 1
        return 0 if ok else 1
    if len(args) >= 5 and args[0] == "create-run" and args[1] in TYPES:
        kind, count, seed = args[1], int(args[2]), int(args[3])
        name = f"smh-test-{os.getpid()}-py-{count}"
        with SharedMemoryHandlee(count, name=name, **TYPES[kind]) as shm:
            fill(shm, seed, kind)
            child = subprocess.run(args[4:] + ["answer", kind, name, str(seed)], check=False)
            if child.returncode != 0:
                return child.returncode
            return 0 if holds(shm, seed + 1, kind) else 1
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except smh.Error as e:
        print(f"peer.py: {e}", file=sys.stderr)
        sys.exit(10 + ERRC.index(e.code.value) + 1)
