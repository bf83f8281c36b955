"""A full /dev/shm is no_space at create and leaves nothing, never a SIGBUS:
in a private mount namespace (unshare -m) with a 1 MiB tmpfs on /dev/shm.
Needs root and unshare(1); skipped otherwise."""
import os
import shutil
import subprocess
import sys

import pytest

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


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root and unshare(1) for a private tmpfs on /dev/shm")
def test_a_full_dev_shm_is_no_space_and_leaves_nothing():
    script = ("mount -t tmpfs -o size=1m,mode=1777 tmpfs /dev/shm || exit 77; "
              f'exec "{sys.executable}" -c "$SMH_CHILD"')
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, SMH_CHILD=CHILD))
    if done.returncode == 77:
        pytest.skip(f"cannot mount a tmpfs in a private namespace: {done.stderr.strip()}")
    assert done.returncode == 0, f"exit {done.returncode} (SIGBUS is -7):\n{done.stderr}"
    assert done.stdout.split() == ["no_space", "fits", "empty"]
