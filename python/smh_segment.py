"""Read and write smh segments from Python, with the standard library only.

An smh segment (see docs/layout.md) is a named POSIX shared-memory object: a
256-byte header describing the elements, then the elements. This module
attaches to one that a C++ program created, checks its header the way the C++
library does, and exposes the elements as a memoryview cast to the element's
struct format (or, with NumPy installed, as an ndarray). It can also create a
segment in the same layout for a C++ program to attach to.

    from smh_segment import Segment
    with Segment.attach("smh-1f2e3d4c5b6a7988") as seg:   # created by C++
        print(seg.type_name, len(seg), seg[0])
        seg[0] = 42                                        # the C++ side sees it

Attaching never removes the segment: the module maps it itself rather than
through multiprocessing.shared_memory, whose resource tracker would unlink it
when this process exits and whose attach unlinks it when mapping fails. Segments created here have
no owner (the owner fields are zero): remove them with unlink(), or let a C++
program adopt() them.

On Linux, where a segment is the file /dev/shm/<name>, a name appears only
once its segment is complete, as the C++ library does it: create() builds the
segment in an unnamed file (O_TMPFILE), sized, allocated and with its whole
header written as ready, then gives it its name with linkat(2) through
/proc/self/fd, which fails, leaving the existing file untouched, if the name
is taken. Where O_TMPFILE or /proc/self/fd is missing, it builds a hidden
/dev/shm/.smh-creating-<16 hex digits> instead, holding an open-file-description
read lock on its byte 0 while it builds (so `smh gc` can tell a live build from
a dead one's leftover), links that and drops the temporary name and the lock
(in the C++ library that lock is the owner's, and these segments have no
owner). A failed create leaves nothing behind. attach() therefore
never waits: it opens without following symbolic links and without blocking
(O_NOFOLLOW | O_NONBLOCK), and anything that is not a regular file holding a
ready header is corrupt_segment at once.
"""

import errno
import mmap
import os
import re
import secrets
import stat
import struct
import sys
import time

try:
    import _posixshmem  # CPython's shm_open/shm_unlink, on POSIX
except ImportError:  # Windows: named mappings, no resource tracker issue
    _posixshmem = None
    from multiprocessing import shared_memory

try:
    import fcntl
    import resource
except ImportError:  # Windows
    fcntl = resource = None

__all__ = ["Segment", "SegmentError", "FORMATS"]

MAGIC = b"SMHSEG\x00\x01"
LAYOUT_VERSION = 1
HEADER_SIZE = 256
STATE_CREATING = 0x43524541  # older creators only; never written on Linux any more
STATE_READY = 0x59444552
ENDIAN_MARKER = 0x01020304
# docs/layout.md, field by field, in this machine's byte order ("=": standard sizes).
_HEADER = struct.Struct("=8sHHIII7Q2qQQ16s128s")
assert _HEADER.size == HEADER_SIZE
# state, checksum, owner fields, wait words (wait_sequence, waiters)
_MUTABLE = ((12, 16), (72, 80), (88, 120))

# Segment names, as the C++ library accepts them: 1 to 255 (NAME_MAX)
# characters from [A-Za-z0-9._-], not "." or "..", and not starting with the
# prefix of segments being built.
MAX_NAME_LENGTH = 255
CREATING_PREFIX = ".smh-creating-"
_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]*")

# Linux: segments are files in /dev/shm (shm_overview(7)).
_LINUX = sys.platform.startswith("linux")
_SHM_DIR = "/dev/shm"
_PROC_SELF_FD = "/proc/self/fd"
_MAX_SIZE = 2**63 - 1  # off_t

# The C++ library's names for arithmetic types, and their struct formats.
FORMATS = {
    "bool": "?", "char": "c", "int8": "b", "uint8": "B", "int16": "h", "uint16": "H",
    "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q", "float32": "f", "float64": "d",
}


class SegmentError(Exception):
    """A segment that cannot be used; `code` is the C++ library's smh::errc name
    (not_found, already_exists, invalid_name, invalid_length, type_mismatch,
    corrupt_segment, permission_denied, no_space, os_error)."""

    def __init__(self, code, name, detail):
        super().__init__(f'{code} "{name}": {detail}')
        self.code = code


