"""Segments without a name (python/README.md, "Segments without a name"):
SharedMemoryHandlee(..., anonymous=True), its descriptor, attach_descriptor,
smh.send and smh.receive. Nothing appears in /dev/shm, no process can
shrink one, multiprocessing passes it by descriptor under every start
method, plain pickle refuses it, and C++ and Python hand it to each other."""
import concurrent.futures
import multiprocessing
import os
import pickle
import socket
import subprocess
import sys

import pytest

import smh
from smh import SharedMemoryHandlee

METHODS = [m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]


def in_dev_shm(fd):
    mine = os.fstat(fd)
    for name in os.listdir("/dev/shm"):
        try:
            other = os.lstat(f"/dev/shm/{name}")
        except FileNotFoundError:
            continue
        if (other.st_dev, other.st_ino) == (mine.st_dev, mine.st_ino):
            return True
    return False


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


def bump(shm):
    shm[1] = (shm[0][0] + 1,)
    return len(shm), shm.descriptor >= 0


def test_an_anonymous_segment_has_no_name_no_owner_and_no_file_in_dev_shm():
    with SharedMemoryHandlee(100, "q", anonymous=True) as shm:
        assert shm.name == "" and len(shm) == 100 and shm.descriptor >= 0
        assert not in_dev_shm(shm.descriptor)
        assert not shm.is_owner() and not shm.release() and not shm.adopt() and not shm.unlink()
        with pytest.raises(smh.InvalidNameError):
            shm.take_ownership()
        assert "anonymous" in repr(shm)
    with pytest.raises(smh.InvalidNameError):
        SharedMemoryHandlee(1, "i", anonymous=True, name="x")


def test_no_process_can_shrink_it():
    with SharedMemoryHandlee(1 << 16, "I", anonymous=True) as shm:
        shm[-1] = (9,)
        with pytest.raises(PermissionError):
            os.ftruncate(shm.descriptor, 0)
        assert shm[-1] == (9,)


def test_plain_pickle_refuses_it_with_a_clear_error():
    with SharedMemoryHandlee(4, "i", anonymous=True) as shm:
        with pytest.raises(TypeError, match="travels by descriptor"):
            pickle.dumps(shm)


@pytest.mark.parametrize("method", METHODS)
def test_multiprocessing_passes_it_by_descriptor(method):
    ctx = multiprocessing.get_context(method)
    with SharedMemoryHandlee(8, "i", anonymous=True) as shm:
        shm[0] = (41,)
        process = ctx.Process(target=bump, args=(shm,))
        process.start()
        process.join(60)
        assert process.exitcode == 0 and shm[1] == (42,)
        shm[0] = (1,)
        with ctx.Pool(1) as pool:
            assert pool.apply(bump, (shm,)) == (8, True)
        assert shm[1] == (2,)
        shm[0] = (2,)
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as executor:
            assert executor.submit(bump, shm).result(timeout=60) == (8, True)
        assert shm[1] == (3,)
        queue = ctx.Queue()
        queue.put(shm)
        arrived = queue.get(timeout=60)
        try:
            arrived[2] = (7,)
            assert shm[2] == (7,) and arrived.descriptor != shm.descriptor
        finally:
            arrived.close()


def test_send_and_receive_between_python_handles_with_the_element_type_from_the_segment():
    a, b = socket.socketpair()
    with a, b, SharedMemoryHandlee(3, "dd", anonymous=True) as shm:
        shm[2] = (1.5, 2.5)
        smh.send(a, shm)
        got = smh.receive(b.fileno(), struct="dd")
        assert got[2] == (1.5, 2.5)
        got.close()
        smh.send(a, shm)
        read_only = smh.receive(b, struct="dd", read_only=True)
        with pytest.raises(TypeError):
            read_only[0] = (0.0, 0.0)
        read_only.close()
        with SharedMemoryHandlee(2, "i") as named:
            with pytest.raises(smh.InvalidNameError):
                smh.send(a, named)


def test_attach_descriptor_refuses_what_is_not_a_sealed_segment_and_receive_leaks_nothing(
        tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"\0" * 4096)
    with open(plain, "rb+") as f:
        with pytest.raises(smh.CorruptSegmentError):
            SharedMemoryHandlee.attach_descriptor(f, "i")
    r, w = os.pipe()
    try:
        with pytest.raises(smh.CorruptSegmentError):
            SharedMemoryHandlee.attach_descriptor(r, "i")
    finally:
        os.close(r)
        os.close(w)
    a, b = socket.socketpair()
    with a, b:
        before = open_descriptors()
        a.sendmsg([b"smh-seg1"])
        with pytest.raises(smh.CorruptSegmentError, match="no descriptor"):
            smh.receive(b, "i")
        with open(plain, "rb") as f:
            socket.send_fds(a, [b"smh-seg1"], [f.fileno(), f.fileno()])
            with pytest.raises(smh.CorruptSegmentError, match="several"):
                smh.receive(b, "i")
        assert open_descriptors() == before


def test_a_growable_anonymous_segment_grows_for_every_holder():
    with SharedMemoryHandlee(1, "Q", anonymous=True, capacity=1000) as shm:
        other = SharedMemoryHandlee.attach_descriptor(shm.descriptor)
        try:
            shm.grow(1000)
            assert len(other) == 1000 and other.capacity == 1000
            with pytest.raises(PermissionError):
                os.ftruncate(shm.descriptor, 8)
        finally:
            other.close()


def test_numpy_views_of_an_anonymous_segment(numpy):
    with SharedMemoryHandlee(5, "d", anonymous=True) as shm:
        view = shm.numpy()
        view[:] = 2.0
        assert shm[4] == (2.0,)
        del view


# --- C++ <-> Python ---------------------------------------------------------------------


def test_cpp_sends_and_python_receives(helper):
    a, b = socket.socketpair()
    with a, b:
        sender = subprocess.Popen([helper, "anon-send", str(a.fileno()), "64", "500"],
                                  pass_fds=[a.fileno()], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        shm = smh.receive(b)  # the element type from the segment: uint32
        try:
            assert len(shm) == 64 and shm[0] == (500,)
            shm[1] = (501,)
        finally:
            shm.close()
        out, _ = sender.communicate(timeout=60)
        assert sender.returncode == 0, out


def test_python_sends_and_cpp_receives(helper):
    a, b = socket.socketpair()
    with a, b, SharedMemoryHandlee(16, "I", anonymous=True) as shm:
        receiver = subprocess.Popen([helper, "anon-receive", str(b.fileno()), "77"],
                                    pass_fds=[b.fileno()], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
        smh.send(a, shm)
        out, _ = receiver.communicate(timeout=60)
        assert receiver.returncode == 0, out
        assert shm[0] == (77,)


def test_a_spawned_cpp_program_attaches_to_the_descriptor_python_gives_it(helper):
    with SharedMemoryHandlee(300, "I", anonymous=True) as shm:
        shm[0] = (1234,)
        fd = shm.descriptor
        done = subprocess.run([helper, "anon-check", str(fd), "300", "1234"], pass_fds=[fd],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert shm[1] == (1235,)
