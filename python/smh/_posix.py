"""Linux: segments are files in /dev/shm, created, opened, locked and removed
exactly as include/smh/detail/platform_posix.hpp does it (docs/layout.md):

- create builds the segment as an unnamed file (O_TMPFILE), mode set with
  fchmod (the umask changes nothing), RLIMIT_FSIZE checked first, every page
  reserved with posix_fallocate (a full /dev/shm is no_space, never SIGBUS),
  header written ready; the owner's lock is taken, and only then does
  linkat(2) through /proc/self/fd give it its name (EEXIST: the existing
  segment is untouched). Without O_TMPFILE or /proc it builds under a hidden
  /dev/shm/.smh-creating-<16 hex digits>, locked at once, then link(2)s it
  and drops the temporary name;
- open never blocks and never follows a link: O_NOFOLLOW | O_NONBLOCK, and
  only a regular file is a segment;
- the owner's lock is an open-file-description read lock on byte 0
  (F_OFD_SETLK), dropped explicitly with F_UNLCK (the mapping keeps the
  open file description alive), and only by the process that took it;
- a name is removed only while it still names the same file (device, inode).
"""
import errno
import fcntl
import mmap
import os
import resource
import stat
import struct

from ._errors import Error, errc, native_error

SHM_DIR = "/dev/shm"
PROC_SELF_FD = "/proc/self/fd"
MAX_NAME_LENGTH = 255
CREATING_PREFIX = ".smh-creating-"
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)


def path_of(name):
    return SHM_DIR + "/" + name


def name_problem(name):
    """Why `name` is not a segment name the C++ library accepts, or None."""
    if not isinstance(name, str):
        return f"a segment name is a str, not {type(name).__name__}"
    if not name:
        return "the name is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"the name has {len(name)} characters, at most {MAX_NAME_LENGTH} are allowed"
    if name in (".", ".."):
        return "'.' and '..' are not segment names"
    if name.startswith(CREATING_PREFIX):
        return f"names starting with '{CREATING_PREFIX}' are reserved for segments being built"
    for position, char in enumerate(name):
        if char not in _NAME_CHARS:
            return (f"character {char!r} at position {position} is not allowed; "
                    "use only A-Z a-z 0-9 . _ -")
    return None


def check_name(name, operation):
    problem = name_problem(name)
    if problem is not None:
        raise Error(errc.invalid_name, operation, name if isinstance(name, str) else repr(name),
                    problem)


def generated_name():
    """"smh-" and 64 bits from the kernel's random source, as C++ names them."""
    return "smh-" + os.urandom(8).hex()


def temp_suffix():
    """16 random lowercase hex digits naming a segment being built (tests
    replace it to find the temporary files they force)."""
    return os.urandom(8).hex()


def identity_of(info):
    return (info.st_dev, info.st_ino)


# --- the owner's lock ------------------------------------------------------

def flock(l_type):
    """struct flock {short l_type, l_whence; off_t l_start, l_len; pid_t l_pid;}
    for byte 0, padded as the C compiler pads it (32 bytes on x86_64, aarch64)."""
    fields = "hhqqi"
    align = struct.calcsize("@bq") - struct.calcsize("@q")
    pad = -struct.calcsize("@" + fields) % align
    return struct.pack(f"@{fields}{pad}x", l_type, os.SEEK_SET, 0, 1, 0)


def take_owner_lock(fd):
    try:
        fcntl.fcntl(fd, F_OFD_SETLK, flock(fcntl.F_RDLCK))
        return True
    except OSError:
        return False


def drop_owner_lock(fd, locker):
    """Gives the lock up (only in the process that took it: a forked child
    shares the open file description, and its F_UNLCK would release its
    parent's lock) and closes the descriptor."""
    if fd is None:
        return
    try:
        if locker == os.getpid():
            fcntl.fcntl(fd, F_OFD_SETLK, flock(fcntl.F_UNLCK))
    except OSError:
        pass
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def lock_held_elsewhere(fd):
    """Whether another open file description holds a lock on byte 0."""
    try:
        answer = fcntl.fcntl(fd, F_OFD_GETLK, flock(fcntl.F_WRLCK))
    except OSError:
        return False
    return struct.unpack_from("h", answer)[0] != fcntl.F_UNLCK