# errno -> smh::errc, as the C++ library maps them (errc_from_native).
_ERRC_OF_ERRNO = {
    errno.ENOENT: "not_found", errno.EEXIST: "already_exists",
    errno.EACCES: "permission_denied", errno.EPERM: "permission_denied",
    errno.ENOSPC: "no_space", errno.EDQUOT: "no_space", errno.EFBIG: "no_space",
    errno.ENAMETOOLONG: "invalid_name",
}


def _native_error(error, name, what):
    """The SegmentError for the OSError `error` raised while doing `what`."""
    code = _ERRC_OF_ERRNO.get(error.errno, "os_error")
    return SegmentError(code, name, f"{what}: {error.strerror or error}")


def _name_problem(name):
    """Why `name` is not a valid segment name, or None when it is."""
    if not isinstance(name, str):
        return f"a segment name is a str, not {type(name).__name__}"
    if not name:
        return "the name is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"the name has {len(name)} characters, at most {MAX_NAME_LENGTH} are allowed"
    if name in (".", ".."):
        return "'.' and '..' are not segment names"
    if not _NAME_CHARS.fullmatch(name):
        position = next(i for i, c in enumerate(name) if not _NAME_CHARS.fullmatch(c))
        return (f"character {name[position]!r} at position {position} is not allowed; "
                "use only A-Z a-z 0-9 . _ -")
    if name.startswith(CREATING_PREFIX):
        return f"names starting with {CREATING_PREFIX!r} are reserved for segments being built"
    return None


def _check_name(name):
    problem = _name_problem(name)
    if problem is not None:
        raise SegmentError("invalid_name", name, problem)


def fnv1a_64(data):
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def _checksum(header):
    immutable = bytearray(header)
    for begin, end in _MUTABLE:
        immutable[begin:end] = bytes(end - begin)
    return fnv1a_64(immutable)


def _data_offset(align):
    unit = max(64, align)
    return (HEADER_SIZE + unit - 1) // unit * unit


class _Mapping:
    """Elsewhere than on Linux: a named segment mapped read-write, through
    shm_open (Windows: a named mapping). Not multiprocessing.shared_memory:
    its attach unlinks the segment when mmap fails, and its resource tracker
    unlinks segments when the process exits (CPython issue 82300)."""

    def __init__(self, name, create=False, size=0, mode=0o600):
        self.name = name
        if _posixshmem is None:
            self._shm = shared_memory.SharedMemory(name=name, create=create, size=size)
            self.size, self.buf = self._shm.size, self._shm.buf
            return
        self._shm = None
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        fd = _posixshmem.shm_open("/" + name, flags, mode=mode)
        self._map = None
        try:
            if create:
                os.ftruncate(fd, size)
            self.size = os.fstat(fd).st_size
            if self.size:
                self._map = mmap.mmap(fd, self.size)
        except BaseException:
            if create:
                _posixshmem.shm_unlink("/" + name)
            raise
        finally:
            os.close(fd)
        self.buf = memoryview(self._map) if self._map is not None else memoryview(b"")

    def close(self):
        self.buf.release()
        if self._shm is not None:
            self._shm.close()
        elif self._map is not None:
            self._map.close()

    def unlink(self):
        if self._shm is not None:
            self._shm.unlink()
        else:
            _posixshmem.shm_unlink("/" + self.name)


class _FileMapping:
    """Linux: the file /dev/shm/<name>, mapped whole and read-write (the
    descriptor is closed once mapped). The same interface as _Mapping."""

    def __init__(self, name, size, mapped):
        self.name = name
        self.size = size
        self._map = mapped
        self.buf = memoryview(mapped)

    def close(self):
        self.buf.release()
        self._map.close()

    def unlink(self):
        os.unlink(_SHM_DIR + "/" + self.name)


