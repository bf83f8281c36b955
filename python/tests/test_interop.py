"""C++ <-> Python, both ways, with the real C++ test helper
(tests/support/helper.cpp): a multi-field struct (geo::Point), std::array,
an atomic counter both sides add to at once, and NumPy views."""
import os
import subprocess
import sys

import pytest

from conftest import HERE

from smh import SharedMemoryHandlee

PEER = os.path.join(HERE, "pkg_peer.py")
sys.path.insert(0, HERE)
from pkg_peer import TYPES, fill, holds  # noqa: E402

TYPE_MISMATCH_EXIT = 10 + 5


def run(command, timeout=60):
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("kind", ["int", "point", "array", "atomic"])
def test_cpp_creates_and_python_answers(kind, helper):
    code, out = run([helper, "create-run", kind, "100", "4", sys.executable, PEER])
    assert code == 0, out


@pytest.mark.parametrize("kind", ["int", "point", "array", "atomic"])
def test_python_creates_and_cpp_answers(kind, helper, names):
    with SharedMemoryHandlee(100, name=names(), **TYPES[kind]) as shm:
        fill(shm, kind, 3)
        code, out = run([helper, "answer", kind, shm.name, "3"])
        assert code == 0, out
        assert holds(shm, kind, 4)


@pytest.mark.parametrize("kind", ["int", "point"])
def test_numpy_views_of_a_cpp_segment(kind, helper, numpy):
    code, out = run([helper, "create-run", kind, "300", "2", sys.executable, PEER, "--numpy"])
    assert code == 0, out


def test_cpp_refuses_a_python_struct_named_otherwise(helper, names):
    with SharedMemoryHandlee(4, "ddi", name=names()) as shm:  # no type_name: not geo::Point
        code, out = run([helper, "attach", "point", shm.name])
        assert code == TYPE_MISMATCH_EXIT and "type_mismatch" in out, out
    with SharedMemoryHandlee(4, "iii", name=names()) as shm:  # 12 bytes, not a geo::Point
        code, out = run([helper, "attach", "point", shm.name])
        assert code == TYPE_MISMATCH_EXIT, out
    with SharedMemoryHandlee(4, "I", name=names()) as shm:  # uint32, not int
        code, out = run([helper, "attach", "int", shm.name])
        assert code == TYPE_MISMATCH_EXIT, out


def test_python_refuses_a_cpp_segment_of_another_type(helper, names):
    name = names()
    code, out = run([helper, "create-release", name, "10", "1"])
    assert code == 0, out
    try:
        code, out = run([sys.executable, PEER, "answer", "point", name, "1"])
        assert code == TYPE_MISMATCH_EXIT, out
        for struct in ("f", "I", "q", "ii"):
            with pytest.raises(Exception) as caught:
                SharedMemoryHandlee.attach(name, struct)
            assert getattr(caught.value, "code", None) == "type_mismatch"
    finally:
        os.unlink("/dev/shm/" + name)


def test_an_atomic_counter_loses_no_update_across_languages(helper, names):
    times, cpp_times = 20000, 3000000  # C++ adds faster: long enough to overlap
    with SharedMemoryHandlee(1, "Q", atomic=True, name=names()) as counter:
        processes = [subprocess.Popen([helper, "add-atomic", counter.name, str(cpp_times)]),
                     subprocess.Popen([helper, "add-atomic", counter.name, str(cpp_times)]),
                     subprocess.Popen([sys.executable, PEER, "add-atomic", counter.name,
                                       str(times)])]
        for _ in range(times):
            counter.fetch_add(0, 1)
        for process in processes:
            assert process.wait(timeout=120) == 0
        assert counter.load(0) == 2 * times + 2 * cpp_times