def lock_for_owning(name, identity):
    """A descriptor on `name`, holding the owner's lock, if the name still
    names the file `identity`; None otherwise (liveness then falls back to
    pid and start time, as in C++)."""
    try:
        fd = os.open(path_of(name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if identity_of(os.fstat(fd)) == identity and take_owner_lock(fd):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


# --- create ------------------------------------------------------------------

def _build(fd, name, size, mode, header, reserve, must_have):
    """Makes the file `fd` the whole segment (mode, size, reserved pages,
    ready header) and returns its mapping. Nothing has its name yet."""
    op = "create"
    try:
        os.fchmod(fd, mode & 0o7777)
    except OSError as e:
        raise native_error(e, op, name, "fchmod") from None
    try:
        os.ftruncate(fd, size)
    except OSError as e:
        raise native_error(e, op, name, f"sizing it to {size} bytes") from None
    reserved = size if reserve else must_have
    try:
        os.posix_fallocate(fd, 0, reserved)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.ENOMEM, errno.EDQUOT, errno.EFBIG):
            raise Error(errc.no_space, op, name, f"reserving {reserved} bytes: "
                        f"{os.strerror(errno.ENOSPC if e.errno == errno.ENOMEM else e.errno)}",
                        e.errno) from None
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise native_error(e, op, name, f"reserving {reserved} bytes") from None
    try:
        mapped = mmap.mmap(fd, size)
    except OSError as e:
        raise native_error(e, op, name, "mmap") from None
    mapped[:len(header)] = header
    return mapped


def _link(source, name, directory, follow):
    try:
        os.link(source, name, src_dir_fd=directory, dst_dir_fd=directory, follow_symlinks=follow)
    except FileExistsError:
        raise Error(errc.already_exists, "create", name, "the name is taken",
                    errno.EEXIST) from None


def _create_unnamed(name, size, mode, header, directory, reserve, must_have, own):
    """O_TMPFILE, build, lock, linkat. None where that cannot be done here."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir(PROC_SELF_FD):
        return None
    try:
        fd = os.open(".", flag | os.O_RDWR | os.O_CLOEXEC, 0o600, dir_fd=directory)
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None
        raise native_error(e, "create", name, "creating a file in " + SHM_DIR) from None
    mapped = None
    try:
        mapped = _build(fd, name, size, mode, header, reserve, must_have)
        locked = own and take_owner_lock(fd)
        try:
            _link(f"{PROC_SELF_FD}/{fd}", name, directory, follow=True)
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.EXDEV):
                raise native_error(e, "create", name, "linkat") from None
            mapped.close()
            mapped = None
            return None
        identity = identity_of(os.fstat(fd))
        result = (mapped, fd if locked else None, identity)
        if not locked:
            os.close(fd)
        fd = None
        return result
    except BaseException:
        if mapped is not None:
            mapped.close()
        raise
    finally:
        if fd is not None:
            os.close(fd)


def _create_via_temp(name, size, mode, header, directory, reserve, must_have, own):
    for _ in range(100):
        temp = CREATING_PREFIX + temp_suffix()
        try:
            fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=directory)
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise native_error(e, "create", name,
                               "creating a temporary file in " + SHM_DIR) from None
    else:
        raise Error(errc.os_error, "create", name, "no free temporary name in " + SHM_DIR)
    mapped = None
    keep = False
    try:
        take_owner_lock(fd)  # at once: remove_orphans() sees a live builder
        mapped = _build(fd, name, size, mode, header, reserve, must_have)
        try:
            _link(temp, name, directory, follow=False)
        except OSError as e:
            raise native_error(e, "create", name, "link") from None
        identity = identity_of(os.fstat(fd))
        keep = own
        return (mapped, fd if own else None, identity)
    except BaseException:
        if mapped is not None:
            mapped.close()
        raise
    finally:
        try:
            os.unlink(temp, dir_fd=directory)
        except OSError:
            pass
        if not keep:
            drop_owner_lock(fd, os.getpid())


def create(name, size, mode, header, reserve=True, must_have=0, own=True):
    """Creates /dev/shm/<name>, complete before its name appears. Returns
    (mmap, descriptor holding the owner's lock or None, (device, inode))."""
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and size > limit:
        raise Error(errc.no_space, "create", name,
                    f"it needs {size} bytes, more than this process's file-size limit "
                    f"(RLIMIT_FSIZE, ulimit -f) of {limit} bytes", errno.EFBIG)
    try:
        directory = os.open(SHM_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise native_error(e, "create", name, "opening " + SHM_DIR) from None
    try:
        args = (name, size, mode, header, directory, reserve, must_have, own)
        return _create_unnamed(*args) or _create_via_temp(*args)
    finally:
        os.close(directory)


# --- open --------------------------------------------------------------------

def open_file(name, operation, writable):
    flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path_of(name), flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise Error(errc.corrupt_segment, operation, name,
                        "a symbolic link, not a segment", e.errno) from None
        if e.errno in (errno.EISDIR, errno.ENXIO, errno.ENODEV):
            raise Error(errc.corrupt_segment, operation, name,
                        "not a segment: a directory or a special file", e.errno) from None
        if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
            raise Error(errc.permission_denied, operation, name,
                        "another process holds a lease on it", e.errno) from None
        if e.errno == errno.ENOENT:
            raise Error(errc.not_found, operation, name, "no segment of that name",
                        e.errno) from None
        raise native_error(e, operation, name, "open") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Error(errc.corrupt_segment, operation, name,
                        "not a segment: a FIFO" if stat.S_ISFIFO(info.st_mode)
                        else "not a segment: not a regular file")
    except OSError as e:
        os.close(fd)
        raise native_error(e, operation, name, "fstat") from None
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def open_segment(name, operation, writable):
    """(mmap of the whole file, size, (device, inode)); never blocks."""
    fd, info = open_file(name, operation, writable)
    try:
        size = info.st_size
        if size == 0:
            return None, 0, identity_of(info)
        try:
            mapped = mmap.mmap(fd, size, prot=mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0))
        except OverflowError:
            raise Error(errc.corrupt_segment, operation, name,
                        f"it has {size} bytes, more than can be mapped") from None
        except OSError as e:
            raise native_error(e, operation, name, "mmap") from None
        return mapped, size, identity_of(info)
    finally:
        os.close(fd)


# --- remove ------------------------------------------------------------------

REMOVED, GONE, FAILED = "removed", "gone", "failed"


def unlink_if_same(name, identity):
    """Removes `name` only while it names the file `identity`."""
    try:
        info = os.lstat(path_of(name))
    except FileNotFoundError:
        return GONE
    except OSError:
        return FAILED
    if identity_of(info) != identity:
        return GONE
    try:
        os.unlink(path_of(name))
        return REMOVED
    except FileNotFoundError:
        return GONE
    except OSError:
        return FAILED


# --- processes -----------------------------------------------------------------

def read_process_status(which):
    """(pid, state, start time) from /proc/<which>/stat, or None."""
    try:
        with open(f"/proc/{which}/stat", "rb") as f:
            text = f.read()
        at = text.rindex(b")")
        fields = text[at + 2:].split()
        # fields[0] is field 3 (state); field 22 (start time) is fields[19].
        return int(text.split(b" ", 1)[0]), fields[0][:1].decode(), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


_own = {"pid": None, "start_time": 0, "matches": False}


def own_start_time():
    """This process's start time (/proc/self/stat field 22), read once per
    process (a forked child reads its own)."""
    pid = os.getpid()
    if _own["pid"] != pid:
        status = read_process_status("self")
        _own.update(pid=pid, start_time=status[2] if status else 0,
                    matches=bool(status and status[0] == pid))
    return _own["start_time"]


def process_alive(pid, start_time):
    """Whether process `pid` (started at `start_time`, 0: unknown) still runs."""
    if pid <= 0 or pid > 0x7FFFFFFF:
        return False

    def probe():
        try:
            os.kill(pid, 0)
            return True
        except PermissionError:
            return True
        except OSError:
            return False

    own_start_time()
    if not _own["matches"]:
        return probe()
    status = read_process_status(pid)
    if status is None:
        return probe()
    if start_time and status[2] != start_time:
        return False
    if status[1] in ("Z", "X"):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("Threads:"):
                        return int(line.split()[1]) > 1
        except (OSError, ValueError):
            pass
        return False
    return True
