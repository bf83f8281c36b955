#!/usr/bin/env python3
"""The Python side of the C++/Python tests, speaking the test helper's
protocol (tests/support/helper.cpp): element i of an int32 segment holds
i * 7 + seed; of a geo::Point segment, (i * 0.5, -seed, i + seed).

  peer.py answer int NAME SEED             attach, check SEED, write SEED + 1
  peer.py --numpy answer int NAME SEED     the same through seg.numpy()
                                          (exit 77, skipped, without NumPy)
  peer.py create-run int|point COUNT SEED PROGRAM...
      create a segment, write SEED, run `PROGRAM... answer int NAME SEED`,
      check SEED + 1, remove the segment
Exit status: 0 as expected, 1 wrong data, 2 usage, 10 + errc for a SegmentError.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from smh_segment import Segment, SegmentError  # noqa: E402

ERRC = {"not_found": 1, "already_exists": 2, "invalid_name": 3, "invalid_length": 4,
        "type_mismatch": 5, "corrupt_segment": 6, "permission_denied": 7, "no_space": 8,
        "os_error": 9}


POINT = "ddi4x"  # struct geo::Point { double x; double y; int32_t id; }: 24 bytes, align 8


def value(kind, i, seed):
    return i * 7 + seed if kind == "int" else (i * 0.5, -float(seed), i + seed)


def fill(seg, seed, kind="int"):
    for i in range(len(seg)):
        seg[i] = value(kind, i, seed)


def holds(seg, seed, kind="int"):
    return all(seg[i] == value(kind, i, seed) for i in range(len(seg)))


def main(args):
    if len(args) >= 4 and args[0] == "answer" and args[1] == "int":
        seed = int(args[3])
        with Segment.attach(args[2], type_name="int32") as seg:
            if not holds(seg, seed):
                return 1
            fill(seg, seed + 1)
        return 0
    if len(args) >= 5 and args[:3] == ["--numpy", "answer", "int"]:
        args = args[1:]
        try:
            import numpy
        except ImportError:
            print("peer.py: NumPy is not installed", file=sys.stderr)
            return 77
        seed = int(args[3])
        with Segment.attach(args[2], type_name="int32") as seg:
            array = seg.numpy()
            expected = numpy.arange(len(seg), dtype=numpy.int32) * 7 + seed
            ok = array.dtype == numpy.int32 and bool((array == expected).all())
            array += 1  # writes through to the segment: now SEED + 1
            del array  # views must go before close()
        return 0 if ok else 1
    if len(args) >= 5 and args[0] == "create-run" and args[1] in ("int", "point"):
        kind, count, seed = args[1], int(args[2]), int(args[3])
        name = f"smh-test-{os.getpid()}-py-{count}"
        if kind == "int":
            seg = Segment.create(name, "int32", count)
        else:
            seg = Segment.create(name, "geo::Point", count, fmt=POINT)
        try:
            fill(seg, seed, kind)
            child = subprocess.run(args[4:] + ["answer", kind, name, str(seed)], check=False)
            if child.returncode != 0:
                return child.returncode
            return 0 if holds(seg, seed + 1, kind) else 1
        finally:
            seg.unlink()
            seg.close()
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except SegmentError as e:
        print(f"peer.py: {e}", file=sys.stderr)
        sys.exit(10 + ERRC.get(e.code, 9))
