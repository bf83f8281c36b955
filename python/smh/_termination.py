"""Cleanup when the interpreter ends without running finalizers: by a signal
(after cleanup_on_termination()), as include/smh/detail/termination_posix.hpp
does it for C++. Normal interpreter exit (the end of the program, sys.exit(),
an uncaught exception, Ctrl-C's KeyboardInterrupt) needs none of this: an
atexit function removes the names of the segments this process owns."""
import contextlib
import os
import signal
import threading

from . import _layout, _posix

# Signals whose default action ends the process and whose handler Python can
# run: not the synchronous ones (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGSYS), whose
# Python-level handler would only run after the fault repeats, nor SIGABRT,
# whose abort() re-raises before Python code runs.
TERMINATING_SIGNALS = tuple(getattr(signal, s) for s in (
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGUSR1", "SIGUSR2",
    "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF") if hasattr(signal, s))

_previous = {}
_installed = False
_install_lock = threading.Lock()
_owners = None  # set by _handlee: a callable giving the objects this process owns


def remove_owned_segments():
    """Removes now the names of the segments this process owns (as their
    owners' close() would), for a signal handler of your own that ends the
    process. A name is removed only while it names the same file and that
    file's header still records the owning object (pid, start time, token),
    so a forked child never removes its parent's segments."""
    pid = os.getpid()
    for obj in list(_owners() if _owners else ()):
        try:
            record, name, identity = obj._smh_owner_entry()
            if record is None or record[0] != pid:
                continue
            fd = os.open(_posix.path_of(name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK |
                         os.O_CLOEXEC)
            try:
                same = _posix.identity_of(os.fstat(fd)) == identity
                raw = os.pread(fd, _layout.HEADER_SIZE, 0)
            finally:
                os.close(fd)
            if same and len(raw) == _layout.HEADER_SIZE:
                h = _layout.parse(raw)
                if (h["owner_pid"], h["owner_start_time"], h["owner_token"]) == tuple(record):
                    os.unlink(_posix.path_of(name))
        except (OSError, ValueError, TypeError, AttributeError):
            continue


def _on_signal(signum, frame):
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):  # the program's own handler decides (KeyboardInterrupt for SIGINT)
        return previous(signum, frame)
    remove_owned_segments()
    # End as the program would have without us: by the same signal.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return None


def cleanup_on_termination():
    """Makes this process remove the names of the segments it owns when a
    signal whose default action ends it arrives (SIGTERM, SIGHUP, SIGQUIT,
    SIGUSR1, ...); the process still dies of that signal. Chains: a handler
    the program installed before (SIGINT's KeyboardInterrupt included) runs
    instead and removes nothing itself, since the program may go on; an
    ignored signal stays ignored; a handler installed from C (not Python) is
    left alone. Call it once, from the main thread, after installing your
    own handlers. SIGKILL cannot be caught: `smh gc` (remove_orphans())
    collects what it leaves. Off by default: signal handlers belong to the
    program."""
    global _installed
    if threading.current_thread() is not threading.main_thread():
        raise ValueError("smh.cleanup_on_termination() must be called from the main thread "
                         "(Python installs signal handlers only there)")
    with _install_lock:
        if _installed:
            return
        for signum in TERMINATING_SIGNALS:
            current = signal.getsignal(signum)
            if current is signal.SIG_IGN or current is None:
                continue
            _previous[signum] = current
            signal.signal(signum, _on_signal)
        _installed = True


@contextlib.contextmanager
def signals_held():
    """Blocks the signals cleanup handles (in this thread) while a segment is
    published and recorded, once cleanup_on_termination() was called."""
    if not _installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, list(_previous))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
