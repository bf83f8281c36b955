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
"""

import mmap
import os
import struct
import time

try:
    import _posixshmem  # CPython's shm_open/shm_unlink, on POSIX
except ImportError:  # Windows: named mappings, no resource tracker issue
    _posixshmem = None
    from multiprocessing import shared_memory

__all__ = ["Segment", "SegmentError", "FORMATS"]

MAGIC = b"SMHSEG\x00\x01"
LAYOUT_VERSION = 1
HEADER_SIZE = 256
STATE_CREATING = 0x43524541
STATE_READY = 0x59444552
ENDIAN_MARKER = 0x01020304
# docs/layout.md, field by field, in this machine's byte order ("=": standard sizes).
_HEADER = struct.Struct("=8sHHIII7Q2qQQ16s128s")
assert _HEADER.size == HEADER_SIZE
_MUTABLE = ((12, 16), (72, 80), (88, 112))  # state, checksum, owner fields

# The C++ library's names for arithmetic types, and their struct formats.
FORMATS = {
    "bool": "?", "char": "c", "int8": "b", "uint8": "B", "int16": "h", "uint16": "H",
    "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q", "float32": "f", "float64": "d",
}


class SegmentError(Exception):
    """A segment that cannot be used; `code` is the C++ library's smh::errc name
    (not_found, corrupt_segment, type_mismatch, already_exists, invalid_length)."""

    def __init__(self, code, name, detail):
        super().__init__(f'{code} "{name}": {detail}')
        self.code = code


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
    """A named segment mapped read-write. Not multiprocessing.shared_memory:
    its attach unlinks the segment when mmap fails, and its resource tracker
    unlinks segments when the process exits (CPython issue 82300)."""

    def __init__(self, name, create=False, size=0):
        self.name = name
        if _posixshmem is None:
            self._shm = shared_memory.SharedMemory(name=name, create=create, size=size)
            self.size, self.buf = self._shm.size, self._shm.buf
            return
        self._shm = None
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        fd = _posixshmem.shm_open("/" + name, flags, mode=0o600)
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
        types); `type_name`, when given, must equal the stored type name."""
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

    @classmethod
    def create(cls, name, type_name, count, fmt=None, align=None):
        """Create `name` (exclusively) holding `count` zeroed elements of the C++
        type called `type_name`, in the layout the C++ library attaches to.
        For a struct give its format, padding included, and if its alignof is
        not that of its largest member, `align`."""
        fmt = fmt or FORMATS.get(type_name)
        if fmt is None:
            raise ValueError(f"give the struct format of {type_name!r}")
        item = struct.Struct("=" + fmt)
        align = align or _alignment(fmt)
        if count < 1:
            raise SegmentError("invalid_length", name, "length is 0")
        offset = _data_offset(align)
        try:
            shm = _Mapping(name, create=True, size=offset + count * item.size)
        except FileExistsError:
            raise SegmentError("already_exists", name, "the name is taken") from None
        encoded = type_name.encode()
        fields = [MAGIC, LAYOUT_VERSION, HEADER_SIZE, 0, ENDIAN_MARKER, 0, offset, item.size,
                  align, count, fnv1a_64(encoded), time.time_ns(), 0, os.getpid(), 0, 0, 0,
                  bytes(16), encoded[:127]]
        header = bytearray(_HEADER.pack(*fields))
        struct.pack_into("=Q", header, 72, _checksum(header))
        shm.buf[:HEADER_SIZE] = header
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
