"""smh: typed arrays in named shared-memory segments, shared with C++.

A thin Python layer over the header-only C++ library smh (its compiled
extension, smh._core): the same segments, layout, ownership and errors, with
the API of the Python module shared_memory_handler it descends from:

    from smh import SharedMemoryHandlee

    class MySharedMemory(SharedMemoryHandlee):
        def __init__(self, length):
            super().__init__(length, struct="i")

    shm = MySharedMemory(10)          # creates /dev/shm/smh-<16 hex>; owns it
    shm[0] = (42,)                    # tuples in and out, with struct semantics
    Process(target=work, args=(shm,)) # pickled by name: the child attaches
    del shm                           # the owner removes the name

Cleanup when a process ends by a signal (termination cleanup) and when it is
killed (the watcher) is on by default, from the first segment a process
owns; automatic_cleanup(False) or SMH_AUTOMATIC_CLEANUP=0 turns it off.
Linux only (segments are files in /dev/shm). See README.md, "From Python".
"""
import os as _os

from . import _core
from ._directory import (DirectoryListing, SegmentInfo, SkippedFile, find_orphans, inspect,
                         list, list_directory, remove, remove_orphans)
from ._errors import (AlreadyExistsError, CorruptSegmentError, Error, InvalidLengthError,
                      InvalidNameError, NoSpaceError, NotFoundError, OperatingSystemError,
                      PermissionDeniedError, TimedOutError, TypeMismatchError, errc)
from ._handlee import SharedMemoryHandlee, receive, send
from ._types import element_type

__version__ = "0.1.0"
__all__ = ["SharedMemoryHandlee", "send", "receive", "Error", "errc", "NotFoundError",
           "AlreadyExistsError",
           "InvalidNameError", "InvalidLengthError", "TypeMismatchError", "CorruptSegmentError",
           "PermissionDeniedError", "NoSpaceError", "OperatingSystemError", "TimedOutError",
           "list", "list_directory", "inspect", "remove", "find_orphans", "remove_orphans",
           "SegmentInfo", "SkippedFile", "DirectoryListing",
           "cleanup_on_termination", "watch_owned_segments", "remove_owned_segments",
           "automatic_cleanup", "segment_huge_page_policy",
           "element_type", "name_problem", "fnv1a_64", "MAX_NAME_LENGTH", "type_name_of"]

MAX_NAME_LENGTH = _core.max_name_length


def cleanup_on_termination():
    """Installs now the C++ library's termination cleanup (what happens by
    default at a process's first owned segment): a process ended by a signal
    whose action is still the default (SIGTERM, SIGHUP, SIGQUIT, a crash...),
    by abort() or by exit() removes the names of the segments it owns, and
    still ends as it would have. Signals with a handler of Python's or the
    program's own stay as they are: SIGINT raises KeyboardInterrupt, whose
    unwinding closes the handles. Once per process; any thread."""
    _core.cleanup_on_termination()


def watch_owned_segments():
    """Starts now the C++ library's watcher (what happens by default at a
    process's first owned segment): a small process that, once this one has
    died of anything (SIGKILL and the OOM killer included), removes within a
    second the segments that still record it as owner. True once it runs."""
    return _core.watch_owned_segments()


def remove_owned_segments():
    """Removes now the names of the segments this process owns, for a signal
    handler of your own that ends the process."""
    _core.remove_owned_segments()


def automatic_cleanup(enabled=None, *, termination=None, watcher=None):
    """Whether a process installs termination cleanup and starts the watcher
    by itself when it first owns a segment (both on by default); returns the
    settings before the call as (termination, watcher). automatic_cleanup(False)
    turns both off, automatic_cleanup(watcher=False) only the watcher.
    Whatever already started in this process stays. SMH_AUTOMATIC_CLEANUP
    in the environment sets the default: 0 (both off), termination (only
    termination cleanup), watcher (only the watcher), or 1 (both)."""
    before = _core.automatic_cleanup()
    chosen_termination, chosen_watcher = before
    if enabled is not None:
        chosen_termination = chosen_watcher = bool(enabled)
    if termination is not None:
        chosen_termination = bool(termination)
    if watcher is not None:
        chosen_watcher = bool(watcher)
    _core.set_automatic_cleanup(chosen_termination, chosen_watcher)
    return before


def _automatic_cleanup_from_environment():
    setting = _os.environ.get("SMH_AUTOMATIC_CLEANUP", "1").strip().lower()
    if setting in ("0", "off", "no", "false", "none"):
        _core.set_automatic_cleanup(False, False)
    elif setting == "termination":
        _core.set_automatic_cleanup(True, False)
    elif setting == "watcher":
        _core.set_automatic_cleanup(False, True)


_automatic_cleanup_from_environment()


def segment_huge_page_policy():
    """Whether segments can get huge pages here (/dev/shm's huge= mount
    option): "never" (the default /dev/shm), "advise", "within_size" or
    "always"."""
    return _core.huge_page_policy()


def name_problem(name):
    """Why `name` is not a segment name the C++ library accepts, or None."""
    if not isinstance(name, str):
        return f"a segment name is a str, not {type(name).__name__}"
    return _core.name_problem(name)


def fnv1a_64(data):
    """FNV-1a, 64 bits, of `data` (bytes): the type hash of docs/layout.md."""
    return _core.type_hash(bytes(data))


def type_name_of(struct=None, atomic=False):
    """The type name a segment of format `struct` stores, i.e. what C++ must
    call its element type (smh::element_type_name) to attach to it."""
    return element_type(struct, atomic=atomic).type_name
