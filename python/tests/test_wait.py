"""wait and notify across processes and languages: a C++ notifier wakes a
Python waiter and the other way round (both are the C++ library's code)."""
import subprocess
import threading
import time

import pytest

from smh import SharedMemoryHandlee


@pytest.mark.parametrize("fmt,bits", [("I", "32"), ("Q", "64")])
def test_a_python_waiter_is_woken_by_a_cpp_notifier(fmt, bits, helper, names):
    with SharedMemoryHandlee(2, fmt, atomic=True, name=names()) as shm, \
            SharedMemoryHandlee(1, "I", atomic=True, name=names()) as ready:
        notifier = subprocess.Popen([helper, "notify", bits, shm.name, "1", "77", ready.name, "1"])
        try:
            ready.fetch_add(0, 1)
            ready.notify_all(0)
            assert shm.wait(1, 0, timeout=20)
            assert shm.load(1) == 77
        finally:
            assert notifier.wait(timeout=60) == 0


@pytest.mark.parametrize("fmt,bits", [("I", "32"), ("Q", "64")])
@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_a_cpp_waiter_is_woken_by_a_python_notifier(fmt, bits, mode, helper, names):
    with SharedMemoryHandlee(4, fmt, atomic=True, name=names()) as shm, \
            SharedMemoryHandlee(1, "I", atomic=True, name=names()) as ready:
        waiter = subprocess.Popen([helper, "wait", bits, shm.name, "2", "0", "20000", mode,
                                   ready.name])
        try:
            assert ready.wait(0, 0, timeout=30)
            time.sleep(0.1)  # let it fall asleep
            shm.store(2, 5)
            shm.notify_one(2)
        finally:
            assert waiter.wait(timeout=60) == 0  # woken before its deadline


def test_wait_times_out_and_notify_without_a_change_wakes_no_one_for_good(names):
    with SharedMemoryHandlee(1, "q", atomic=True, name=names()) as shm:
        start = time.monotonic()
        assert not shm.wait(0, 0, timeout=0.2)
        assert time.monotonic() - start >= 0.2
        shm.store(0, -3)  # signed values compare as the same bytes
        assert shm.wait(0, 0, timeout=0)
        assert not shm.wait(0, -3, timeout=0)


def test_threads_and_a_read_only_handle_wait_in_turn(names):
    with SharedMemoryHandlee(2, "I", atomic=True, name=names()) as shm:
        reader = SharedMemoryHandlee.attach(shm.name, "I", atomic=True, read_only=True)

        def other():
            for i in range(50):
                shm.wait(0, i)
                shm.store(1, i + 1)
                shm.notify_all(1)

        thread = threading.Thread(target=other)
        thread.start()
        for i in range(50):
            shm.store(0, i + 1)
            shm.notify_one(0)
            assert reader.wait(1, i, timeout=20)
        thread.join()
        reader.close()
        assert shm.load(1) == 50


def test_a_notify_with_no_waiter_leaves_the_wait_words_alone(names):
    with SharedMemoryHandlee(1, "Q", atomic=True, name=names()) as shm:
        shm.store(0, 1)
        shm.notify_all(0)
        shm.notify_one(0)
        with open(f"/dev/shm/{shm.name}", "rb") as f:
            assert f.read(128)[112:120] == bytes(8)


def test_what_cannot_wait_says_why(names):
    with SharedMemoryHandlee(1, "i", name=names()) as plain, \
            SharedMemoryHandlee(1, "H", atomic=True, name=names()) as short:
        with pytest.raises(TypeError, match="not atomic elements"):
            plain.wait(0, 0)
        with pytest.raises(TypeError, match="4 or 8 bytes"):
            short.notify_all(0)
    with SharedMemoryHandlee(1, "I", atomic=True, name=names()) as shm:
        with pytest.raises(IndexError):
            shm.wait(5, 0)
        reader = SharedMemoryHandlee.attach(shm.name, "I", atomic=True, read_only=True)
        with pytest.raises(TypeError, match="read-only"):
            reader.notify_all(0)
        reader.close()
