"""The Python module's users, moving over: its README's two examples (in
seed/, only the import line changed) print what that README shows, under
every multiprocessing start method, and leave nothing behind; the object
also travels through multiprocessing.Pool and ProcessPoolExecutor, by name."""
import concurrent.futures
import multiprocessing
import os
import subprocess
import sys

import pytest

from conftest import HERE, leftovers, prefix

from smh import SharedMemoryHandlee

METHODS = [m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]
BASIC = "".join(f"({i},)\n" for i in range(10))
DOUBLED = "".join(f"({i * 2},)\n" for i in range(10))


def run_example(script, method, tag):
    command = [sys.executable, os.path.join(HERE, "run_seed.py"), method,
               os.path.join(HERE, "seed", script), tag]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          cwd=os.path.join(HERE, "seed"))
    return done


@pytest.mark.parametrize("script,expected", [("example_basic.py", BASIC),
                                             ("example_multiprocessing.py", DOUBLED)],
                         ids=["basic", "multiprocessing"])
@pytest.mark.parametrize("method", ["default"] + METHODS)
def test_the_seed_examples_print_the_same_and_leave_nothing(script, expected, method):
    tag = f"{prefix()}seed-{method}-{script[8:11]}-"
    try:
        done = run_example(script, method, tag)
        assert done.returncode == 0, done.stderr
        assert done.stdout == expected
        report = [line for line in done.stderr.splitlines() if line.startswith("created ")]
        # One segment, created by the parent, and its name gone at `del`.
        assert len(report) == 1 and report[0].endswith(" gone"), done.stderr
        assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
    finally:
        left = leftovers(tag)
        for name in left:
            os.unlink("/dev/shm/" + name)
    assert left == []


def double(shm, start, end):
    for i in range(start, end):
        shm[i] = (i * 2,)
    return shm.is_owner()


def give_back(shm):
    return shm


@pytest.mark.parametrize("method", METHODS)
def test_a_pool_gets_the_segment_by_name(method, names):
    context = multiprocessing.get_context(method)
    with SharedMemoryHandlee(10, "i", name=names()) as shm:
        with context.Pool(2) as pool:
            owners = pool.starmap(double, [(shm, 0, 5), (shm, 5, 10)])
            back = pool.apply(give_back, (shm,))  # pickled both ways: attached again
        assert owners == [False, False]  # a worker's copy never owns it
        assert [shm[i] for i in range(10)] == [(i * 2,) for i in range(10)]
        assert os.path.exists("/dev/shm/" + shm.name)  # no worker removed it
        assert shm.is_owner() and not back.is_owner()
        back[0] = (99,)
        assert shm[0] == (99,)  # the same memory, not a copy
        back.close()
        assert os.path.exists("/dev/shm/" + shm.name)
    assert not os.path.exists("/dev/shm/" + shm.name)  # the owner's `with` removed it


@pytest.mark.parametrize("method", METHODS)
def test_a_process_pool_executor_gets_the_segment_by_name(method, names):
    context = multiprocessing.get_context(method)
    shm = SharedMemoryHandlee(10, "i", name=names())
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as executor:
        futures = [executor.submit(double, shm, 0, 5), executor.submit(double, shm, 5, 10)]
        assert [f.result(timeout=60) for f in futures] == [False, False]
    assert list(shm) == [(i * 2,) for i in range(10)]
    assert os.path.exists("/dev/shm/" + shm.name)
    del shm  # the owner's last reference: the name goes
    assert leftovers(prefix()) == []


class WithAttributes(SharedMemoryHandlee):
    """A subclass with attributes of its own, as the old module's users wrote."""

    def __init__(self, length, label):
        super().__init__(length, struct="id")
        self.label = label


def describe(obj):
    return obj.label, type(obj).__name__, obj[1]


@pytest.mark.parametrize("method", METHODS)
def test_a_subclass_with_attributes_travels_with_them(method, names):
    obj = WithAttributes(3, "hello")
    obj[1] = (7, 2.5)
    with multiprocessing.get_context(method).Pool(1) as pool:
        assert pool.apply(describe, (obj,)) == ("hello", "WithAttributes", (7, 2.5))
    obj.close()
