"""Growable segments (python/README.md, "Growing"): created with a capacity,
grown in place while other processes use them. len() is live in every
handle, no element moves, wait_for_size() wakes on growth, and C++ and
Python grow each other's segments."""
import ctypes
import errno
import multiprocessing
import os
import pickle
import re
import subprocess
import sys
import threading
import time

import pytest

import smh
from conftest import run_with_small_dev_shm
from smh import SharedMemoryHandlee

METHODS = [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]


def first_byte_address(shm):
    """The address of element 0 as this process maps it (a writable handle)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(shm.data))


# --- in one process ---------------------------------------------------------------------


def test_a_segment_without_a_capacity_cannot_grow(names):
    with SharedMemoryHandlee(4, "i", name=names()) as shm:
        assert shm.capacity == 4
        shm.grow(4)  # its own length: nothing to do
        with pytest.raises(smh.InvalidLengthError, match="beyond its capacity of 4"):
            shm.grow(5)
        assert len(shm) == 4


def test_grow_lengthens_in_place_keeping_elements_and_addresses(names):
    with SharedMemoryHandlee(3, "qd", name=names(), capacity=1000) as shm:
        assert (len(shm), shm.capacity) == (3, 1000)
        shm[2] = (7, 0.5)
        before = first_byte_address(shm)
        shm.grow(1000)
        assert len(shm) == 1000 and shm.size == 1000 * 16
        assert shm[2] == (7, 0.5) and shm[-1] == (0, 0.0) and shm[999] == (0, 0.0)
        shm[-1] = (-1, 1.5)
        assert shm[999] == (-1, 1.5)
        assert first_byte_address(shm) == before
        assert shm[998:] == [(0, 0.0), (-1, 1.5)]


def test_growing_to_a_smaller_or_equal_length_changes_nothing(names):
    with SharedMemoryHandlee(2, "i", name=names(), capacity=10) as shm:
        shm.grow(6)
        shm.grow(6)
        shm.grow(3)
        assert len(shm) == 6


@pytest.mark.parametrize("capacity", [2, -1, 1 << 64])
def test_an_impossible_capacity_is_invalid_length_and_creates_nothing(capacity, names):
    name = names()
    with pytest.raises(smh.InvalidLengthError):
        SharedMemoryHandlee(3, "i", name=name, capacity=capacity)
    assert not os.path.exists(f"/dev/shm/{name}")


def test_bad_arguments_to_grow_and_wait_for_size_are_clear_errors(names):
    with SharedMemoryHandlee(1, "i", name=names(), capacity=4) as shm:
        with pytest.raises(TypeError, match="length must be an int"):
            shm.grow(2.0)
        with pytest.raises(smh.InvalidLengthError):
            shm.grow(-1)
        with pytest.raises(smh.InvalidLengthError, match="beyond its capacity of 4"):
            shm.wait_for_size(5)
        with pytest.raises(ValueError, match="NaN"):
            shm.wait_for_size(2, float("nan"))
        with pytest.raises(TypeError, match="capacity must be an int"):
            SharedMemoryHandlee(1, "i", capacity="10")
        assert len(shm) == 1


def test_a_read_only_handle_sees_growth_and_cannot_grow(names):
    with SharedMemoryHandlee(1, "i", name=names(), capacity=8) as shm:
        reader = SharedMemoryHandlee.attach(shm.name, read_only=True)
        try:
            shm.grow(8)
            shm[7] = (8,)
            assert len(reader) == 8 and reader[-1] == (8,) and reader.capacity == 8
            with pytest.raises(TypeError, match="read-only: cannot grow"):
                reader.grow(8)
        finally:
            reader.close()


def test_views_taken_before_growth_keep_their_length_and_data_follows(names):
    with SharedMemoryHandlee(2, "i", name=names(), capacity=6) as shm:
        old = shm.data
        shm.grow(6)
        assert len(old) == 2 * 4 and len(shm.data) == 6 * 4
        shm[0] = (5,)
        assert old[:4].cast("i")[0] == 5  # the same memory, not a copy
        old.release()


def test_numpy_views_cover_the_length_when_taken_and_never_move(names, numpy):
    with SharedMemoryHandlee(2, "i", name=names(), capacity=6) as shm:
        before = shm.numpy()
        shm.grow(6)
        after = shm.numpy()
        assert before.shape == (2,) and after.shape == (6,)
        assert before.__array_interface__["data"][0] == after.__array_interface__["data"][0]
        after[1] = 9
        assert before[1] == 9
        del before, after


def test_len_of_a_closed_growable_handle_is_its_last_length(names):
    shm = SharedMemoryHandlee(1, "i", name=names(), capacity=5)
    shm.grow(3)
    shm.close()
    assert len(shm) == 3
    with pytest.raises(ValueError, match="closed"):
        shm[0]


def test_wait_for_size_returns_at_once_times_out_and_wakes_on_a_thread(names):
    with SharedMemoryHandlee(1, "Q", atomic=True, name=names(), capacity=16) as shm:
        assert shm.wait_for_size(1, timeout=0)
        started = time.monotonic()
        assert not shm.wait_for_size(2, timeout=0.05)
        assert time.monotonic() - started >= 0.04
        grower = threading.Timer(0.1, shm.grow, args=(16,))
        grower.start()
        assert shm.wait_for_size(16, timeout=30)
        grower.join()


def hold_growers_lock(name):
    """A descriptor opened read-only on the segment's file holding a read
    lock on its second byte, which the growers' write lock waits for: what
    anyone who may read the segment can do."""
    import fcntl
    import struct

    fd = os.open(f"/dev/shm/{name}", os.O_RDONLY)
    held = struct.pack("hhqqi4x", fcntl.F_RDLCK, os.SEEK_SET, 1, 1, 0)
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, held)
    return fd


@pytest.mark.skipif(sys.platform != "linux", reason="the growers' lock is an OFD lock on Linux")
def test_a_held_growers_lock_times_grow_out_and_changes_nothing(names):
    with SharedMemoryHandlee(2, "i", name=names(), capacity=100) as shm:
        shm[1] = (5,)
        fd = hold_growers_lock(shm.name)
        try:
            started = time.monotonic()
            with pytest.raises(TimeoutError, match="held the growers' lock for 0.3 s") as raised:
                shm.grow(50, timeout=0.3)
            assert 0.25 <= time.monotonic() - started < 10
            # An smh.Error as well, as C++'s grow() throws os_error (timed_out).
            assert isinstance(raised.value, smh.TimedOutError)
            assert raised.value.code == "os_error" and raised.value.errno == errno.ETIMEDOUT
            again = pickle.loads(pickle.dumps(raised.value))
            assert isinstance(again, TimeoutError) and str(again) == str(raised.value)
            assert len(shm) == 2 and shm[1] == (5,)
        finally:
            os.close(fd)
        shm.grow(50, timeout=10)  # the lock is gone with its description
        assert len(shm) == 50 and shm[1] == (5,)


@pytest.mark.skipif(sys.platform != "linux", reason="the growers' lock is an OFD lock on Linux")
def test_ctrl_c_ends_a_grow_that_waits_without_a_limit(names):
    import signal

    with SharedMemoryHandlee(2, "i", name=names(), capacity=100) as shm:
        fd = hold_growers_lock(shm.name)
        try:
            main = threading.get_ident()
            interrupt = threading.Timer(0.3, signal.pthread_kill, args=(main, signal.SIGINT))
            interrupt.start()
            started = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                shm.grow(50, timeout=None)
            assert time.monotonic() - started < 10
            interrupt.join()
            assert len(shm) == 2
        finally:
            os.close(fd)


def test_close_from_another_thread_ends_a_wait_for_size(names):
    shm = SharedMemoryHandlee(1, "i", name=names(), capacity=4)
    errors = []

    def wait():
        try:
            shm.wait_for_size(4)
        except ValueError as e:
            errors.append(e)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.1)
    shm.close()
    waiter.join(10)
    assert not waiter.is_alive() and len(errors) == 1 and "closed" in str(errors[0])


def test_a_growable_handle_pickles_and_may_grow_before_it_is_unpickled(names):
    with SharedMemoryHandlee(2, "i", name=names(), capacity=9) as shm:
        sent = pickle.dumps(shm)
        shm.grow(9)
        copy = pickle.loads(sent)
        try:
            assert (len(copy), copy.capacity) == (9, 9)
        finally:
            copy.close()


# --- across processes -------------------------------------------------------------------


def grow_later(name, length, delay):
    time.sleep(delay)
    with SharedMemoryHandlee.attach(name) as shm:
        shm.grow(length)
        shm[length - 1] = (length,)


def wait_then_read(name, length, results):
    with SharedMemoryHandlee.attach(name) as shm:
        results.put((shm.wait_for_size(length, timeout=30), len(shm), shm[length - 1]))


def grow_to_each(name, lengths, start):
    start.wait(30)
    with SharedMemoryHandlee.attach(name) as shm:
        for length in lengths:
            shm.grow(length)


@pytest.mark.parametrize("method", METHODS)
def test_another_process_sees_growth_without_any_call_and_nothing_moves(method, names):
    ctx = multiprocessing.get_context(method)
    with SharedMemoryHandlee(4, "I", name=names(), capacity=4096) as shm:
        shm[3] = (3,)
        address = first_byte_address(shm)
        grower = ctx.Process(target=grow_later, args=(shm.name, 4096, 0.05))
        grower.start()
        grower.join(60)
        assert grower.exitcode == 0
        assert len(shm) == 4096 and shm[-1] == (4096,) and shm[3] == (3,)
        assert first_byte_address(shm) == address


@pytest.mark.parametrize("method", METHODS)
def test_wait_for_size_wakes_when_another_process_grows(method, names):
    ctx = multiprocessing.get_context(method)
    with SharedMemoryHandlee(1, "I", name=names(), capacity=100) as shm:
        results = ctx.Queue()
        waiter = ctx.Process(target=wait_then_read, args=(shm.name, 100, results))
        waiter.start()
        time.sleep(0.2)
        shm.grow(100)
        shm[99] = (99,)
        came, length, last = results.get(timeout=60)
        waiter.join(60)
        assert came and length == 100 and waiter.exitcode == 0
        assert last in ((0,), (99,))  # grown first, the value stored after


@pytest.mark.parametrize("method", METHODS)
def test_concurrent_growing_processes_all_succeed_and_the_largest_length_wins(method, names):
    ctx = multiprocessing.get_context(method)
    with SharedMemoryHandlee(1, "Q", name=names(), capacity=50_000) as shm:
        start = ctx.Event()
        growers = [ctx.Process(target=grow_to_each,
                               args=(shm.name, range(k, 50_000 - 3 + k, 997), start))
                   for k in range(4)]
        for grower in growers:
            grower.start()
        start.set()
        for grower in growers:
            grower.join(120)
        assert [g.exitcode for g in growers] == [0, 0, 0, 0]
        assert len(shm) == max(range(3, 50_000, 997))


# --- C++ <-> Python ---------------------------------------------------------------------


def test_cpp_grows_a_python_segment_and_python_sees_it(helper, names):
    with SharedMemoryHandlee(2, "I", name=names(), capacity=3000) as shm:
        done = subprocess.run([helper, "grow", shm.name, "3000", "0"], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert len(shm) == 3000 and shm[-1] == (3000,)


@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_python_grows_and_a_waiting_cpp_process_wakes(mode, helper, names):
    with SharedMemoryHandlee(1, "I", name=names(), capacity=64) as shm, \
            SharedMemoryHandlee(1, "I", atomic=True, name=names()) as ready:
        waiter = subprocess.Popen([helper, "wait-size", shm.name, "64", "30000", mode,
                                   ready.name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        assert ready.wait(0, 0, timeout=30)  # the waiter has attached
        time.sleep(0.05)
        shm.grow(64)
        out, _ = waiter.communicate(timeout=60)
        assert waiter.returncode == 0, out


def test_cpp_sees_a_python_created_growable_segment_as_one(cli, names):
    with SharedMemoryHandlee(5, "I", name=names(), capacity=50) as shm:
        shm.grow(7)
        info = smh.inspect(shm.name)
        assert (info.element_count, info.capacity) == (7, 50)
        shown = subprocess.run([cli, "inspect", shm.name], capture_output=True, text=True,
                               timeout=30)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert re.search(r"^elements +7,", shown.stdout, re.M), shown.stdout
        assert re.search(r"^capacity +50 \(growable\)$", shown.stdout, re.M), shown.stdout


# --- a full /dev/shm ---------------------------------------------------------------------

FULL_CHILD = r"""
import os, smh
from smh import SharedMemoryHandlee
shm = SharedMemoryHandlee(1024, "Q", name="grows", capacity=1 << 20)  # 8 KiB of 8 MiB
shm[-1] = (5,)
pid = os.fork()
if pid == 0:  # a reader that walks every element while the parent fails to grow
    reader = SharedMemoryHandlee.attach("grows", read_only=True)
    total = 0
    for _ in range(50):
        total += sum(reader[i][0] for i in range(len(reader)))
    os._exit(0 if total == 50 * 5 else 1)
