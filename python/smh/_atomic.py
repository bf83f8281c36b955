"""Atomic operations on shared memory, through libatomic (ctypes): Python
has no atomics of its own. All sequentially consistent (__ATOMIC_SEQ_CST),
so at least as strong as what the C++ side uses.

Where libatomic.so.1 cannot be loaded, AVAILABLE is False and the owner
record falls back to plain 8-byte loads and stores through ctypes (single
aligned moves on the 64-bit platforms Linux runs on) and to a compare-and-
swap that is a load, a compare and a store: not atomic. The race that leaves
open: two processes claiming the same owner record within the same few
microseconds may both succeed, so both may believe they own the segment (both
may then remove its name). Atomic elements (std::atomic<U>) need libatomic
and raise smh.Error(os_error) without it."""
import ctypes
import ctypes.util

SEQ_CST = 5

_lib = None
for _candidate in ("libatomic.so.1", ctypes.util.find_library("atomic")):
    if not _candidate:
        continue
    try:
        _lib = ctypes.CDLL(_candidate)
        break
    except OSError:
        continue

AVAILABLE = _lib is not None
_UNSIGNED = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_uint32, 8: ctypes.c_uint64}


class _Ops:
    """load, store, compare_exchange, fetch_add for one width, on addresses."""

    def __init__(self, width):
        self.width = width
        self.mask = (1 << (8 * width)) - 1
        ctype = self.ctype = _UNSIGNED[width]
        if _lib is None:
            return
        self._load = getattr(_lib, f"__atomic_load_{width}")
        self._load.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self._load.restype = ctype
        self._store = getattr(_lib, f"__atomic_store_{width}")
        self._store.argtypes = [ctypes.c_void_p, ctype, ctypes.c_int]
        self._store.restype = None
        self._cas = getattr(_lib, f"__atomic_compare_exchange_{width}")
        self._cas.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctype, ctypes.c_int, ctypes.c_int]
        self._cas.restype = ctypes.c_bool
        self._add = getattr(_lib, f"__atomic_fetch_add_{width}")
        self._add.argtypes = [ctypes.c_void_p, ctype, ctypes.c_int]
        self._add.restype = ctype

    def load(self, address):
        if _lib is None:
            return self.ctype.from_address(address).value
        return self._load(address, SEQ_CST)

    def store(self, address, value):
        if _lib is None:
            self.ctype.from_address(address).value = value & self.mask
        else:
            self._store(address, value & self.mask, SEQ_CST)

    def compare_exchange(self, address, expected, desired):
        """(True, expected) if the value was `expected` and is now `desired`,
        else (False, the value found). Unsigned values."""
        if _lib is None:  # not atomic: see the module's docstring
            cell = self.ctype.from_address(address)
            found = cell.value
            if found != expected & self.mask:
                return False, found
            cell.value = desired & self.mask
            return True, found
        box = self.ctype(expected & self.mask)
        ok = self._cas(address, ctypes.addressof(box), desired & self.mask, SEQ_CST, SEQ_CST)
        return bool(ok), box.value

    def fetch_add(self, address, delta):
        if _lib is None:
            raise RuntimeError("fetch_add needs libatomic")
        return self._add(address, delta & self.mask, SEQ_CST)


OPS = {width: _Ops(width) for width in (1, 2, 4, 8)}
U64 = OPS[8]


def signed64(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def load_i64(address):
    return signed64(U64.load(address))


def store_i64(address, value):
    U64.store(address, value)


def cas_i64(address, expected, desired):
    """Compare-and-swap of a signed 64-bit field: whether it was `expected`."""
    return U64.compare_exchange(address, expected, desired)[0]


class _PyBuffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object),
                ("len", ctypes.c_ssize_t), ("itemsize", ctypes.c_ssize_t),
                ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p),
                ("strides", ctypes.c_void_p), ("suboffsets", ctypes.c_void_p),
                ("internal", ctypes.c_void_p)]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]
_release_buffer.restype = None


def address_of(buffer):
    """The address of the first byte of `buffer` (an mmap, read-only or not),
    without keeping an export: valid while the mapping is."""
    view = _PyBuffer()
    if _get_buffer(buffer, ctypes.byref(view), 0) != 0:  # PyBUF_SIMPLE
        raise BufferError("cannot take the address of the mapping")
    try:
        return view.buf
    finally:
        _release_buffer(ctypes.byref(view))
