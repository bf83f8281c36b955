"""The same ownership as C++: the creator owns the segment (recorded in the
header, holding the owner's lock) and removes the name on close(), at the end
of `with`, when garbage-collected and at normal interpreter exit; copies and
forked children never do; a SIGKILLed owner leaves an orphan that the C++
side collects (the watcher, on by default in Python, removes it); release()/
adopt() hand it over across languages; cleanup at termination by a signal is
on by default in Python (automatic_cleanup(False) or SMH_AUTOMATIC_CLEANUP=0
turn it off)."""
import fcntl
import os
import signal
import struct
import subprocess
import sys
import time

import pytest

from conftest import HERE

import smh
from smh import SharedMemoryHandlee

SHM = "/dev/shm"
PEER = os.path.join(HERE, "pkg_peer.py")
F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)


def exists(name):
    return os.path.exists(f"{SHM}/{name}")


def header(name):
    with open(f"{SHM}/{name}", "rb") as f:
        raw = f.read(256)
    return struct.unpack_from("=qqQQ", raw, 80)  # creator_pid, owner pid, start time, token


def lock_held(name):
    """Whether some open file description holds a lock on byte 0 (the owner's)."""
    fd = os.open(f"{SHM}/{name}", os.O_RDONLY)
    try:
        answer = fcntl.fcntl(fd, F_OFD_GETLK, struct.pack("@hhqqi4x", fcntl.F_WRLCK, 0, 0, 1, 0))
    finally:
        os.close(fd)
    return struct.unpack_from("h", answer)[0] != fcntl.F_UNLCK


def start_time(pid="self"):
    with open(f"/proc/{pid}/stat", "rb") as f:
        text = f.read()
    return int(text[text.rindex(b")") + 2:].split()[19])


def peer(*args, wait_ready=False, env=None):
    process = subprocess.Popen([sys.executable, PEER, *map(str, args)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, **(env or {})))
    if wait_ready:
        line = process.stdout.readline()
        assert line.strip() == "ready", process.stderr.read()
    return process


def finish(process, timeout=30):
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError(f"{process.args} did not finish within {timeout} s") from None
    return process.returncode, out, err


def test_the_header_records_the_owner_as_cpp_does(names):
    first = SharedMemoryHandlee(4, "i", name=names())
    second = SharedMemoryHandlee(4, "i", name=names())
    try:
        creator, pid, started, token = header(first.name)
        assert creator == pid == os.getpid() and started == start_time() and token != 0
        assert header(second.name)[3] not in (0, token)  # a token per object
        assert first.is_owner() and second.is_owner()
        assert lock_held(first.name)  # the owner's lock
    finally:
        first.close()
        second.close()


def test_an_attached_object_or_a_copy_never_removes_the_name(names):
    with SharedMemoryHandlee(4, "i", name=names()) as owner:
        other = SharedMemoryHandlee.attach(owner.name)
        assert not other.is_owner() and other.release() is False
        other.close()
        assert exists(owner.name) and owner.is_owner()


def test_release_gives_up_the_name_and_the_lock(names):
    shm = SharedMemoryHandlee(4, "i", name=names())
    assert shm.release() and not shm.is_owner() and shm.release() is False
    assert header(shm.name)[1:] == (0, 0, 0) and not lock_held(shm.name)
    shm.close()
    assert exists(shm.name)  # no owner: nothing removes it
    again = SharedMemoryHandlee.attach(shm.name)
    assert again.adopt() and again.is_owner() and lock_held(again.name)
    assert header(again.name)[1] == os.getpid()
    again.close()
    assert not exists(shm.name)


def test_take_ownership_moves_the_duty_to_remove(names):
    first = SharedMemoryHandlee(4, "i", name=names())
    second = SharedMemoryHandlee.attach(first.name)
    assert second.adopt() is False  # a live owner (this very process)
    second.take_ownership()
    assert second.is_owner() and not first.is_owner()
    first.close()
    assert exists(second.name)
    second.close()
    assert not exists(second.name)


def test_the_owner_never_removes_a_newer_segment_that_took_its_name(names):
    old = SharedMemoryHandlee(4, "i", name=names())
    assert old.unlink() and not exists(old.name) and old.unlink() is False
    new = SharedMemoryHandlee(4, "i", name=old.name)
    old.close()
    assert exists(new.name)
    new.close()
    assert not exists(new.name)


def test_garbage_collection_removes_the_name(names):
    import gc

    shm = SharedMemoryHandlee(4, "i", name=names())
    name = shm.name
    cycle = [shm]
    cycle.append(cycle)
    del shm, cycle
    gc.collect()
    assert not exists(name)


@pytest.mark.parametrize("how,status", [("return", 0), ("exit", 3), ("raise", 1),
                                        ("interrupt", -signal.SIGINT)])
def test_normal_interpreter_exit_removes_the_name(how, status, names):
    name = names()
    code, _, err = finish(peer("create-end", name, how))
    assert code in (status, 128 + abs(status)) or (how == "interrupt" and code == 130), err
    assert not exists(name)


def test_a_forked_child_never_removes_its_parents_segment(names):
    shm = SharedMemoryHandlee(4, "i", name=names())
    try:
        pid = os.fork()
        if pid == 0:  # the child: what its copy does, and at exit
            try:
                ok = not shm.is_owner() and shm.release() is False and shm.adopt() is False
                twin = SharedMemoryHandlee.attach(shm.name)
                smh._handlee._at_exit()  # what a normal exit runs (atexit)
                shm.close()
                del twin
                os._exit(0 if ok else 1)
            except BaseException:
                import traceback
                traceback.print_exc(file=sys.__stderr__)
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert exists(shm.name) and shm.is_owner()
        assert lock_held(shm.name)  # the child did not drop its parent's lock
    finally:
        shm.close()
    assert not exists(shm.name)


