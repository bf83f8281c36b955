"""Returning an owning handle from a worker (python/README.md, "Returning a
segment from a worker"): a handle a worker process creates and sends back
(Pool.apply, ProcessPoolExecutor, a Queue) arrives with its segment, and its
ownership: the receiver's object owns it, and the name goes when the
receiver lets go. A segment whose message is never received is removed when
the sender ends; one that is gone before it arrives gives a clear error where
it is used, never a hang. A handle the main process passes to workers stays
its own (test_seed_examples.py)."""
import concurrent.futures
import multiprocessing
import os
import subprocess
import sys
import time

import pytest

import smh
from smh import SharedMemoryHandlee
from smh._handlee import SENDER_PATIENCE

METHODS = [m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]
SHM = "/dev/shm"


def exists(name):
    return os.path.exists(f"{SHM}/{name}")


def gone_soon(name, seconds=10):
    deadline = time.monotonic() + seconds
    while exists(name) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not exists(name)


def make(name, length=8):
    """A worker's: creates a segment, fills it, returns the handle."""
    shm = SharedMemoryHandlee(length, "iif", name=name)
    for i in range(length):
        shm[i] = (i, -i, i / 2)
    return shm


def filled(shm, length=8):
    return [shm[i] for i in range(length)] == [(i, -i, i / 2) for i in range(length)]


def make_and_remove(name):
    """A worker's: a handle whose segment is gone before it can arrive."""
    shm = SharedMemoryHandlee(4, "i", name=name)
    smh.remove(shm.name)
    return shm


@pytest.mark.parametrize("method", METHODS)
def test_a_handle_a_pool_worker_returns_arrives_owned_and_goes_when_the_receiver_lets_go(
        method, names):
    name = names()
    with multiprocessing.get_context(method).Pool(1) as pool:
        back = pool.apply_async(make, (name,)).get(timeout=60)
        assert exists(name) and filled(back)
        assert back.is_owner(), "ownership did not come with the handle"
        back[0] = (99, 0, 0.0)
        again = pool.apply_async(make, (names(),)).get(timeout=60)  # the worker goes on
        assert again.is_owner()
        again.close()
    assert exists(name) and back.is_owner()  # the worker's end took nothing with it
    back.close()
    assert not exists(name)


@pytest.mark.parametrize("method", METHODS)
def test_a_process_pool_executor_returns_an_owned_handle(method, names):
    name = names()
    context = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as executor:
        back = executor.submit(make, name).result(timeout=60)
    assert filled(back) and back.is_owner() and exists(name)
    del back  # the receiver lets go: garbage collection is enough
    assert not exists(name)


def put_one(queue, name):
    queue.put(make(name))


@pytest.mark.parametrize("method", METHODS)
def test_a_handle_sent_through_a_queue_arrives_owned(method, names):
    name = names()
    context = multiprocessing.get_context(method)
    queue = context.Queue()
    process = context.Process(target=put_one, args=(queue, name))
    process.start()
    try:
        back = queue.get(timeout=60)
    finally:
        process.join(60)
    assert process.exitcode == 0
    assert filled(back) and back.is_owner()
    time.sleep(1.5)  # past the sender's watcher: the segment is no longer its
    assert exists(name)
    back.close()
    assert not exists(name)


@pytest.mark.parametrize("method", METHODS)
def test_a_handle_never_received_is_removed_when_its_sender_ends(method, names):
    name = names()
    context = multiprocessing.get_context(method)
    queue = context.Queue()  # nobody reads it
    process = context.Process(target=put_one, args=(queue, name))
    process.start()
    process.join(60)
    assert process.exitcode == 0
    assert gone_soon(name), "a handle nobody received outlived its sender"
    queue.close()
    queue.cancel_join_thread()


@pytest.mark.parametrize("method", METHODS)
def test_what_is_gone_before_it_arrives_is_a_clear_error_where_it_is_used(method, names):
    name = names()
    with multiprocessing.get_context(method).Pool(1) as pool:
        back = pool.apply_async(make_and_remove, (name,)).get(timeout=60)  # never a hang
    assert back.closed and not back.is_owner()
    with pytest.raises(FileNotFoundError) as caught:
        back[0]
    assert caught.value.code == "not_found" and "unpickle" in str(caught.value)
    assert "removed before this copy was unpickled" in str(caught.value)


def keep_and_return(name):
    global KEPT
    KEPT = make(name)
    return KEPT


def drop_kept():
    global KEPT
    KEPT = None


def test_a_worker_that_keeps_its_handle_hands_ownership_over_at_once(names):
    # The receiver owns the segment from the moment it is unpickled; the
    # worker's kept copy is then an attached copy, whose end leaves the name.
    name = names()
    with multiprocessing.get_context("fork").Pool(1) as pool:
        back = pool.apply_async(keep_and_return, (name,)).get(timeout=60)
        assert filled(back) and back.is_owner()
        pool.apply_async(drop_kept).get(timeout=60)
        assert back.is_owner() and exists(name)
    back.close()
    assert not exists(name)


def put_one_and_linger(queue, name):
    shm = make(name)
    queue.put(shm)
    time.sleep(1)  # lets go well after the receiver has unpickled it
    del shm


def join_then_use(method, name):
    context = multiprocessing.get_context(method)
    queue = context.Queue()
    process = context.Process(target=put_one_and_linger, args=(queue, name))
    process.start()
    back = queue.get(timeout=60)
    process.join(60)  # the sender ends while the receiver waits here
    return process.exitcode, back


@pytest.mark.parametrize("method", METHODS)
def test_a_receiver_busy_elsewhere_while_its_sender_ends_still_owns_the_segment(method, names):
    # The receiver takes ownership as it unpickles: a sender that ends while
    # the receiver is blocked elsewhere (here, joining it) removes nothing.
    name = names()
    code, back = join_then_use(method, name)
    assert code == 0
    time.sleep(SENDER_PATIENCE + 0.5)  # past the sender's wait for receivers
    assert exists(name) and back.is_owner() and filled(back)
    back.close()
    assert not exists(name)


def pickle_then_own_again_then_close(name):
    import pickle
    shm = SharedMemoryHandlee(2, "i", name=name)
    pickle.dumps(shm)  # a worker's pickle hands ownership over...
    assert shm.release() and shm.adopt()  # ...but this object owns it anew
    shm.close()
    return exists(name)


def test_a_handle_owned_anew_after_it_was_pickled_removes_its_name_at_close(names):
    # Only the ownership a pickle carried is kept for a receiver: once the
    # sender owns the segment under a new record, its close() removes it.
    name = names()
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(pickle_then_own_again_then_close, (name,)) is False
    assert not exists(name)


def test_the_main_process_passing_a_handle_keeps_it(names):
    with SharedMemoryHandlee(8, "iif", name=names()) as shm:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            assert pool.apply_async(filled, (shm,)).get(timeout=60) is False
            back = pool.apply_async(lambda_free_identity, (shm,)).get(timeout=60)
        assert shm.is_owner() and not back.is_owner()
        back.close()
        assert exists(shm.name)
    assert not exists(shm.name)


def lambda_free_identity(shm):
    return shm


def test_pickling_an_owner_in_a_script_never_hands_it_over(names):
    # Not a process multiprocessing started: the pickle carries the name only.
    code = ("import pickle, sys, smh\nshm = smh.SharedMemoryHandlee(2, 'i', name=sys.argv[1])\n"
            "sys.stdout.buffer.write(pickle.dumps(shm))\n")
    name = names()
    done = subprocess.run([sys.executable, "-c", code, name], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not exists(name)  # its owner ended normally and removed it