try:
    shm.grow(1 << 20)
    outcome = "grew"
except smh.NoSpaceError as e:
    outcome = e.code.value
_, status = os.waitpid(pid, 0)
print(outcome, len(shm), shm[-1][0], os.waitstatus_to_exitcode(status))
shm.close()
print(",".join(os.listdir("/dev/shm")) or "empty")
"""


def test_growing_in_a_full_dev_shm_is_no_space_and_keeps_the_length():
    done = run_with_small_dev_shm(FULL_CHILD, timeout=120)
    assert done.stdout.split() == ["no_space", "1024", "5", "0", "empty"]


def test_a_length_a_hostile_writer_stores_past_the_capacity_never_takes_len_past_it(names):
    with SharedMemoryHandlee(2, "i", name=names(), capacity=50) as shm:
        reader = SharedMemoryHandlee.attach(shm.name, read_only=True)
        try:
            with open(f"/dev/shm/{shm.name}", "r+b") as f:
                f.seek(120)  # the live length word (docs/layout.md)
                f.write((1 << 40).to_bytes(8, sys.byteorder))
            assert len(reader) == 50 and len(shm) == 50
        finally:
            reader.close()


@pytest.mark.parametrize("fmt,value", [("e", (1.5,)), (None, 7)])
def test_elements_past_the_first_length_read_and_write_after_growth(fmt, value, names):
    """Formats read through struct (half floats) and raw bytes use the
    elements' memoryview, which must reach the grown elements too."""
    with SharedMemoryHandlee(2, fmt, name=names(), capacity=10) as shm:
        shm.grow(10)
        shm[9] = value
        assert shm[9] == value and shm[-1] == value
