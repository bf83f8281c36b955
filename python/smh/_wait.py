"""Waiting until another process changes an atomic element, on the same
words as the C++ library (include/smh/detail/wait.hpp; docs/layout.md,
"Waiting"): futex(2) through libc's syscall(), never FUTEX_PRIVATE_FLAG, so
C++ and Python processes wake each other. 4-byte elements are their own
futex; 8-byte elements sleep on the header's wait_sequence. Writable waiters
count themselves in the header's `waiters`, so a notify with no waiter
makes no system call; read-only waiters cannot, and look again at least
every 10 ms. Standard library only (ctypes), plus libatomic as for atomics."""
import ctypes
import platform
import time

from . import _atomic
from ._layout import WAIT_SEQUENCE, WAITERS

# futex's number on the 64-bit Linux platforms (asm/unistd.h).
_SYS_FUTEX = {"x86_64": 202, "aarch64": 98, "riscv64": 98, "ppc64le": 221,
              "s390x": 238}.get(platform.machine())
_FUTEX_WAIT, _FUTEX_WAKE = 0, 1
_INT_MAX = 2**31 - 1
_FIRST_SLICE, _LONGEST_SLICE = 100e-6, 0.010

AVAILABLE = _SYS_FUTEX is not None and _atomic.AVAILABLE
_syscall = ctypes.CDLL(None, use_errno=True).syscall
_syscall.restype = ctypes.c_long
_U32 = _atomic.OPS[4]


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _sleep(word, expected, timeout):
    """Sleeps while the 4-byte word at `word` is `expected`, at most
    `timeout` seconds (None: no limit); returns early on a wake, a signal or
    a changed word."""
    relative = None
    if timeout is not None:
        relative = _Timespec(int(timeout), int((timeout - int(timeout)) * 1e9))
    _syscall(ctypes.c_long(_SYS_FUTEX), ctypes.c_void_p(word), ctypes.c_int(_FUTEX_WAIT),
             ctypes.c_uint32(expected), ctypes.byref(relative) if relative else None, None,
             ctypes.c_uint32(0))


def _wake(word, count):
    _syscall(ctypes.c_long(_SYS_FUTEX), ctypes.c_void_p(word), ctypes.c_int(_FUTEX_WAKE),
             ctypes.c_int(count), None, None, ctypes.c_uint32(0))


def wait(base, address, size, old, registered, timeout):
    """Blocks while the element at `address` (`size` bytes, in the segment
    mapped at `base`) holds the unsigned value `old`, at most `timeout`
    seconds (None: no limit). Returns whether it saw another value."""
    ops = _atomic.OPS[size]
    if ops.load(address) != old:
        return True
    word = address if size == 4 else base + WAIT_SEQUENCE
    deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
    if registered:
        _U32.fetch_add(base + WAITERS, 1)
    try:
        slice_ = _FIRST_SLICE
        while True:
            # The sequence before the element, as in C++.
            expected = old if size == 4 else _U32.load(word)
            if ops.load(address) != old:
                return True
            remaining = None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
            if not registered:
                remaining = slice_ if remaining is None else min(remaining, slice_)
                slice_ = min(2 * slice_, _LONGEST_SLICE)
            _sleep(word, expected, remaining)
    finally:
        if registered:
            _U32.fetch_add(base + WAITERS, 0xFFFFFFFF)  # minus one


def notify(base, address, size, all_waiters):
    """Wakes waiters on the element at `address`; no system call while no
    writable waiter is counted."""
    # A sequentially consistent read-modify-write of `waiters`: the C++ side's
    # fence and load (libatomic has no fence of its own to call).
    if _U32.fetch_add(base + WAITERS, 0) == 0:
        return
    if size == 4:
        _wake(address, _INT_MAX if all_waiters else 1)
    else:
        _U32.fetch_add(base + WAIT_SEQUENCE, 1)
        _wake(base + WAIT_SEQUENCE, _INT_MAX)
