#!/usr/bin/env python3
"""The loops of bench/python_equivalent.cpp, done the way the Python module
this library replaces does them: multiprocessing.shared_memory with a
struct.Struct's pack_into / unpack_from per element. Prints JSON with the
best of three runs, in nanoseconds per element."""
import json
import struct
import time
from multiprocessing import shared_memory

COUNT = 1_000_000


def one_run(buf, element):
    start = time.perf_counter()
    for i in range(COUNT):
        element.pack_into(buf, i * 4, i)
    set_seconds = time.perf_counter() - start

    start = time.perf_counter()
    total = 0
    for i in range(COUNT):
        total += element.unpack_from(buf, i * 4)[0]
    get_seconds = time.perf_counter() - start
    assert total == COUNT * (COUNT - 1) // 2
    return set_seconds, get_seconds


def main():
    shm = shared_memory.SharedMemory(create=True, size=COUNT * 4)
    try:
        buf = shm.buf
        element = struct.Struct("i")
        runs = [one_run(buf, element) for _ in range(3)]
        del buf
    finally:
        shm.close()
        shm.unlink()
    print(json.dumps({
        "set_ns_per_element": min(r[0] for r in runs) / COUNT * 1e9,
        "get_ns_per_element": min(r[1] for r in runs) / COUNT * 1e9,
    }))


if __name__ == "__main__":
    main()
