"""Read and write smh segments from Python: the older single-file API
(`Segment`), now a thin layer over the smh package next to it (python/smh).

An smh segment (see docs/layout.md) is a named shared-memory file, a 256-byte
header describing the elements, then the elements. This module attaches to
one that a C++ program created, checks its header the way the C++ library
does, and exposes the elements as a memoryview cast to the element's struct
format (or, with NumPy installed, as an ndarray). It can also create a
segment in the same layout for a C++ program to attach to.

    from smh_segment import Segment
    with Segment.attach("smh-1f2e3d4c5b6a7988") as seg:   # created by C++
        print(seg.type_name, len(seg), seg[0])
        seg[0] = 42                                        # the C++ side sees it

New code should use the package (`from smh import SharedMemoryHandlee`),
which also owns what it creates. What this module adds to it: element
formats in standard sizes ("=", padding spelled out), one-field elements
read and written as plain values, and segments without an owner (the owner
fields are zero, no owner's lock is held once the name appears): remove them
with unlink(), or let a C++ program or smh.SharedMemoryHandlee adopt() them.

Creating, opening and checking are the package's (smh._posix, smh._layout),
so the protocol is the C++ library's: a name appears only once its segment
is complete (O_TMPFILE and linkat, or a locked hidden .smh-creating-<hex>
file), create under a taken name is already_exists and changes nothing, a
failed create leaves nothing, and attach never waits, never follows a
symbolic link and calls anything that is not a ready segment file
corrupt_segment. Linux only, as the package is.
"""

import contextlib
import os
import struct
import types

from smh import _layout, _posix
from smh._errors import Error, errc

__all__ = ["Segment", "SegmentError", "FORMATS"]

MAGIC = _layout.MAGIC
LAYOUT_VERSION = _layout.LAYOUT_VERSION
HEADER_SIZE = _layout.HEADER_SIZE
STATE_CREATING = _layout.STATE_CREATING  # older creators only; never written any more
STATE_READY = _layout.STATE_READY
ENDIAN_MARKER = _layout.ENDIAN_MARKER
MAX_NAME_LENGTH = _posix.MAX_NAME_LENGTH
CREATING_PREFIX = _posix.CREATING_PREFIX
fnv1a_64 = _layout.fnv1a_64

# The C++ library's names for arithmetic types, and their struct formats.
FORMATS = {
    "bool": "?", "char": "c", "int8": "b", "uint8": "B", "int16": "h", "uint16": "H",
    "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q", "float32": "f", "float64": "d",
}

_NO_OWNER = (0, 0, 0)


class SegmentError(Exception):
    """A segment that cannot be used; `code` is the C++ library's smh::errc name
    (not_found, already_exists, invalid_name, invalid_length, type_mismatch,
    corrupt_segment, permission_denied, no_space, os_error)."""

    def __init__(self, code, name, detail):
        super().__init__(f'{code} "{name}": {detail}')
        self.code = code


@contextlib.contextmanager
def _as_segment_errors():
    """The package's smh.Error, raised as this module's SegmentError."""
    try:
        yield
    except Error as e:
        raise SegmentError(e.code.value, e.name, e.detail) from None


def _alignment(fmt):
    """alignof of a C struct whose members are `fmt`'s codes (the largest
    native alignment among them); padding must be spelled out in `fmt`."""
    codes = [c for c in fmt if c.isalpha() and c not in "xsp"]
    return max((struct.calcsize("@" + c) for c in codes), default=1)


class Segment:
    """One attached (or created) smh segment. Use attach() or create()."""

    def __init__(self, name, mapped, identity, header, fmt):
        self.name = name
        self.header = header
        self.type_name = header["type_name"]
        self.format = fmt
        self._map = mapped
        self._identity = identity
        self._item = struct.Struct("=" + fmt)
        begin = header["data_offset"]
        end = begin + header["element_count"] * header["element_size"]
        self._view = memoryview(mapped)
        self._bytes = self._view[begin:end]
        self.elements = self._bytes.cast(fmt) if len(fmt) == 1 else self._bytes

    @classmethod
    def attach(cls, name, fmt=None, type_name=None, timeout=5.0):
        """Attach to the smh segment `name` and check its header. `fmt` is the
        struct format of one element (derived from the type name for arithmetic
        types); `type_name`, when given, must equal the stored type name.
        This never waits (a segment's name appears only once it is complete):
        `timeout` is unused, kept for callers written for the older module."""
        op = "attach"
        with _as_segment_errors():
            _posix.check_name(name, op)
            mapped, size, identity = _posix.open_segment(name, op, True)
            try:
                if size < HEADER_SIZE:
                    raise Error(errc.corrupt_segment, op, name, f"it has {size} bytes, less "
                                f"than a {HEADER_SIZE}-byte header")
                header = _layout.parse(mapped[:HEADER_SIZE])  # a private copy
                _layout.check(header, size, op, name)
                fmt = cls._format(header, name, fmt, type_name)
            except BaseException:
                if mapped is not None:
                    mapped.close()
                raise
        return cls(name, mapped, identity, header, fmt)

    @classmethod
    def create(cls, name, type_name, count, fmt=None, align=None, mode=0o600):
        """Create `name` (exclusively) holding `count` zeroed elements of the C++
        type called `type_name`, in the layout the C++ library attaches to.
        For a struct give its format, padding included, and if its alignof is
        not that of its largest member, `align`. `mode`: the segment's
        permission bits (exactly these, whatever the umask). The segment has
        no owner."""
        op = "create"
        with _as_segment_errors():
            _posix.check_name(name, op)
            fmt = fmt or FORMATS.get(type_name)
            if fmt is None:
                raise ValueError(f"give the struct format of {type_name!r}")
            element = types.SimpleNamespace(type_name=type_name,
                                            size=struct.calcsize("=" + fmt),
                                            align=align or _alignment(fmt))
            if count < 1:
                raise Error(errc.invalid_length, op, name, "length is 0")
            offset = _layout.data_offset_for(element.align)
            size = _layout.segment_bytes(offset, element.size, count)
            if size is None:
                raise Error(errc.invalid_length, op, name, f"{count} elements of "
                            f"{element.size} bytes overflow a file size")
            header = _layout.make_header(element, count, _NO_OWNER, creator=os.getpid())
            mapped, _, identity = _posix.create(name, size, mode, header, own=False)
        return cls(name, mapped, identity, _layout.parse(header), fmt)

    _parse = staticmethod(_layout.parse)

    @staticmethod
    def _format(h, name, fmt, type_name):
        """The element format to use: `fmt`, or the stored arithmetic type's;
        type_mismatch when the segment holds something else."""
        if type_name is not None and type_name != h["type_name"]:
            raise Error(errc.type_mismatch, "attach", name,
                        f"segment holds {h['type_name']}, expected {type_name}")
        fmt = fmt or FORMATS.get(h["type_name"])
        if fmt is None:
            raise Error(errc.type_mismatch, "attach", name,
                        f"give the struct format of {h['type_name']!r}")
        if struct.calcsize("=" + fmt) != h["element_size"]:
            raise Error(errc.type_mismatch, "attach", name,
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
        self._view.release()
        self._map.close()

    def unlink(self):
        """Remove the segment's name (what the C++ unlink() does), unless the
        name now belongs to another segment."""
        _posix.unlink_if_same(self.name, self._identity)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
