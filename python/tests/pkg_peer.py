#!/usr/bin/env python3
"""The package's side of the C++/Python tests, and the child processes of the
ownership tests. The pattern is tests/support/shared_types.hpp's: element i of
an int segment holds i * 7 + seed; of a geo::Point segment (i * 0.5, -seed,
i + seed); of a std::array<int, 4> one (i, seed, i * seed, -1); of a
std::atomic<uint64_t> one i + seed.

  pkg_peer.py [--numpy] answer TYPE NAME SEED   attach, check SEED, write SEED + 1
  pkg_peer.py create-hold NAME                  create 8 ints, print "ready", sleep
  pkg_peer.py create-end NAME HOW               create, then end HOW: return, exit
                                                (sys.exit(3)), raise, interrupt
  pkg_peer.py create-signal NAME CLEANUP        CLEANUP: default (as it comes), off
                                                (automatic_cleanup(False)) or cleanup
                                                (cleanup_on_termination()); create,
                                                print "ready", wait for a signal
  pkg_peer.py create-own-handler NAME           a SIGTERM handler of its own, then
                                                cleanup_on_termination(); after SIGTERM:
                                                42 if the segment is still there
  pkg_peer.py create-fork-terminate NAME        cleanup_on_termination(), create, start
                                                a forked child, terminate() it: 0 if the
                                                segment is still there
  pkg_peer.py create-release NAME COUNT SEED    create ints, write SEED, release(), exit
  pkg_peer.py add-atomic NAME TIMES             fetch_add(0, 1) TIMES times
Exit status: 0 as expected, 1 wrong data, 2 usage, 10 + errc for an smh.Error.
"""
import os
import signal
import sys
import time

import smh
from smh import SharedMemoryHandlee

ERRC = ["not_found", "already_exists", "invalid_name", "invalid_length", "type_mismatch",
        "corrupt_segment", "permission_denied", "no_space", "os_error"]

# How the helper's types look from Python.
TYPES = {
    "int": dict(struct="i"),
    "point": dict(struct="ddi", type_name="geo::Point"),
    "array": dict(struct="4i"),
    "atomic": dict(struct="Q", atomic=True),
}


def value(kind, i, seed):
    if kind == "int":
        return (i * 7 + seed,)
    if kind == "point":
        return (i * 0.5, -float(seed), i + seed)
    if kind == "array":
        return (i, seed, i * seed, -1)
    return (i + seed,)


def fill(shm, kind, seed):
    for i in range(len(shm)):
        shm[i] = value(kind, i, seed)


def holds(shm, kind, seed):
    return all(shm[i] == value(kind, i, seed) for i in range(len(shm)))


def answer_numpy(kind, name, seed):
    import numpy

    with SharedMemoryHandlee.attach(name, **TYPES[kind]) as shm:
        array = shm.numpy(names=("x", "y", "id") if kind == "point" else None)
        index = numpy.arange(len(shm))
        if kind == "int":
            ok = array.dtype == numpy.int32 and bool((array == index * 7 + seed).all())
            array += 1  # through to the segment: now SEED + 1
        elif kind == "point":
            ok = bool((array["x"] == index * 0.5).all() and (array["y"] == -seed).all()
                      and (array["id"] == index + seed).all())
            array["y"] -= 1
            array["id"] += 1
        else:
            return 2
    return 0 if ok else 1


def wait_forever():
    while True:
        time.sleep(3600)


def main(args):
    if args[:1] == ["--numpy"] and len(args) == 5 and args[1] == "answer":
        try:
            import numpy  # noqa: F401
        except ImportError:
            return 77
        return answer_numpy(args[2], args[3], int(args[4]))
    if len(args) == 4 and args[0] == "answer" and args[1] in TYPES:
        kind, name, seed = args[1], args[2], int(args[3])
        with SharedMemoryHandlee.attach(name, **TYPES[kind]) as shm:
            if not holds(shm, kind, seed):
                return 1
            fill(shm, kind, seed + 1)
        return 0
    if len(args) == 2 and args[0] == "create-hold":
        shm = SharedMemoryHandlee(8, "i", name=args[1])  # noqa: F841 - held until killed
        print("ready", flush=True)
        wait_forever()
    if len(args) == 3 and args[0] == "create-end":
        shm = SharedMemoryHandlee(8, "i", name=args[1])  # noqa: F841
        how = args[2]
        if how == "exit":
            sys.exit(3)
        if how == "raise":
            raise RuntimeError("nobody catches this")
        if how == "interrupt":
            raise KeyboardInterrupt
        return 0
    if len(args) == 3 and args[0] == "create-signal":
        if args[2] == "off":
            smh.automatic_cleanup(False)
        if args[2] == "cleanup":
            smh.automatic_cleanup(False)
            smh.cleanup_on_termination()
        shm = SharedMemoryHandlee(8, "i", name=args[1])  # noqa: F841
        print("ready", flush=True)
        wait_forever()
    if len(args) == 2 and args[0] == "create-own-handler":
        got = []
        signal.signal(signal.SIGTERM, lambda *_: got.append(1))
        smh.cleanup_on_termination()
        shm = SharedMemoryHandlee(8, "i", name=args[1])  # noqa: F841
        print("ready", flush=True)
        while not got:
            time.sleep(0.001)
        return 42 if os.path.exists("/dev/shm/" + args[1]) else 1
    if len(args) == 2 and args[0] == "create-fork-terminate":
        import multiprocessing

        smh.cleanup_on_termination()
        shm = SharedMemoryHandlee(8, "i", name=args[1])
        child = multiprocessing.get_context("fork").Process(target=wait_forever, args=())
        child.start()
        time.sleep(0.2)
        child.terminate()  # SIGTERM: the child runs the handler it inherited
        child.join()
        there = os.path.exists("/dev/shm/" + args[1])
        shm.close()
        return 0 if child.exitcode == -signal.SIGTERM and there else 1
    if len(args) == 4 and args[0] == "create-release":
        shm = SharedMemoryHandlee(int(args[2]), "i", name=args[1])
        fill(shm, "int", int(args[3]))
        return 0 if shm.release() else 1
    if len(args) == 3 and args[0] == "add-atomic":
        with SharedMemoryHandlee.attach(args[1], "Q", atomic=True) as shm:
            for _ in range(int(args[2])):
                shm.fetch_add(0, 1)
        return 0
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except smh.Error as e:
        print(f"pkg_peer.py: {e}", file=sys.stderr)
        sys.exit(10 + ERRC.index(e.code.value) + 1)
