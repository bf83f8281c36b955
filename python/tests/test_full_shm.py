"""A full /dev/shm is no_space at create and leaves nothing, never a SIGBUS:
in a private mount namespace (unshare -m) with a 1 MiB tmpfs on /dev/shm.
Needs root and unshare(1); skipped otherwise."""
from conftest import run_with_small_dev_shm

CHILD = r"""
import errno, os, sys
import smh
from smh import SharedMemoryHandlee
assert os.listdir("/dev/shm") == [], os.listdir("/dev/shm")
results = []
small = SharedMemoryHandlee(1000, "i", name="fits")
small[-1] = (7,)
try:
    SharedMemoryHandlee(1 << 20, "q", name="too-big")  # 8 MiB
    results.append("created")
except OSError as e:  # smh.NoSpaceError is an OSError with ENOSPC
    assert isinstance(e, smh.NoSpaceError) and e.errno == errno.ENOSPC, repr(e)
    results.append(e.code.value)
results.append(",".join(sorted(os.listdir("/dev/shm"))))
small.close()
results.append(",".join(sorted(os.listdir("/dev/shm"))) or "empty")
print(" ".join(results))
"""


def test_a_full_dev_shm_is_no_space_and_leaves_nothing():
    done = run_with_small_dev_shm(CHILD)
    assert done.stdout.split() == ["no_space", "fits", "empty"]
