"""Per-element [] within 1.3x of a bare struct call, for one-field and
multi-field formats alike: shm[i] against Struct.unpack_from on a memoryview
of a private mapping, shm[i] = values against Struct.pack_into with the
values as arguments (what code written for speed does). The best of several
interleaved runs, as bench/python_package.py measures it (which also prints
the old module's approach); ctest runs this file alone (RUN_SERIAL)."""
import mmap
import time

import pytest

from smh import SharedMemoryHandlee

COUNT = 50_000
REPEAT = 7
LIMIT = 1.3
VALUES = {"i": (7,), "d": (2.5,), "iif": (1, 2, 3.5), "ddi": (1.5, 2.5, 3), "4s": (b"ab",)}


def best_pair(first, second):
    times = ([], [])
    for _ in range(REPEAT):
        for side, f in enumerate((first, second)):
            start = time.perf_counter()
            f()
            times[side].append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


@pytest.mark.parametrize("fmt", sorted(VALUES))
def test_element_access_costs_at_most_a_bare_struct_call_and_a_third(fmt, names):
    value = VALUES[fmt]
    with SharedMemoryHandlee(COUNT, fmt, name=names()) as shm:
        size = shm.struct.size
        private = mmap.mmap(-1, COUNT * size)
        mv = memoryview(private)
        pack, unpack = shm.struct.pack_into, shm.struct.unpack_from
        a, b, c = (value + (None, None))[:3]

        def bare_set():
            if len(value) == 1:
                for i in range(COUNT):
                    pack(mv, i * size, a)
            else:
                for i in range(COUNT):
                    pack(mv, i * size, a, b, c)

        def smh_set():
            for i in range(COUNT):
                shm[i] = value

        def bare_get():
            for i in range(COUNT):
                unpack(mv, i * size)

        def smh_get():
            for i in range(COUNT):
                shm[i]

        try:
            ratios = {}
            for what, ours, bare in (("get", smh_get, bare_get), ("set", smh_set, bare_set)):
                smh_time, bare_time = best_pair(ours, bare)
                ratios[what] = smh_time / bare_time
            assert shm[COUNT - 1] == shm.struct.unpack(shm.struct.pack(*value))
        finally:
            del mv
            private.close()
    assert max(ratios.values()) <= LIMIT, ratios
