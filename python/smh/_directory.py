"""The segments of the shared-memory directory, from Python: smh.list(),
list_directory(), inspect(), remove(), find_orphans() and remove_orphans(),
the C++ library's functions of the same names (smh::list() ...), which read
headers by name without mapping anything."""
import builtins
import dataclasses
import datetime

from . import _core
from ._errors import Error, errc

__all__ = ["SegmentInfo", "SkippedFile", "DirectoryListing", "list", "list_directory", "inspect",
           "remove", "find_orphans", "remove_orphans"]


@dataclasses.dataclass(frozen=True)
class SegmentInfo:
    """One smh segment's header, as smh::segment_info reports it."""

    name: str                   # what attach() takes
    type_name: str              # the element type's portable name
    element_size: int
    element_align: int
    element_count: int
    data_offset: int            # where element 0 starts
    bytes: int                  # the whole segment, header included
    creator_pid: int
    owner_pid: int              # 0: no owner (released); < 0: being changed
    owner_start_time: int       # with owner_pid, identifies the owner process
    claimant: int               # owner_pid < 0: the process changing the record
    owner_alive: bool           # the owner still runs (its lock, or pid and start time)
    orphaned: bool              # its owner no longer runs: remove_orphans() removes it
                                # (find_orphans() also names builds and claims abandoned)
    ready: bool
    created: datetime.datetime  # in UTC
    uid: int                    # the file's owner (user id)
    mode: int                   # the file's permission bits
    device: int                 # with inode, which file it is
    inode: int
    capacity: int               # the most elements it may grow to; element_count if fixed


@dataclasses.dataclass(frozen=True)
class SkippedFile:
    """A file of the directory that list() leaves out, and why: "not_smh"
    (another program's, or a segment being built), "unreadable" (this user
    may not read it), "changing" (its owner record kept changing)."""

    name: str
    reason: str
    bytes: int = 0              # its size, as lstat(2) gives it


@dataclasses.dataclass(frozen=True)
class DirectoryListing:
    segments: builtins.list
    skipped: builtins.list


def _info(d):
    created = datetime.datetime.fromtimestamp(0, datetime.timezone.utc) + \
        datetime.timedelta(microseconds=d.pop("created_ns") // 1000)
    return SegmentInfo(created=created, **d)


def _checked(name, operation):
    if not isinstance(name, str):
        raise Error(errc.invalid_name, operation, repr(name),
                    f"a segment name is a str, not {type(name).__name__}")
    return name


def list():  # noqa: A001 - the C++ name, smh::list()
    """Every smh segment this user may read, sorted by name (SegmentInfo).
    Foreign files and segments this user may not read are skipped; a failure
    to read the directory raises, never an empty list."""
    return [_info(d) for d in _core.list_segments()]


def list_directory():
    """What list() returns, and every other file of the directory with why
    it is left out (SkippedFile)."""
    segments, skipped = _core.list_directory()
    return DirectoryListing([_info(d) for d in segments],
                            [SkippedFile(*file) for file in skipped])


def inspect(name):
    """The header of segment `name` (a SegmentInfo), read without mapping it
    or knowing its type. NotFoundError, PermissionDeniedError (another user's
    0600 segment), CorruptSegmentError (not an smh segment)."""
    return _info(_core.inspect(_checked(name, "inspect")))


def remove(name):
    """Removes the name of smh segment `name`, whoever owns it (`smh rm
    --force`); processes that have it mapped keep it until they let go.
    Refuses anything that is not an smh segment (CorruptSegmentError)."""
    _core.remove(_checked(name, "remove"))


def find_orphans():
    """The names remove_orphans() would remove now, removing nothing."""
    return _core.find_orphans()


def remove_orphans():
    """Removes every smh segment whose owner process no longer runs (killed
    before it could remove it), and what a creator killed while building
    left; never a live owner's, never a released (owner-less) one. Returns
    the names it removed (what `smh gc` does)."""
    return _core.remove_orphans()
