#!/usr/bin/env python3
"""The smh Python package against the mechanism underneath, in one run:

- per-element [] get/set (shm[i], shm[i] = (v,)) against bare
  struct.Struct.unpack_from / pack_into on a memoryview of a private
  mapping (the bare set passes the values as separate arguments, as code
  written for speed would);
- the NumPy bulk path (shm.numpy()) against NumPy on a private array:
  a sum, a fill and an add over every element.

Each figure is the best of REPEAT interleaved runs (the two sides alternate,
so drift hits both); ratios are smh time / bare time (1.00: the same).
    PYTHONPATH=python python3 bench/python_package.py [--count N] [--json]
"""
import argparse
import json
import mmap
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from smh import SharedMemoryHandlee  # noqa: E402

REPEAT = 7


def best_pair(first, second):
    """Best times of `first` and `second`, run alternately REPEAT times."""
    times = ([], [])
    for _ in range(REPEAT):
        for side, f in enumerate((first, second)):
            start = time.perf_counter()
            f()
            times[side].append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def element_loops(fmt, value, count):
    shm = SharedMemoryHandlee(count, fmt)
    size = shm.struct.size
    private = mmap.mmap(-1, count * size)
    mv = memoryview(private)
    pack, unpack = shm.struct.pack_into, shm.struct.unpack_from
    a = value[0]
    b = value[1] if len(value) > 1 else None
    c = value[2] if len(value) > 2 else None
    arity = len(value)

    def bare_set():
        if arity == 1:
            for i in range(count):
                pack(mv, i * size, a)
        else:
            for i in range(count):
                pack(mv, i * size, a, b, c)

    def smh_set():
        for i in range(count):
            shm[i] = value

    def bare_get():
        for i in range(count):
            unpack(mv, i * size)

    def smh_get():
        for i in range(count):
            shm[i]

    results = {}
    for what, smh_side, bare_side in (("set", smh_set, bare_set), ("get", smh_get, bare_get)):
        smh_time, bare_time = best_pair(smh_side, bare_side)
        results[what] = {"smh_ns": smh_time / count * 1e9, "bare_ns": bare_time / count * 1e9,
                         "ratio": smh_time / bare_time}
    del mv
    private.close()
    shm.close()
    return results


def private_array(numpy, count, huge_pages):
    """A private float64 array, on 2 MiB pages (NumPy's default: it asks for
    transparent huge pages) or on 4 KiB pages (what /dev/shm gives unless it
    is mounted with huge=...; see the huge-pages issue)."""
    set_madvise = getattr(numpy.core.multiarray, "_set_madvise_hugepage", None)
    before = set_madvise(huge_pages) if set_madvise else None
    try:
        array = numpy.empty(count)
    finally:
        if set_madvise:
            set_madvise(before)
    # Written first: a private array fresh from calloc reads the kernel's one
    # zero page, which no real data does.
    array[:] = 1.0
    return array


def numpy_bulk(count):
    import numpy

    shm = SharedMemoryHandlee(count, "d")
    shared = shm.numpy()
    shared[:] = 1.0
    results = {}
    for pages, huge in (("huge pages", True), ("4 KiB pages", False)):
        private = private_array(numpy, count, huge)
        for what, op in (("sum", lambda x: x.sum()), ("fill", lambda x: x.fill(1.5)),
                         ("add", lambda x: numpy.add(x, 1.0, out=x))):
            smh_time, bare_time = best_pair(lambda: op(shared), lambda: op(private))
            results[f"{what} vs {pages}"] = {"smh_ms": smh_time * 1e3,
                                             "bare_ms": bare_time * 1e3,
                                             "ratio": smh_time / bare_time}
        del private
    del shared
    shm.close()
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200_000, help="elements per [] loop")
    parser.add_argument("--numpy-count", type=int, default=10_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {"python": sys.version.split()[0], "elements": {}}
    for fmt, value in (("i", (7,)), ("d", (2.5,)), ("iif", (1, 2, 3.5)),
                       ("ddi", (1.5, 2.5, 3))):
        report["elements"][fmt] = element_loops(fmt, value, args.count)
    try:
        report["numpy"] = numpy_bulk(args.numpy_count)
    except ImportError:
        report["numpy"] = "NumPy not installed"
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"Python {report['python']}; [] loops of {args.count} elements, "
          f"best of {REPEAT}, ratio = smh / bare")
    for fmt, r in report["elements"].items():
        print(f"  {fmt!r:7} set {r['set']['smh_ns']:6.0f} ns vs {r['set']['bare_ns']:6.0f} ns "
              f"= {r['set']['ratio']:.2f}x   get {r['get']['smh_ns']:6.0f} ns vs "
              f"{r['get']['bare_ns']:6.0f} ns = {r['get']['ratio']:.2f}x")
    if isinstance(report["numpy"], str):
        print("  NumPy:", report["numpy"])
    else:
        print(f"  NumPy bulk over {args.numpy_count} float64:")
        for what, r in report["numpy"].items():
            print(f"    {what:22} {r['smh_ms']:7.2f} ms vs {r['bare_ms']:7.2f} ms "
                  f"= {r['ratio']:.2f}x")


if __name__ == "__main__":
    main()
