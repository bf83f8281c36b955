"""SharedMemoryHandlee: a typed array in a named shared-memory segment, the
Python face of include/smh/shared_memory_handlee.hpp."""
import atexit
import itertools
import operator
import os
import struct as _struct
import time
import weakref

from . import _atomic, _layout, _owner, _posix, _termination, _wait
from ._errors import Error, errc
from ._types import element_type, element_type_for_name

__all__ = ["SharedMemoryHandlee"]

_tokens = itertools.count(1)  # per-object owner tokens, never 0, unique in the process
_owned = weakref.WeakSet()  # objects owning their segment: atexit and signal cleanup
_termination._owners = lambda: list(_owned)

_RELEASED = memoryview(b"")
_RELEASED.release()  # what a closed object's data is: any use raises ValueError
_StructError = _struct.error


def _with_name(element, type_name):
    if type_name is None or type_name == element.type_name:
        return element
    if not isinstance(type_name, str) or not type_name or "\0" in type_name:
        raise ValueError(f"type_name must be a non-empty str without NUL, not {type_name!r}")
    copy = element_type(None) if element.raw else element_type(element.format, element.atomic)
    copy.raw = element.raw
    copy.type_name = type_name
    return copy


class SharedMemoryHandlee:
    """A typed array in a named shared-memory segment (Linux: /dev/shm/<name>).

        shm = SharedMemoryHandlee(10, struct="i")    # creates; this object owns it
        shm[0] = (42,)                               # tuples in and out, as struct
        shm[-1]                                      # (0,): the last element
        other = SharedMemoryHandlee.attach(shm.name) # elsewhere: by name, type checked

    `struct` is a struct format with native sizes and alignment ("@"): the
    element is laid out, and padded, exactly as the matching C struct is, so
    C++ attaches to it (see smh._types). None makes raw bytes whose [] gives
    and takes ints. Subclass it as the old module's users did:

        class MySharedMemory(SharedMemoryHandlee):
            def __init__(self, length):
                super().__init__(length, struct="i")

    Ownership is the C++ library's: the creating object owns the segment and
    removes its name on close(), at the end of `with`, when garbage-collected
    and at normal interpreter exit; nothing else does (an attached or
    unpickled copy, a forked child). Pickling pickles the name: the receiving
    process attaches to the same memory. Errors are smh.Error.
    """

    __slots__ = ("_smh_name", "_smh_length", "_smh_struct", "_smh_data", "_smh_view",
                 "_smh_map", "_smh_base", "_smh_type", "_smh_size", "_smh_unpack", "_smh_pack",
                 "_smh_identity", "_smh_lock_fd", "_smh_locker", "_smh_token", "_smh_owner",
                 "_smh_unlinked", "_smh_read_only", "_smh_closed", "_smh_offset", "_smh_arity",
                 "_smh_cast", "__weakref__")

    # --- making one ------------------------------------------------------------

    def __init__(self, length, struct=None, *, name=None, type_name=None, atomic=False,
                 mode=0o600, reserve=True):
        """Creates a segment of `length` zeroed elements of format `struct`
        (see the class docstring); this object owns it. `name`: the segment's
        name (exclusive: an existing one is already_exists, untouched), by
        default "smh-" and 16 random hex digits. `type_name`: the stored type
        name, for a C++ struct (e.g. "geo::Point"); by default the name C++
        gives the matching type. `atomic`: std::atomic<U> elements (one
        integer field), for load/store/fetch_add/compare_exchange. `mode`:
        permission bits, exactly (the umask does not change them). `reserve`:
        allocate every page now, so a full /dev/shm is no_space here, never a
        SIGBUS later."""
        self._smh_reset()
        element = _with_name(element_type(struct, atomic=atomic), type_name)
        self._smh_create(length, element, name, mode, reserve)

    @classmethod
    def create(cls, length, struct=None, **options):
        """The same as the constructor, without calling a subclass's __init__."""
        obj = cls.__new__(cls)
        SharedMemoryHandlee.__init__(obj, length, struct, **options)
        return obj

    @classmethod
    def attach(cls, name, struct=None, *, type_name=None, atomic=False, read_only=False):
        """Maps the existing segment `name` (not the owner; see adopt()).
        Without `struct` the element type comes from the segment's stored type
        name (arithmetic types, std::array, std::atomic, the struct{...} names
        Python gives); for a C++ class give its format and `type_name`, e.g.
        attach(name, struct="ddi", type_name="geo::Point"). A segment holding
        another type is type_mismatch. `read_only`: opened and mapped read-only
        (needs only read permission); writes raise TypeError. Never blocks:
        anything that is not a finished segment file is corrupt_segment."""
        obj = cls.__new__(cls)
        obj._smh_reset()
        element = None
        if struct is not None or atomic:
            element = _with_name(element_type(struct, atomic=atomic), type_name)
        obj._smh_attach(name, element, type_name, read_only, "attach")
        return obj

    def _smh_reset(self):
        self._smh_name = ""
        self._smh_length = 0
        self._smh_struct = None
        self._smh_data = _RELEASED
        self._smh_view = None
        self._smh_map = None
        self._smh_base = 0
        self._smh_type = None
        self._smh_size = 1
        self._smh_unpack = None
        self._smh_pack = None
        self._smh_identity = None
        self._smh_lock_fd = None
        self._smh_locker = 0
        self._smh_token = 0
        self._smh_owner = None
        self._smh_unlinked = False
        self._smh_read_only = False
        self._smh_closed = True
        self._smh_offset = 0
        self._smh_arity = 0
        self._smh_cast = None

    def _smh_create(self, length, element, name, mode, reserve):
        op = "create"
        try:
            length = operator.index(length)
        except TypeError:
            raise TypeError(f"length must be an int, not {type(length).__name__}") from None
        shown = name if name is not None else "(generated)"
        if name is not None:
            _posix.check_name(name, op)
        if length <= 0:
            raise Error(errc.invalid_length, op, shown,
                        "length is 0" if length == 0 else f"length is negative ({length})")
        offset = _layout.data_offset_for(element.align)
        size = _layout.segment_bytes(offset, element.size, length)
        if size is None:
            raise Error(errc.invalid_length, op, shown,
                        f"{length} elements of {element.size} bytes do not fit in memory")
        if element.atomic and not _atomic.AVAILABLE:
            raise Error(errc.os_error, op, shown, "atomic elements need libatomic.so.1, "
                        "which could not be loaded")
        pid = os.getpid()
        owner = (pid, _posix.own_start_time(), next(_tokens))
        header = _layout.make_header(element, length, owner)
        # With termination cleanup on, a signal between the name appearing and
        # this object being recorded as owner would leave the segment: hold
        # those signals until then.
        with _termination.signals_held():
            for attempt in itertools.count():
                chosen = name if name is not None else _posix.generated_name()
                try:
                    mapped, lock_fd, identity = _posix.create(chosen, size, mode, header,
                                                              reserve=reserve, must_have=offset)
                    break
                except Error as e:
                    if name is not None or e.code is not errc.already_exists or attempt == 8:
                        raise
            self._smh_setup(chosen, mapped, element, length, offset, identity, False)
            self._smh_lock_fd = lock_fd
            self._smh_locker = pid
            self._smh_token = owner[2]
            self._smh_owner = owner
            _owned.add(self)

    def _smh_attach(self, name, element, type_name, read_only, op):
        _posix.check_name(name, op)
        mapped, size, identity = _posix.open_segment(name, op, not read_only)
        try:
            if size < _layout.HEADER_SIZE:
                raise Error(errc.corrupt_segment, op, name,
                            f"it has {size} bytes, too few for the "
                            f"{_layout.HEADER_SIZE}-byte header")
            header = _layout.parse(mapped[:_layout.HEADER_SIZE])  # a private copy
            _layout.check(header, size, op, name)
            stored = header["type_name"]
            if element is None:
                if type_name is not None and type_name != stored:
                    raise Error(errc.type_mismatch, op, name,
                                f"segment holds {stored}, attached as {type_name}")
                element = element_type_for_name(stored)
                if element is None:
                    raise Error(errc.type_mismatch, op, name,
                                f"segment holds {stored} ({header['element_size']} bytes, "
                                f"align {header['element_align']}), a type whose layout its "
                                f"name does not tell: give its struct format, e.g. "
                                f"attach(name, struct=..., type_name={stored!r})")
            expected_hash = _layout.fnv1a_64(element.type_name.encode())
            if (header["type_hash"] != expected_hash or header["element_size"] != element.size
                    or header["element_align"] != element.align):
                hint = ""
                if header["element_size"] == element.size and \
                        header["element_align"] == element.align and stored != element.type_name:
                    hint = f"; if the layouts agree, pass type_name={stored!r}"
                raise Error(errc.type_mismatch, op, name,
                            f"segment holds {stored} ({header['element_size']} bytes, align "
                            f"{header['element_align']}), attached as {element.type_name} "
                            f"({element.size} bytes, align {element.align}){hint}")
            if element.atomic and not _atomic.AVAILABLE:
                raise Error(errc.os_error, op, name, "atomic elements need libatomic.so.1, "
                            "which could not be loaded")
            self._smh_setup(name, mapped, element, header["element_count"],
                            header["data_offset"], identity, read_only)
        except BaseException:
            mapped.close()
            raise

    def _smh_setup(self, name, mapped, element, count, offset, identity, read_only):
        view = memoryview(mapped)
        self._smh_name = name
        self._smh_length = count
        self._smh_map = mapped
        self._smh_view = view
        self._smh_data = view[offset:offset + count * element.size]
        self._smh_base = _atomic.address_of(mapped)
        self._smh_type = element
        self._smh_size = element.size
        self._smh_offset = offset
        self._smh_identity = identity
        self._smh_read_only = read_only
        self._smh_closed = False
        # Raw bytes and atomics take the slow paths (arity 0: no fast set).
        self._smh_arity = 0 if element.raw or element.atomic else len(element.fields)
        self._smh_cast = None
        if self._smh_arity == 1 and element.fields[0][0] != "s" and element.format[0] == "@":
            try:  # not 'e' before Python 3.12
                self._smh_cast = self._smh_data.cast(element.fields[0][0])
                self._smh_arity = -1
            except (TypeError, ValueError):
                pass
        if element.raw:
            self._smh_struct = None
            self._smh_unpack = operator.getitem
            self._smh_pack = None  # raw bytes take the slow path: data[i] = value
        else:
            self._smh_struct = _struct.Struct(element.format)
            # Atomic elements take the slow path, which loads and stores atomically.
            self._smh_unpack = None if element.atomic else self._smh_struct.unpack_from
            self._smh_pack = None if element.atomic else self._smh_struct.pack_into

    # --- the old module's API ---------------------------------------------------

    @property
    def data(self):
        """The elements' bytes as a memoryview: element i is at i * struct.size
        (for speed: struct.pack_into(shm.data, ...)). Stays valid, and keeps
        the mapping, as long as you hold it, even after close()."""
        return self._smh_data

    @property
    def struct(self):
        """The element's struct.Struct, its size the element's stride
        (trailing padding included); None for raw bytes."""
        return self._smh_struct

    @property
    def size(self):
        """The elements' size in bytes."""
        return self._smh_length * self._smh_size

    def __len__(self):
        return self._smh_length

    # The fast paths: one field through a memoryview cast to its format
    # (arity -1: C code checks the index, negative ones included), several
    # through struct (a negative offset counts from the end, as an index
    # does). Anything unusual (a slice, an index out of range, a value the
    # cast refuses, raw bytes, atomics, a closed segment) raises, and the slow
    # path then does it the struct way, or says what is wrong.
    #
    # Each test on the way costs a few percent of a bare struct call
    # (bench/python_package.py), so each path makes as few as it can: get
    # tests once, set tests the one-field cast first, then the common arities.
    # What is left is the call of a Python __getitem__/__setitem__ itself.
    def __getitem__(self, index):
        try:
            if self._smh_arity >= 0:  # several fields (or a slow path's type)
                return self._smh_unpack(self._smh_data, index * self._smh_size)
            return (self._smh_cast[index + 0],)
        except (_StructError, TypeError, ValueError, IndexError):
            return self._smh_get_slow(index)

    def __setitem__(self, index, value):
        try:
            arity = self._smh_arity
            if arity < 0:
                (a,) = value
                self._smh_cast[index + 0] = a
            elif arity == 3:
                a, b, c = value
                self._smh_pack(self._smh_data, index * self._smh_size, a, b, c)
            elif arity == 2:
                a, b = value
                self._smh_pack(self._smh_data, index * self._smh_size, a, b)
            elif arity == 1:
                (a,) = value
                self._smh_pack(self._smh_data, index * self._smh_size, a)
            else:  # a call with *value costs more than the pack itself: unrolled above
                self._smh_pack(self._smh_data, index * self._smh_size, *value)
        except (_StructError, TypeError, ValueError, IndexError):
            self._smh_set_slow(index, value)

    def get_at(self, index):
        """self[index]: a tuple (an int for raw bytes); negative indices count
        from the end; IndexError out of range."""
        return self[index]

    def set_at(self, index, values):
        """self[index] = values: a tuple packed as struct does."""
        self[index] = values

    def __iter__(self):
        self._smh_check_open()
        element = self._smh_type
        if element.raw:
            return iter(self._smh_data)
        if element.atomic:
            return ((self.load(i),) for i in range(self._smh_length))
        return self._smh_struct.iter_unpack(self._smh_data)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    def __del__(self):
        try:
            self.close()
        except BaseException:  # noqa: B036 - never from a finalizer (interpreter shutdown)
            pass

    def get_state(self):
        """What pickling sends: the name and the element type, never the data."""
        if self._smh_closed:
            raise ValueError(f'segment "{self._smh_name}" is closed: nothing to pass on')
        element = self._smh_type
        return {"name": self._smh_name, "length": self._smh_length,
                "struct": None if element.raw else element.format,
                "type_name": element.type_name, "atomic": element.atomic,
                "read_only": self._smh_read_only}

    def set_state(self, state):
        """Attaches to the segment `state` names (never the owner), checking
        that it holds the same type and length."""
        self._smh_reset()
        fmt = state.get("struct")
        if isinstance(fmt, _struct.Struct):
            fmt = fmt.format
        element = element_type(fmt, atomic=state.get("atomic", False))
        element = _with_name(element, state.get("type_name"))
        name = state["name"]
        self._smh_attach(name, element, None, state.get("read_only", False), "unpickle")
        if self._smh_length != state["length"]:
            length = self._smh_length
            self.close()
            raise Error(errc.not_found, "unpickle", name,
                        f"the segment now has {length} elements, the pickled one had "
                        f"{state['length']}: the name was reused")

    def __getstate__(self):
        state = self.get_state()
        extra = getattr(self, "__dict__", None)  # a subclass's own attributes
        if extra:
            state = dict(state, __dict__=dict(extra))
        return state

    def __setstate__(self, state):
        self.set_state(state)
        if "__dict__" in state:
            self.__dict__.update(state["__dict__"])

    # --- what C++ has too --------------------------------------------------------

    @property
    def name(self):
        """The segment's name: what another process passes to attach()."""
        return self._smh_name

    @property
    def type_name(self):
        """The element type's portable name, as stored in the segment."""
        return self._smh_type.type_name if self._smh_type else None

    @property
    def read_only(self):
        return self._smh_read_only

    @property
    def closed(self):
        return self._smh_closed

    def close(self):
        """Unmaps; the owner, in its own process, also removes the name (only
        while the segment still records it as owner and the name still names
        the same file). Never raises for views still in use: memoryviews and
        NumPy arrays obtained from this object keep the mapping, which goes
        with the last of them. Harmless to call twice."""
        if self._smh_closed:
            return
        self._smh_closed = True
        try:
            self._smh_give_up_ownership()
        finally:
            self._smh_unmap()

    def _smh_give_up_ownership(self):
        token = self._smh_token
        try:
            if token and self._smh_base:
                mine = (os.getpid(), _posix.own_start_time(), token)
                if _owner.claim_owner(self._smh_base, mine, mine[0]):
                    gone = self._smh_unlinked or _posix.unlink_if_same(
                        self._smh_name, self._smh_identity) != _posix.FAILED
                    _owner.publish_owner(self._smh_base, _owner.NO_OWNER if gone else mine)
        finally:
            self._smh_stop_owning()

    def _smh_stop_owning(self):
        self._smh_token = 0
        self._smh_owner = None
        fd, self._smh_lock_fd = self._smh_lock_fd, None
        _posix.drop_owner_lock(fd, self._smh_locker)
        _owned.discard(self)

    def _smh_unmap(self):
        data, view, mapped, cast = self._smh_data, self._smh_view, self._smh_map, self._smh_cast
        self._smh_data, self._smh_view, self._smh_map, self._smh_cast = _RELEASED, None, None, None
        self._smh_arity = 0
        self._smh_base = 0
        for held in (cast, data, view):
            if held is not None:
                try:
                    held.release()
                except BufferError:
                    pass  # a NumPy array or a view of it: the mapping stays for it
        if mapped is not None:
            try:
                mapped.close()
            except BufferError:
                pass  # exported: unmapped when the last memoryview or array goes

    def _smh_owner_entry(self):
        return self._smh_owner, self._smh_name, self._smh_identity

    def _smh_check_open(self):
        if self._smh_closed:
            raise ValueError(f'segment "{self._smh_name}" is closed')

    def _smh_check_writable(self, what):
        self._smh_check_open()
        if self._smh_read_only:
            raise TypeError(f'segment "{self._smh_name}" is attached read-only: cannot {what}')

    def is_owner(self):
        """True for the object that created or adopted the segment, in that
        process, while the segment still records it as owner."""
        if not self._smh_token or not self._smh_base:
            return False
        return _owner.read_owner(self._smh_base) == self._smh_owner and \
            self._smh_owner[0] == os.getpid()

    def release(self):
        """Gives up ownership: the segment outlives this object and process
        until someone adopts it (or removes it). Returns whether this object
        was the owner."""
        self._smh_check_writable("release it")
        if not self._smh_token or self._smh_owner[0] != os.getpid():
            return False
        if not _owner.replace_owner(self._smh_base, self._smh_owner, _owner.NO_OWNER):
            return False
        self._smh_stop_owning()
        return True

    def adopt(self):
        """Becomes the owner of a segment that has none (released) or whose
        owner process has ended (C++ or Python); from then on close() removes
        the name. False, changing nothing, while a live process owns it."""
        return self._smh_acquire(False)

    def take_ownership(self):
        """Becomes the owner whatever the current owner is doing: its close()
        (or C++ destructor) will no longer remove the name."""
        self._smh_acquire(True)

    def _smh_acquire(self, force):
        self._smh_check_writable("own it")
        if self._smh_token and self.is_owner():
            return True
        pid = os.getpid()
        if self._smh_lock_fd is None or self._smh_locker != pid:
            if self._smh_lock_fd is not None:
                _posix.drop_owner_lock(self._smh_lock_fd, self._smh_locker)
            self._smh_lock_fd = _posix.lock_for_owning(self._smh_name, self._smh_identity)
            self._smh_locker = pid
        base = self._smh_base
        mine = (pid, _posix.own_start_time(), next(_tokens))
        waited_on, waiting_since = 0, time.monotonic()
        while True:
            current = _owner.owner_pid(base)
            if current < 0:  # being changed by another process, or abandoned
                now = time.monotonic()
                if current != waited_on:
                    waited_on, waiting_since = current, now
                abandoned = not _posix.process_alive(_owner.claimant_of(current), 0) or \
                    now - waiting_since >= _owner.ABANDONED_CLAIM_AFTER
                if not abandoned:
                    time.sleep(0.00005)
                    continue
                if _owner.claim_abandoned(base, current, mine[0]):
                    break
                continue
            owner = _owner.read_owner(base)
            if owner is None:
                continue
            if not force and owner[0] != 0 and (
                    (self._smh_lock_fd is not None and
                     _posix.lock_held_elsewhere(self._smh_lock_fd)) or
                    _posix.process_alive(owner[0], owner[1])):
                self._smh_stop_owning()  # a live process owns it (perhaps another object of ours)
                return False
            if _owner.claim_owner(base, owner, mine[0]):
                break
        _owner.publish_owner(base, mine)
        self._smh_token = mine[2]
        self._smh_owner = mine
        _owned.add(self)
        return True

    def unlink(self):
        """Removes the name now (whoever owns it): later attach() calls are
        not_found, existing mappings stay valid. Removes nothing if the name
        now belongs to another segment. Returns whether this call removed it."""
        if self._smh_closed or self._smh_unlinked:
            return False
        result = _posix.unlink_if_same(self._smh_name, self._smh_identity)
        self._smh_unlinked = result != _posix.FAILED
        return result == _posix.REMOVED

    # --- atomic elements -----------------------------------------------------------

    def _smh_address(self, index, what):
        self._smh_check_open()
        element = self._smh_type
        if not element.atomic:
            raise TypeError(f'{what}: segment "{self._smh_name}" holds {element.type_name}, '
                            "not atomic elements (create or attach with atomic=True)")
        return self._smh_base + self._smh_offset + self._smh_index(index) * self._smh_size

    def _smh_from_unsigned(self, value):
        if self._smh_type.signed and value >= 1 << (8 * self._smh_size - 1):
            return value - (1 << (8 * self._smh_size))
        if self._smh_type.fields[0][0] == "?":
            return bool(value)
        return value

    def _smh_check_value(self, value):
        self._smh_struct.pack(value)  # struct's range check and error

    def load(self, index):
        """Atomic load of element `index` (sequentially consistent)."""
        address = self._smh_address(index, "load")
        return self._smh_from_unsigned(_atomic.OPS[self._smh_size].load(address))

    def store(self, index, value):
        """Atomic store into element `index`."""
        address = self._smh_address(index, "store")
        self._smh_check_writable("store")
        self._smh_check_value(value)
        _atomic.OPS[self._smh_size].store(address, int(value))

    def fetch_add(self, index, delta):
        """Atomically adds `delta` to element `index` (wrapping as C++ does);
        returns the previous value."""
        address = self._smh_address(index, "fetch_add")
        self._smh_check_writable("fetch_add")
        return self._smh_from_unsigned(_atomic.OPS[self._smh_size].fetch_add(address, delta))

    def compare_exchange(self, index, expected, desired):
        """Atomically: if element `index` is `expected`, make it `desired`.
        Returns (whether it did, the value found)."""
        address = self._smh_address(index, "compare_exchange")
        self._smh_check_writable("compare_exchange")
        self._smh_check_value(desired)
        ok, found = _atomic.OPS[self._smh_size].compare_exchange(address, int(expected),
                                                                 int(desired))
        return ok, self._smh_from_unsigned(found)

    def _smh_wait_address(self, index, what):
        address = self._smh_address(index, what)
        if self._smh_size not in (4, 8):
            raise TypeError(f'{what}: segment "{self._smh_name}" holds {self._smh_size}-byte '
                            "atomics; waiting needs 4 or 8 bytes")
        if not _wait.AVAILABLE:
            raise Error(errc.os_error, what, self._smh_name,
                        "waiting needs Linux futex(2) and libatomic")
        return address

    def wait(self, index, old, timeout=None):
        """Blocks while atomic element `index` holds `old`, across processes
        (C++ and Python alike), at most `timeout` seconds (None: no limit).
        Returns whether it saw another value. Read-only handles wait too,
        looking again at least every 10 ms. Raises TypeError for elements
        that are not 4- or 8-byte atomics, IndexError past the end."""
        address = self._smh_wait_address(index, "wait")
        self._smh_check_value(old)
        unsigned = int(old) & ((1 << (8 * self._smh_size)) - 1)
        return _wait.wait(self._smh_base, address, self._smh_size, unsigned,
                          not self._smh_read_only, timeout)

    def notify_one(self, index):
        """Wakes a process waiting on atomic element `index` (8-byte elements:
        every waiter of the segment). No system call when no writable handle
        waits. Raises TypeError on a read-only handle."""
        address = self._smh_wait_address(index, "notify_one")
        self._smh_check_writable("notify_one")
        _wait.notify(self._smh_base, address, self._smh_size, False)

    def notify_all(self, index):
        """Wakes every process waiting on atomic element `index`."""
        address = self._smh_wait_address(index, "notify_all")
        self._smh_check_writable("notify_all")
        _wait.notify(self._smh_base, address, self._smh_size, True)

    # --- NumPy ------------------------------------------------------------------------

    def numpy(self, names=None):
        """The elements as a NumPy array sharing the segment's memory (no
        copy): a plain dtype for one field, a structured one (field names
        `names`, default f0, f1, ...) for several. Read-only for a read-only
        attach. The array keeps the mapping alive after close()."""
        import numpy  # optional

        self._smh_check_open()
        return numpy.frombuffer(self._smh_data, dtype=self._smh_type.numpy_dtype(numpy, names))

    # --- the slow paths ------------------------------------------------------------------

    def _smh_index(self, index):
        if not isinstance(index, int):
            try:
                index = operator.index(index)
            except TypeError:
                raise TypeError(f"segment indices must be integers or slices, "
                                f"not {type(index).__name__}") from None
        length = self._smh_length
        position = index + length if index < 0 else index
        if not 0 <= position < length:
            raise IndexError(f'index {index} is out of range for segment "{self._smh_name}", '
                             f"which has {length} elements")
        return position

    def _smh_get_slow(self, index):
        self._smh_check_open()
        if isinstance(index, slice):
            return [self._smh_get_slow(i) for i in range(*index.indices(self._smh_length))]
        position = self._smh_index(index)
        element = self._smh_type
        if element.atomic:
            return (self.load(position),)
        if element.raw:
            return self._smh_data[position]
        return self._smh_struct.unpack_from(self._smh_data, position * self._smh_size)

    def _smh_set_slow(self, index, value):
        self._smh_check_writable("write to it")
        if isinstance(index, slice):
            positions = range(*index.indices(self._smh_length))
            values = list(value)
            if len(values) != len(positions):
                raise ValueError(f"{len(values)} values for {len(positions)} elements")
            for position, one in zip(positions, values):
                self._smh_set_slow(position, one)
            return
        position = self._smh_index(index)
        element = self._smh_type
        if element.raw:
            self._smh_data[position] = value
            return
        if not isinstance(value, tuple):
            try:
                value = tuple(value)
            except TypeError:
                raise TypeError(f"an element of {element.type_name} is set from a tuple of "
                                f"{len(element.fields)} value(s), e.g. shm[i] = (v,); "
                                f"got {type(value).__name__}") from None
        if element.atomic:
            if len(value) != 1:
                raise _StructError(f"pack expected 1 items for packing (got {len(value)})")
            self.store(position, value[0])
            return
        self._smh_struct.pack_into(self._smh_data, position * self._smh_size, *value)

    def __repr__(self):
        if self._smh_type is None:
            return f"<{type(self).__name__}: not attached>"
        state = "closed" if self._smh_closed else ("owner" if self.is_owner() else "attached")
        if self._smh_read_only:
            state += ", read-only"
        return (f'<{type(self).__name__} "{self._smh_name}": {self._smh_length} x '
                f"{self._smh_type.type_name}, {state}>")


def _at_exit():
    """Normal interpreter exit: the owners remove their names (as C++
    destructors at the end of main do); the mappings stay for whatever runs
    later."""
    for obj in list(_owned):
        try:
            obj._smh_give_up_ownership()
        except Exception:  # noqa: BLE001 - exit goes on for the others
            pass


atexit.register(_at_exit)
