#!/usr/bin/env python3
"""The smh Python package against the mechanism underneath and against the
old module's approach, in one run:

- per-element [] get/set (shm[i], shm[i] = values), for one-field and
  multi-field formats, against bare struct.Struct.unpack_from / pack_into
  on a memoryview of a private mapping (the bare set passes the values as
  separate arguments, as code written for speed would), and against the old
  module's approach: a Python-level __getitem__/__setitem__ calling the
  element's Struct on a memoryview (shared_memory_handler did that, and so
  did this package before its extension);
- the .data/.struct loop (what the old module's README advised for speed);
- the NumPy bulk path (shm.numpy()) against NumPy on a private array: a sum,
  a fill and an add over every element.

Each figure is the best of REPEAT interleaved runs (the sides alternate, so
drift hits all of them); ratios are time / bare struct's time (1.00: the same).
The package comes from the environment: a build's python-path or an install.
    PYTHONPATH=build/tests/python/python-path /usr/bin/python3 bench/python_package.py
    [--count N] [--json]
"""
import argparse
import json
import mmap
import sys
import time

from smh import SharedMemoryHandlee

REPEAT = 7
FORMATS = (("i", (7,)), ("d", (2.5,)), ("iif", (1, 2, 3.5)), ("ddi", (1.5, 2.5, 3)),
           ("4s", (b"ab",)))


class OldModuleStyle:
    """[] the way the old module did it: Python methods over a Struct."""

    __slots__ = ("_smh_data", "_smh_struct", "_smh_size", "_smh_length")

    def __init__(self, data, struct):
        self._smh_data = data
        self._smh_struct = struct
        self._smh_size = struct.size
        self._smh_length = len(data) // struct.size

    def __getitem__(self, index):
        if not 0 <= index < self._smh_length:
            raise IndexError(index)
        return self._smh_struct.unpack_from(self._smh_data, index * self._smh_size)

    def __setitem__(self, index, value):
        if not 0 <= index < self._smh_length:
            raise IndexError(index)
        self._smh_struct.pack_into(self._smh_data, index * self._smh_size, *value)


def best(*functions):
    """Best time of each of `functions`, run alternately REPEAT times."""
    times = [[] for _ in functions]
    for _ in range(REPEAT):
        for side, f in enumerate(functions):
            start = time.perf_counter()
            f()
            times[side].append(time.perf_counter() - start)
    return [min(t) for t in times]


def element_loops(fmt, value, count):
    shm = SharedMemoryHandlee(count, fmt)
    size = shm.struct.size
    private = mmap.mmap(-1, count * size)
    mv = memoryview(private)
    old_private = mmap.mmap(-1, count * size)
    old = OldModuleStyle(memoryview(old_private), shm.struct)
    pack, unpack = shm.struct.pack_into, shm.struct.unpack_from
    a, b, c = (value + (None, None))[:3]
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

    def old_set():
        for i in range(count):
            old[i] = value

    def bare_get():
        for i in range(count):
            unpack(mv, i * size)

    def smh_get():
        for i in range(count):
            shm[i]

    def old_get():
        for i in range(count):
            old[i]

    data, struct = shm.data, shm.struct
    data_pack, data_unpack = struct.pack_into, struct.unpack_from

    def data_get():  # the .data/.struct loop, on the segment
        for i in range(count):
            data_unpack(data, i * size)

    results = {}
    for what, sides in (("get", (bare_get, smh_get, old_get, data_get)),
                        ("set", (bare_set, smh_set, old_set))):
        times = best(*sides)
        bare = times[0]
        results[what] = {"bare_ns": bare / count * 1e9,
                         "smh_ns": times[1] / count * 1e9, "smh_ratio": times[1] / bare,
                         "old_ns": times[2] / count * 1e9, "old_ratio": times[2] / bare}
        if len(times) > 3:
            results[what]["data_ratio"] = times[3] / bare
    del mv, data, old
    private.close()
    old_private.close()
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
            smh_time, bare_time = best(lambda: op(shared), lambda: op(private))
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
    report = {"python": sys.version.split()[0], "executable": sys.executable, "elements": {}}
    for fmt, value in FORMATS:
        report["elements"][fmt] = element_loops(fmt, value, args.count)
    try:
        report["numpy"] = numpy_bulk(args.numpy_count)
    except ImportError:
        report["numpy"] = "NumPy not installed"
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"Python {report['python']} ({report['executable']}); [] loops of {args.count} "
          f"elements, best of {REPEAT} interleaved runs; ratio = time / bare struct's")
    print()
    print("| format | bare struct get | smh `shm[i]` | old module's `[]` | `.data`/`.struct` "
          "| bare struct set | smh `shm[i] = v` | old module's `[]=` |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for fmt, r in report["elements"].items():
        g, s = r["get"], r["set"]
        print(f"| `{fmt}` | {g['bare_ns']:.0f} ns | {g['smh_ns']:.0f} ns ({g['smh_ratio']:.2f}×) "
              f"| {g['old_ns']:.0f} ns ({g['old_ratio']:.2f}×) | {g['data_ratio']:.2f}× "
              f"| {s['bare_ns']:.0f} ns | {s['smh_ns']:.0f} ns ({s['smh_ratio']:.2f}×) "
              f"| {s['old_ns']:.0f} ns ({s['old_ratio']:.2f}×) |")
    if isinstance(report["numpy"], str):
        print("\nNumPy:", report["numpy"])
    else:
        print(f"\nNumPy bulk over {args.numpy_count} float64:")
        for what, r in report["numpy"].items():
            print(f"    {what:22} {r['smh_ms']:7.2f} ms vs {r['bare_ms']:7.2f} ms "
                  f"= {r['ratio']:.2f}x")


if __name__ == "__main__":
    main()