def _attach_file(name):
    """Opens and maps /dev/shm/<name>, never blocking and never following a
    symbolic link; only a regular file of at least a header's size passes."""
    try:
        # O_NONBLOCK: a FIFO planted under the name opens at once, and a file
        # with a lease fails with EWOULDBLOCK instead of blocking until the
        # lease breaks (lease-break-time, 45 s by default).
        fd = os.open(_SHM_DIR + "/" + name,
                     os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise SegmentError("corrupt_segment", name,
                               "it is a symbolic link, not a segment") from None
        if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
            raise SegmentError("permission_denied", name,
                               "another process holds a lease on it") from None
        if e.errno in (errno.EISDIR, errno.ENXIO, errno.ENODEV):
            raise SegmentError("corrupt_segment", name,
                               f"it is not a regular file ({e.strerror})") from None
        if e.errno == errno.ENOENT:
            raise SegmentError("not_found", name, "no segment of that name") from None
        raise _native_error(e, name, "open") from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SegmentError("corrupt_segment", name,
                               f"it is not a regular file (mode {info.st_mode:o})")
        if info.st_size < HEADER_SIZE:
            raise SegmentError("corrupt_segment", name, f"it has {info.st_size} bytes, "
                               f"less than a {HEADER_SIZE}-byte header")
        if info.st_size > sys.maxsize:
            raise SegmentError("corrupt_segment", name,
                               f"it has {info.st_size} bytes, more than can be mapped")
        try:
            mapped = mmap.mmap(fd, info.st_size)
        except OSError as e:
            raise _native_error(e, name, "mmap") from e
    finally:
        os.close(fd)
    return _FileMapping(name, info.st_size, mapped)


def _temp_suffix():
    """16 random lowercase hex digits naming a segment being built."""
    return secrets.token_hex(8)


def _flock(l_type):
    """struct flock {short l_type, l_whence; off_t l_start, l_len; pid_t l_pid;}
    for byte 0 (64-bit off_t; padded as the C compiler pads it: 32 bytes on
    x86_64 and aarch64, "hh4xqqi4x")."""
    fields = "hhqqi"
    align = struct.calcsize("@bq") - struct.calcsize("@q")  # alignof(int64)
    pad = -struct.calcsize("@" + fields) % align
    return struct.pack(f"@{fields}{pad}x", l_type, os.SEEK_SET, 0, 1, 0)


_F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)


