"""Collecting from Python: smh.list(), list_directory(), inspect(), remove(),
find_orphans() and remove_orphans(), as the C++ library has them."""
import datetime
import os
import subprocess
import sys
import time

import pytest

import smh
from smh import SharedMemoryHandlee

SHM = "/dev/shm"


def test_list_and_inspect_describe_a_segment(names):
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    with SharedMemoryHandlee(10, "ddi", type_name="geo::Point", name=names()) as shm:
        info = smh.inspect(shm.name)
        assert isinstance(info, smh.SegmentInfo)
        assert (info.name, info.type_name, info.element_size, info.element_align,
                info.element_count) == (shm.name, "geo::Point", 24, 8, 10)
        assert info.owner_pid == info.creator_pid == os.getpid() and info.owner_alive
        assert not info.orphaned and info.claimant == 0
        stat = os.stat(f"{SHM}/{shm.name}")
        assert (info.uid, info.mode, info.device, info.inode) == (
            stat.st_uid, stat.st_mode & 0o7777, stat.st_dev, stat.st_ino)
        assert info.ready and info.bytes >= info.data_offset + 240
        assert before <= info.created <= datetime.datetime.now(datetime.timezone.utc)
        listed = [i for i in smh.list() if i.name == shm.name]
        assert listed == [info]
        shm.release()
        assert smh.inspect(shm.name).owner_pid == 0
        shm.adopt()


def test_list_directory_says_why_it_leaves_a_file_out(names):
    foreign = names()
    with open(f"{SHM}/{foreign}", "wb") as f:
        f.write(b"another program's bytes".ljust(300, b"\0"))
    try:
        with SharedMemoryHandlee(2, "i", name=names()) as shm:
            listing = smh.list_directory()
            assert shm.name in [i.name for i in listing.segments]
            assert smh.SkippedFile(foreign, "not_smh", 300) in listing.skipped
            with pytest.raises(smh.CorruptSegmentError):
                smh.inspect(foreign)
            with pytest.raises(smh.CorruptSegmentError):
                smh.remove(foreign)  # never another program's file
            assert os.path.exists(f"{SHM}/{foreign}")
    finally:
        os.unlink(f"{SHM}/{foreign}")


def test_remove_removes_a_segment_whoever_owns_it(names):
    with SharedMemoryHandlee(2, "i", name=names()) as shm:
        smh.remove(shm.name)
        assert not os.path.exists(f"{SHM}/{shm.name}")
        shm[0] = (1,)  # the mapping stays
    with pytest.raises(FileNotFoundError):
        smh.remove(shm.name)
    with pytest.raises(smh.InvalidNameError):
        smh.inspect("a/b")
    with pytest.raises(smh.InvalidNameError):
        smh.remove(None)


def test_find_orphans_and_remove_orphans_collect_what_a_killed_owner_left(names):
    name = names()
    code = ("import sys, time, smh\nsmh.automatic_cleanup(False)\n"
            "shm = smh.SharedMemoryHandlee(4, 'i', name=sys.argv[1])\n"
            "print('ready', flush=True)\ntime.sleep(3600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, name], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert name not in smh.find_orphans()  # a live owner's never
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with SharedMemoryHandlee(2, "i", name=names()) as mine:
        released = SharedMemoryHandlee(2, "i", name=names())
        released.release()
        released.close()
        deadline = time.monotonic() + 10
        while name not in smh.find_orphans() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert name in smh.find_orphans() and os.path.exists(f"{SHM}/{name}")  # a dry run
        assert smh.inspect(name).orphaned and not smh.inspect(mine.name).orphaned
        removed = smh.remove_orphans()
        assert name in removed and not os.path.exists(f"{SHM}/{name}")
        assert mine.name not in removed and released.name not in removed
        smh.remove(released.name)
