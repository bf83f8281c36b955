"""The owner record (owner_pid, owner_start_time, owner_token) and the claim
protocol of docs/layout.md, "Changing the owner", as
include/smh/detail/layout.hpp implements it: a writer claims the record by
a compare-and-swap of owner_pid from the value it read to its own pid,
negated; checks that start time and token are still what it read; stores the
new start time and token, and last the new pid. A reader uses a record only
when it read the same non-negative pid before and after the other two."""
import time

from . import _atomic as atomic
from ._layout import OWNER_PID, OWNER_START_TIME, OWNER_TOKEN

ABANDONED_CLAIM_AFTER = 0.5  # seconds: a claim unchanged this long was abandoned
INT64_MIN = -(1 << 63)
NO_OWNER = (0, 0, 0)


def read_owner(base):
    """(pid, start_time, token), or None while a process is changing it."""
    for _ in range(64):
        before = atomic.load_i64(base + OWNER_PID)
        start = atomic.U64.load(base + OWNER_START_TIME)
        token = atomic.U64.load(base + OWNER_TOKEN)
        after = atomic.load_i64(base + OWNER_PID)
        if before == after and before >= 0:
            return (before, start, token)
    return None


def owner_pid(base):
    return atomic.load_i64(base + OWNER_PID)


def claimant_of(pid):
    return -pid if pid < 0 and pid != INT64_MIN else 0


def claim_owner(base, expected, claimant):
    """Claims the record for process `claimant` if it is `expected`, all of it.
    A record that is not `expected` is never touched; a claim in progress is
    waited out for at most ABANDONED_CLAIM_AFTER."""
    give_up_at = time.monotonic() + ABANDONED_CLAIM_AFTER
    while True:
        owner = read_owner(base)
        if owner is None:
            if time.monotonic() >= give_up_at:
                return False
            time.sleep(0)
            continue
        if owner != tuple(expected):
            return False
        if not atomic.cas_i64(base + OWNER_PID, expected[0], -claimant):
            continue  # changed between the read and the swap: look again
        start = atomic.U64.load(base + OWNER_START_TIME)
        token = atomic.U64.load(base + OWNER_TOKEN)
        if (start, token) == (expected[1], expected[2]):
            return True
        atomic.store_i64(base + OWNER_PID, expected[0])  # not the record we read
        return False


def claim_abandoned(base, stuck, claimant):
    return stuck < 0 and atomic.cas_i64(base + OWNER_PID, stuck, -claimant)


def publish_owner(base, record):
    """Writes a claimed record: start time, token, and last the pid."""
    atomic.U64.store(base + OWNER_START_TIME, record[1])
    atomic.U64.store(base + OWNER_TOKEN, record[2])
    atomic.store_i64(base + OWNER_PID, record[0])


def replace_owner(base, expected, record):
    if not claim_owner(base, expected, record[0]):
        return False
    publish_owner(base, record)
    return True