def _unnamed_file(name, directory):
    """A new unnamed file in /dev/shm (O_TMPFILE), or None where the kernel or
    the filesystem has no O_TMPFILE, or there is no /proc/self/fd to name it by."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir(_PROC_SELF_FD):
        return None
    try:
        return os.open(".", flag | os.O_RDWR | os.O_CLOEXEC, 0o600, dir_fd=directory)
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None
        raise _native_error(e, name, "creating an unnamed file in " + _SHM_DIR) from e


def _link(source, name, directory, follow):
    """linkat(2) of `source` to /dev/shm/<name>, following a final symbolic
    link (a /proc/self/fd entry) if `follow`. Passing directory descriptors
    makes CPython call linkat(): without them os.link() calls link(2), which
    ignores follow_symlinks=True on Linux before Python 3.14 (CPython issue
    gh-81793) and so fails with EXDEV on a /proc/self/fd entry."""
    try:
        os.link(source, name, src_dir_fd=directory, dst_dir_fd=directory, follow_symlinks=follow)
    except FileExistsError:
        raise SegmentError("already_exists", name, "the name is taken") from None


def _build(fd, name, size, mode, header):
    """Makes the file `fd` the whole segment: mode, size, allocated pages and
    the header (state ready), and returns its mapping. Nothing has its name yet."""
    try:
        os.fchmod(fd, mode)  # exactly `mode`, whatever the umask
    except OSError as e:
        raise _native_error(e, name, "fchmod") from e
    # Growing a file past RLIMIT_FSIZE sends SIGXFSZ, which kills a process
    # that does not ignore it (CPython ignores it; embedders may not).
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and size > limit:
        raise SegmentError("no_space", name,
                           f"{size} bytes exceed this process's file size limit "
                           f"(RLIMIT_FSIZE) of {limit}")
    try:
        os.ftruncate(fd, size)
    except OSError as e:
        raise _native_error(e, name, f"sizing it to {size} bytes") from e
    # tmpfs maps a sparse file happily and SIGBUSes on first touch when full:
    # allocate now, so that a full /dev/shm is no_space here instead.
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.ENOMEM, errno.EDQUOT, errno.EFBIG):
            raise SegmentError("no_space", name,
                               f"reserving {size} bytes: {e.strerror}") from e
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise _native_error(e, name, f"reserving {size} bytes") from e
    try:
        mapped = mmap.mmap(fd, size)
    except OSError as e:
        raise _native_error(e, name, "mmap") from e
    mapped[:HEADER_SIZE] = header  # whole, state ready: no one sees it yet
    return mapped


def _create_unnamed(name, size, mode, header, directory):
    """Builds the segment in an O_TMPFILE file and links it under its name.
    None when O_TMPFILE or /proc/self/fd is missing (then nothing is left)."""
    fd = _unnamed_file(name, directory)
    if fd is None:
        return None
    mapped = None
    try:
        mapped = _build(fd, name, size, mode, header)
        try:
            _link(f"{_PROC_SELF_FD}/{fd}", name, directory, follow=True)
        except OSError as e:
            # ENOENT: no /proc/self/fd after all. EXDEV: the /proc entry
            # itself was linked, not the file (an os.link() that ignores
            # follow_symlinks). Build it the other way; this file goes with
            # its descriptor and mapping.
            if e.errno not in (errno.ENOENT, errno.EXDEV):
                raise _native_error(e, name, "link") from e
            mapped.close()
            mapped = None
            return None
        return _FileMapping(name, size, mapped)
    except BaseException:
        if mapped is not None:
            mapped.close()
        raise
    finally:
        os.close(fd)


def _create_via_temp(name, size, mode, header, directory):
    """Builds the segment in /dev/shm/.smh-creating-<hex>, read-locked while
    it is built, links it under its name and removes the temporary name."""
    for _ in range(100):
        temp = CREATING_PREFIX + _temp_suffix()
        try:
            fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=directory)
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise _native_error(e, name, f"creating {_SHM_DIR}/{temp}") from e
    else:
        raise SegmentError("os_error", name, "no free temporary name in " + _SHM_DIR)
    mapped = None
    try:
        # At once, so that `smh gc` sees a live process building it. Best
        # effort, as in the C++ library: without OFD locks (Linux < 3.15) the
        # build goes on, the temporary name only looks abandoned.
        try:
            fcntl.fcntl(fd, _F_OFD_SETLK, _flock(fcntl.F_RDLCK))
        except OSError:
            pass
        mapped = _build(fd, name, size, mode, header)
        try:
            _link(temp, name, directory, follow=False)
        except OSError as e:
            raise _native_error(e, name, "link") from e
        return _FileMapping(name, size, mapped)
    except BaseException:
        if mapped is not None:
            mapped.close()
        raise
    finally:
        try:
            os.unlink(temp, dir_fd=directory)
        except OSError:
            pass  # gone already: nothing else to undo
        # The mapping keeps the open file description, and with it the lock,
        # alive: release it. On a named segment the C++ library reads that
        # lock as its owner's, and segments made here have no owner.
        try:
            fcntl.fcntl(fd, _F_OFD_SETLK, _flock(fcntl.F_UNLCK))
        except OSError:
            pass
        os.close(fd)


def _create_file(name, size, mode, header):
    """Creates /dev/shm/<name>, complete before its name appears."""
    try:
        directory = os.open(_SHM_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise _native_error(e, name, "opening " + _SHM_DIR) from e
    try:
        mapping = _create_unnamed(name, size, mode, header, directory)
        if mapping is None:
            mapping = _create_via_temp(name, size, mode, header, directory)
        return mapping
    finally:
        os.close(directory)


def _alignment(fmt):
    """alignof of a C struct whose members are `fmt`'s codes (the largest
    native alignment among them); padding must be spelled out in `fmt`."""
    codes = [c for c in fmt if c.isalpha() and c not in "xsp"]
    return max((struct.calcsize("@" + c) for c in codes), default=1)


class Segment:
    """One attached (or created) smh segment. Use attach() or create()."""

    def __init__(self, shm, header, fmt):
        self._shm = shm
        self.name = shm.name
        self.header = header
        self.type_name = header["type_name"]
        self.format = fmt
        self._item = struct.Struct("=" + fmt)
        begin = header["data_offset"]
        end = begin + header["element_count"] * header["element_size"]
        self._bytes = shm.buf[begin:end]
        self.elements = self._bytes.cast(fmt) if len(fmt) == 1 else self._bytes

    @classmethod
    def attach(cls, name, fmt=None, type_name=None, timeout=5.0):
        """Attach to the smh segment `name` and check its header. `fmt` is the
        struct format of one element (derived from the type name for arithmetic
        types); `type_name`, when given, must equal the stored type name.
        On Linux this never waits (a segment's name appears only once it is
        complete) and `timeout` is unused; elsewhere it is how long to wait for
        a segment whose creator is still writing its header."""
        _check_name(name)
        if _LINUX:
            shm = _attach_file(name)
            try:
                header = cls._parse(bytes(shm.buf[:HEADER_SIZE]))
                if header["state"] != STATE_READY:
                    raise SegmentError("corrupt_segment", name, cls._state_problem(header["state"]))
                fmt = cls._check(header, shm.size, name, fmt, type_name)
                return cls(shm, header, fmt)
            except BaseException:
                shm.close()
                raise
        deadline = time.monotonic() + timeout
        while True:
            try:
                shm = _Mapping(name)
            except FileNotFoundError:
                raise SegmentError("not_found", name, "no segment of that name") from None
            try:
                header = cls._parse(bytes(shm.buf[:HEADER_SIZE])) if shm.size >= HEADER_SIZE else None
                if header is not None and header["state"] == STATE_READY:
                    fmt = cls._check(header, shm.size, name, fmt, type_name)
                    return cls(shm, header, fmt)
                if header is not None and header["state"] not in (0, STATE_CREATING):
                    raise SegmentError("corrupt_segment", name, "its header is in an unknown state")
                if time.monotonic() >= deadline:
                    raise SegmentError("corrupt_segment", name, "no ready smh header")
            except BaseException:
                shm.close()
                raise
            shm.close()  # not ready yet: its creator may still be writing it
            time.sleep(0.001)

    @staticmethod
    def _state_problem(state):
        if state == 0:
            return "its header was never completed (state 0)"
        if state == STATE_CREATING:
            return "its header says it is still being created, which no complete segment says"
        return f"its header is in an unknown state {state:#x}"

    @classmethod
    def create(cls, name, type_name, count, fmt=None, align=None, mode=0o600):
        """Create `name` (exclusively) holding `count` zeroed elements of the C++
        type called `type_name`, in the layout the C++ library attaches to.
        For a struct give its format, padding included, and if its alignof is
        not that of its largest member, `align`. `mode`: the segment's
        permission bits (on Linux exactly these, whatever the umask)."""
        _check_name(name)
        fmt = fmt or FORMATS.get(type_name)
        if fmt is None:
            raise ValueError(f"give the struct format of {type_name!r}")
        item = struct.Struct("=" + fmt)
        align = align or _alignment(fmt)
        if count < 1:
            raise SegmentError("invalid_length", name, "length is 0")
        offset = _data_offset(align)
        size = offset + count * item.size
        if size > _MAX_SIZE:
            raise SegmentError("invalid_length", name,
                               f"{count} elements of {item.size} bytes overflow a file size")
        encoded = type_name.encode()
        fields = [MAGIC, LAYOUT_VERSION, HEADER_SIZE, STATE_READY, ENDIAN_MARKER, 0, offset,
                  item.size, align, count, fnv1a_64(encoded), time.time_ns(), 0, os.getpid(),
                  0, 0, 0, bytes(16), encoded[:127]]  # owner_pid 0: no owner
        header = bytearray(_HEADER.pack(*fields))
        struct.pack_into("=Q", header, 72, _checksum(header))
        if _LINUX:
            shm = _create_file(name, size, mode, bytes(header))
        else:
            try:
                shm = _Mapping(name, create=True, size=size, mode=mode)
            except FileExistsError:
                raise SegmentError("already_exists", name, "the name is taken") from None
            shm.buf[:HEADER_SIZE] = header[:12] + bytes(4) + header[16:]
            struct.pack_into("=I", shm.buf, 12, STATE_READY)  # publish last
        return cls(shm, cls._parse(bytes(shm.buf[:HEADER_SIZE])), fmt)

    @staticmethod
    def _parse(raw):
        (magic, version, header_size, state, endian, flags, data_offset, element_size,
         element_align, element_count, type_hash, created_at_ns, checksum, creator_pid,
         owner_pid, owner_start_time, owner_token, _reserved, type_name) = _HEADER.unpack(raw)
        return {
            "magic": magic, "layout_version": version, "header_size": header_size,
            "state": state, "endian_marker": endian, "flags": flags,
            "data_offset": data_offset, "element_size": element_size,
            "element_align": element_align, "element_count": element_count,
            "type_hash": type_hash, "created_at_ns": created_at_ns, "checksum": checksum,
            "creator_pid": creator_pid, "owner_pid": owner_pid,
            "owner_start_time": owner_start_time, "owner_token": owner_token,
            "type_name": type_name.split(b"\x00", 1)[0].decode("utf-8", "replace"),
            "type_name_bytes": type_name.split(b"\x00", 1)[0],
            "type_name_terminated": b"\x00" in type_name,
            "_raw": raw,
        }

    @staticmethod
    def _check(h, size, name, fmt, type_name):
        def corrupt(why):
            return SegmentError("corrupt_segment", name, why)

        if h["magic"] != MAGIC:
            raise corrupt("not an smh segment: wrong magic bytes")
        if h["endian_marker"] != ENDIAN_MARKER:
            raise corrupt("written with another byte order")
        if h["layout_version"] != LAYOUT_VERSION or h["header_size"] != HEADER_SIZE:
            raise corrupt(f"layout version {h['layout_version']}, this module reads 1")
        if h["checksum"] != _checksum(h["_raw"]):
            raise corrupt("header checksum does not match its contents")
        if not h["type_name_terminated"]:
            raise corrupt("type name is not terminated")
        if len(h["type_name_bytes"]) < 127 and fnv1a_64(h["type_name_bytes"]) != h["type_hash"]:
            raise corrupt("type hash does not match the type name")
        align = h["element_align"]
        if (h["element_size"] == 0 or align == 0 or align & (align - 1) or align > 4096
                or h["element_size"] % align):
            raise corrupt("impossible element size or alignment")
        if h["data_offset"] != _data_offset(align) or h["element_count"] == 0:
            raise corrupt("impossible data offset or element count")
        if h["data_offset"] + h["element_count"] * h["element_size"] > size:
            raise corrupt(f"header claims more elements than its {size} bytes hold")
        if type_name is not None and type_name != h["type_name"]:
            raise SegmentError("type_mismatch", name,
                               f"segment holds {h['type_name']}, expected {type_name}")
        fmt = fmt or FORMATS.get(h["type_name"])
        if fmt is None:
            raise SegmentError("type_mismatch", name,
                               f"give the struct format of {h['type_name']!r}")
        if struct.calcsize("=" + fmt) != h["element_size"]:
            raise SegmentError("type_mismatch", name,
                               f"format {fmt!r} is {struct.calcsize('=' + fmt)} bytes, "
                               f"the segment's {h['type_name']} is {h['element_size']}")
        return fmt

    def __len__(self):
        return self.header["element_count"]

    def __getitem__(self, index):
        if len(self.format) == 1:
            return self.elements[index]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._item.unpack_from(self._bytes, index * self._item.size)

    def __setitem__(self, index, value):
        if len(self.format) == 1:
            self.elements[index] = value
            return
        if not 0 <= index < len(self):
            raise IndexError(index)
        self._item.pack_into(self._bytes, index * self._item.size, *value)

    def numpy(self):
        """The elements as a NumPy array sharing the memory (needs NumPy)."""
        import numpy  # optional

        return numpy.frombuffer(self._bytes, dtype=numpy.dtype("=" + self.format))

    def close(self):
        """Release this process's views and mapping; the segment stays."""
        self.elements.release()
        self._bytes.release()
        self._shm.close()

    def unlink(self):
        """Remove the segment's name (what the C++ unlink() does)."""
        self._shm.unlink()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