def test_without_automatic_cleanup_a_sigkilled_owner_leaves_an_orphan_that_smh_gc_removes(
        names, cli):
    name = names()
    holder = peer("create-hold", name, wait_ready=True, env={"SMH_AUTOMATIC_CLEANUP": "0"})
    try:
        assert lock_held(name)
        gc = subprocess.run([cli, "gc"], capture_output=True, text=True, timeout=30)
        assert name not in gc.stdout and exists(name)  # a live owner's is never collected
    finally:
        holder.kill()
        finish(holder)
    assert exists(name) and not lock_held(name)  # SIGKILL: no code ran
    assert name in smh.find_orphans() and exists(name)
    gc = subprocess.run([cli, "gc"], capture_output=True, text=True, timeout=30)
    assert gc.returncode == 0 and name in gc.stdout, gc.stderr
    assert not exists(name)


def test_by_default_a_sigkilled_owner_is_cleaned_up_by_its_watcher(names):
    name = names()
    holder = peer("create-hold", name, wait_ready=True)
    holder.kill()
    finish(holder)
    deadline = time.monotonic() + 10
    while exists(name) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not exists(name), "the watcher did not remove the killed owner's segment"


def test_cpp_remove_orphans_keeps_a_live_python_owner(names, helper):
    with SharedMemoryHandlee(4, "i", name=names()) as shm:
        done = subprocess.run([helper, "remove-orphans"], capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 0 and shm.name not in done.stdout and exists(shm.name)


def test_python_releases_and_cpp_adopts(names, helper):
    name = names()
    assert finish(peer("create-release", name, 10, 5))[0] == 0
    assert exists(name) and header(name)[1] == 0
    done = subprocess.run([helper, "adopt", "int", name], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert not exists(name)  # the C++ adopter's destructor removed it


def test_cpp_releases_and_python_adopts(names, helper):
    name = names()
    done = subprocess.run([helper, "create-release", name, "10", "5"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    shm = SharedMemoryHandlee.attach(name)
    assert shm.type_name == "int32" and shm[2] == (19,) and shm.adopt()
    del shm
    assert not exists(name)


def test_python_adopts_only_once_the_cpp_owner_is_gone(names, helper):
    name = names()
    owner = subprocess.Popen([helper, "create-wait", name, "4"])
    try:
        deadline = time.monotonic() + 30
        while not exists(name) or SharedMemoryHandlee.attach(name)[0] != (7,):
            assert time.monotonic() < deadline, "the helper did not create its segment"
            time.sleep(0.01)
        shm = SharedMemoryHandlee.attach(name)
        assert shm.adopt() is False and exists(name)
    finally:
        owner.kill()
        owner.wait()
    assert shm.adopt() and shm.is_owner()
    shm.close()
    assert not exists(name)


def test_a_cpp_take_over_leaves_python_nothing_to_remove(names, helper):
    shm = SharedMemoryHandlee(4, "i", name=names())
    shm.release()
    assert subprocess.run([helper, "adopt", "int", shm.name], timeout=30).returncode == 0
    assert not exists(shm.name)
    assert shm.adopt() is True  # no owner record left (the C++ owner cleared it) ...
    shm.close()  # ... and the name is gone: nothing to remove, no error


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_by_default_a_signal_that_ends_the_owner_removes_its_segment(signum, names):
    name = names()
    process = peer("create-signal", name, "default", wait_ready=True)
    process.send_signal(signum)
    code, _, err = finish(process)
    assert code == -signum, err  # still dies of that signal
    assert not exists(name)


def test_with_automatic_cleanup_off_a_signal_leaves_the_segment_for_gc(names):
    name = names()
    process = peer("create-signal", name, "off", wait_ready=True)
    process.send_signal(signal.SIGTERM)
    code, _, _ = finish(process)
    assert code == -signal.SIGTERM and exists(name)
    os.unlink(f"{SHM}/{name}")


def test_the_environment_turns_automatic_cleanup_off(names):
    name = names()
    process = peer("create-signal", name, "default", wait_ready=True,
                   env={"SMH_AUTOMATIC_CLEANUP": "0"})
    process.send_signal(signal.SIGTERM)
    code, _, _ = finish(process)
    assert code == -signal.SIGTERM and exists(name)
    os.unlink(f"{SHM}/{name}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1])
def test_after_cleanup_on_termination_a_signal_removes_it_and_still_kills(signum, names):
    name = names()
    process = peer("create-signal", name, "cleanup", wait_ready=True)
    process.send_signal(signum)
    code, _, err = finish(process)
    assert code == -signum, err
    assert not exists(name)


def test_a_handler_of_the_programs_own_is_chained_and_removes_nothing(names):
    name = names()
    process = peer("create-own-handler", name, wait_ready=True)
    process.send_signal(signal.SIGTERM)
    code, _, err = finish(process)
    assert code == 42, err  # its handler ran, and the segment was still there
    assert not exists(name)  # removed at its normal exit


def test_a_forked_child_ended_by_a_signal_never_removes_its_parents_segment(names):
    code, _, err = finish(peer("create-fork-terminate", names()))
    assert code == 0, err


def test_cleanup_on_termination_works_from_any_thread():
    import threading

    thread = threading.Thread(target=smh.cleanup_on_termination)
    thread.start()
    thread.join()  # the C++ library's: no main-thread rule of Python's signal module
