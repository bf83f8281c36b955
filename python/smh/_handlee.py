"""SharedMemoryHandlee: a typed array in a named shared-memory segment, the
Python face of include/smh/shared_memory_handlee.hpp.

Every step of the protocol is the C++ library's, through smh._core: the
segment is created or attached with the identity smh._types computes,
owned, handed over, waited on and removed by C++ code. What is Python's:
the old module's class and habits (subclassing, tuples in and out, struct
formats, pickling), NumPy views and the errors' built-in classes. The
per-element [] is the C base class's (smh._core.Elements)."""
import atexit
import errno as _errno
import os
import struct as _struct
import sys
import weakref
from multiprocessing import reduction as _reduction

from . import _core
from ._errors import Error, errc
from ._types import element_type, element_type_for_name

__all__ = ["SharedMemoryHandlee", "send", "receive"]

# smh._core.Elements' modes (python/src/elements.hpp).
_CODEC, _VIA_STRUCT, _RAW, _ATOMIC = 0, 1, 2, 3

# How long an unpickled handle waits for an owner record that another
# process is changing before it takes the segment over, and how long the
# process that sent it, as it ends, waits for receivers to take over what it
# sent and let go of (python/README.md, "Returning a segment from a worker").
HAND_OVER_PATIENCE = 0.25
SENDER_PATIENCE = 2.0

_RELEASED = memoryview(b"")
_RELEASED.release()  # what a closed object's data is: any use raises ValueError

# Objects that have owned their segment: at normal interpreter exit their
# names go (as C++ destructors at the end of main), their data stays usable.
_owners = weakref.WeakSet()


class _State:
    """What a handle holds besides its elements (which the C base holds)."""

    __slots__ = ("handle", "element", "struct", "read_only", "name", "mapping")

    def __init__(self, handle, element, struct, read_only, name, mapping=None):
        self.handle = handle
        self.mapping = mapping
        self.element = element
        self.struct = struct
        self.read_only = read_only
        self.name = name


class SharedMemoryHandlee(_core.Elements):
    """A typed array in a named shared-memory segment (Linux: /dev/shm/<name>).

        shm = SharedMemoryHandlee(10, struct="i")    # creates; this object owns it
        shm[0] = (42,)                               # tuples in and out, as struct
        shm[-1]                                      # (0,): the last element
        other = SharedMemoryHandlee.attach(shm.name) # elsewhere: by name, type checked

    `struct` is a struct format with native sizes and alignment ("@"): the
    element is laid out, and padded, exactly as the matching C struct is, so
    C++ attaches to it (see smh._types). None makes raw bytes whose [] gives
    and takes ints. Subclass it as the old module's users did (with
    `__slots__ = (...) + SharedMemoryHandlee.__slots__` too):

        class MySharedMemory(SharedMemoryHandlee):
            def __init__(self, length):
                super().__init__(length, struct="i")

    Ownership is the C++ library's: the creating object owns the segment and
    removes its name on close(), at the end of `with`, when garbage-collected
    and at normal interpreter exit; an attached or unpickled copy and a
    forked child only unmap. Pickling pickles the name: the receiving process
    attaches to the same memory; a handle that a worker process returns hands
    its ownership to the receiver (python/README.md). Errors are smh.Error.
    """

    __slots__ = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # ForkingPickler looks reducers up by exact type.
        _reduction.ForkingPickler.register(cls, _reduce_for_multiprocessing)

    # --- making one ------------------------------------------------------------

    def __init__(self, length, struct=None, *, name=None, type_name=None, atomic=False,
                 mode=0o600, reserve=True, populate=False, huge_pages=False, capacity=None,
                 anonymous=False):
        """Creates a segment of `length` zeroed elements of format `struct`
        (see the class docstring); this object owns it. `name`: the segment's
        name (exclusive: an existing one is already_exists, untouched), by
        default "smh-" and 16 random hex digits. `type_name`: the stored type
        name, for a C++ struct (e.g. "geo::Point"); by default the name C++
        gives the matching type. `atomic`: std::atomic<U> elements (one
        integer field), for load/store/fetch_add/compare_exchange and waits.
        `mode`: permission bits, exactly (the umask does not change them).
        `reserve`: allocate every page now, so a full /dev/shm is no_space
        here, never a SIGBUS later. `populate`: map every page now.
        `huge_pages`: ask for 2 MiB pages (see segment_huge_page_policy()).
        `capacity`: the most elements it may grow to (grow()); None, the
        length: it cannot grow. Every mapping reserves address space for the
        capacity, so no element ever moves; memory is taken as it grows.
        `anonymous`: no name anywhere (Linux: a sealed memfd), passed on by
        its `descriptor` (multiprocessing does it; smh.send over a socket),
        freed with its last holder, and no process can shrink it."""
        self._smh_end()
        element = element_type(struct, atomic=atomic).renamed(type_name)
        if anonymous and name is not None:
            raise Error(errc.invalid_name, "create_anonymous", str(name),
                        "an anonymous segment has no name")
        self._smh_create(length, element, name, mode, reserve, populate, huge_pages, capacity,
                         anonymous)

    @classmethod
    def create(cls, length, struct=None, **options):
        """The same as the constructor, without calling a subclass's __init__."""
        obj = cls.__new__(cls)
        SharedMemoryHandlee.__init__(obj, length, struct, **options)
        return obj

    @classmethod
    def attach(cls, name, struct=None, *, type_name=None, atomic=False, read_only=False,
               populate=False, huge_pages=False):
        """Maps the existing segment `name` (not the owner; see adopt()).
        Without `struct` the element type comes from the segment's stored type
        name (arithmetic types, std::array, std::atomic, the struct{...} names
        Python gives); for a C++ class give its format and `type_name`, e.g.
        attach(name, struct="ddi", type_name="geo::Point"). A segment holding
        another type is type_mismatch. `read_only`: opened and mapped read-only
        (needs only read permission); writes raise TypeError. Never blocks:
        anything that is not a finished segment file is corrupt_segment."""
        obj = cls.__new__(cls)
        element = None
        if struct is not None or atomic:
            element = element_type(struct, atomic=atomic).renamed(type_name)
        obj._smh_attach(name, element, type_name, read_only, populate, huge_pages, "attach")
        return obj

    def _smh_create(self, length, element, name, mode, reserve, populate, huge_pages,
                    capacity=None, anonymous=False):
        op = "create"
        length = _count("length", length)
        capacity = 0 if capacity is None else _count("capacity", capacity)
        if name is not None and not isinstance(name, str):
            raise Error(errc.invalid_name, op, repr(name),
                        f"a segment name is a str, not {type(name).__name__}")
        if length <= 0 or length >= 1 << 64:
            why = ("length is 0" if length == 0 else f"length is negative ({length})"
                   if length < 0 else f"{length} elements do not fit in memory")
            raise Error(errc.invalid_length, op, name or "", why)
        if capacity < 0 or capacity >= 1 << 64:
            why = (f"capacity is negative ({capacity})" if capacity < 0
                   else f"a capacity of {capacity} elements does not fit in memory")
            raise Error(errc.invalid_length, op, name or "", why)
        if anonymous:
            handle = _core.Handle.create_anonymous(length, element.type_name, element.size,
                                                   element.align, mode, reserve, populate,
                                                   huge_pages, capacity)
        else:
            handle = _core.Handle.create(name, length, element.type_name, element.size,
                                         element.align, mode, reserve, populate, huge_pages,
                                         capacity)
        self._smh_setup(handle, element, populate, huge_pages)

    @classmethod
    def attach_descriptor(cls, fd, struct=None, *, type_name=None, atomic=False,
                          read_only=False, populate=False, huge_pages=False):
        """Maps the anonymous segment behind descriptor `fd` (an int, or
        anything with fileno()), checked as attach() checks a name and for
        its seals (anything else is CorruptSegmentError). `fd` stays yours:
        the object keeps a descriptor of its own. Without `struct`, the
        element type comes from the segment, as attach() does."""
        fd = _fileno(fd)
        obj = cls.__new__(cls)
        obj._smh_attach_descriptor(fd, struct, type_name, atomic, read_only, populate,
                                   huge_pages)
        return obj

    def _smh_attach_descriptor(self, fd, struct, type_name, atomic, read_only, populate,
                               huge_pages):
        op = "attach_descriptor"
        if struct is not None or atomic:
            element = element_type(struct, atomic=atomic).renamed(type_name)
        else:
            element = _element_from(_core.inspect_descriptor(fd), type_name, op, "")
        handle = _core.Handle.attach_descriptor(fd, element.type_name, element.size,
                                                element.align, not read_only, populate,
                                                huge_pages)
        self._smh_setup(handle, element, populate, huge_pages)

    def _smh_attach(self, name, element, type_name, read_only, populate, huge_pages, op):
        if not isinstance(name, str):
            raise Error(errc.invalid_name, op, repr(name),
                        f"a segment name is a str, not {type(name).__name__}")
        if element is None:
            element = _stored_element(name, type_name, op)
        handle = _core.Handle.attach(name, element.type_name, element.size, element.align,
                                     not read_only, populate, huge_pages, op)
        self._smh_setup(handle, element, populate, huge_pages)

    def _smh_setup(self, handle, element, populate, huge_pages):
        # The elements as Python reaches them: a mapping of their own, which
        # memoryviews and NumPy arrays keep after close() (python/src/handle.hpp).
        mapping = handle.map_elements(populate, huge_pages)
        data = memoryview(mapping)
        struct = None if element.raw else _struct.Struct(element.format)
        if element.raw:
            mode = _RAW
        elif element.atomic:
            mode = _ATOMIC
        elif element.needs_struct:
            mode = _VIA_STRUCT
        else:
            mode = _CODEC
        read_only = not handle.writable
        self._smh_bind(data, struct, element.fields_spec(), mode, read_only, handle.name,
                       mapping.length_word())
        self._smh = _State(handle, element, struct, read_only, handle.name, mapping)
        if handle.writable and handle.descriptor < 0:  # an anonymous one has no owner
            _owners.add(self)
            if _in_a_multiprocessing_child():
                # Now, not when it is pickled: a queue's feeder thread may
                # pickle it while the process already runs its exit
                # functions, which would not run one registered then.
                _wait_for_receivers_at_exit()

    def _smh_end(self):
        """Lets go of whatever this object holds (a second __init__)."""
        state = self._smh
        if state is not None:
            self.close()

    # --- the old module's API ---------------------------------------------------

    @property
    def data(self):
        """The elements' bytes as a memoryview: element i is at i * struct.size
        (for speed: struct.pack_into(shm.data, ...)). A memoryview (or a
        slice of it, or a NumPy array) you hold stays valid after close(),
        and keeps the memory mapped until the last of them is gone; `data`
        asked for after close() is a released memoryview."""
        data = self._smh_data
        return _RELEASED if data is None else data

    @property
    def struct(self):
        """The element's struct.Struct, its size the element's stride
        (trailing padding included, so "ddi" is "@ddi4x"); None for raw bytes."""
        state = self._smh
        return state.struct if state is not None else None

    @property
    def size(self):
        """The elements' size in bytes."""
        state = self._smh
        return len(self) * state.element.size if state is not None and state.element else 0

    def get_at(self, index):
        """self[index]: a tuple (an int for raw bytes); negative indices count
        from the end; IndexError out of range."""
        return self[index]

    def set_at(self, index, values):
        """self[index] = values: a tuple packed as struct does."""
        self[index] = values

    def __iter__(self):
        data = self._smh_open_data()
        element = self._smh.element
        if element.raw:
            return iter(data)
        if element.atomic:
            return ((self.load(i),) for i in range(len(self)))
        return self._smh.struct.iter_unpack(data)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    # --- pickling ---------------------------------------------------------------

    def get_state(self):
        """What pickling sends: the name and the element type, never the data;
        and, from a worker process that owns the segment, the hand-over of
        its ownership (python/README.md, "Returning a segment from a worker")."""
        state = self._smh
        if state is None or state.handle is None:
            raise ValueError(f'segment "{state.name if state else ""}" is closed: nothing to '
                             "pass on")
        element = state.element
        handle = state.handle
        sent = {"name": state.name, "length": len(self), "capacity": handle.capacity,
                "struct": None if element.raw else element.format,
                "type_name": element.type_name, "atomic": element.atomic,
                "read_only": state.read_only}
        if handle.writable and _hands_over_ownership():
            owner = handle.hand_over()
            if owner is not None:
                sent["owner"] = owner
                _wait_for_receivers_at_exit()
        return sent

    def set_state(self, state):
        """Attaches to the segment `state` names, checking that it holds the
        same type and length. Never raises for a segment that is gone or
        changed (a pool's result thread would stop): the object is then
        closed, and using it raises that error."""
        self._smh_end()
        name = state["name"]
        if state.get("closed"):
            self._smh_broken(name, ValueError(
                f'segment "{name}" was closed in process {state.get("pid")} before it was '
                "pickled: nothing to attach to"))
            return
        fmt = state.get("struct")
        if isinstance(fmt, _struct.Struct):
            fmt = fmt.format
        element = element_type(fmt, atomic=state.get("atomic", False))
        element = element.renamed(state.get("type_name"))
        owner = state.get("owner")
        try:
            self._smh_attach(name, element, None, state.get("read_only", False), False, False,
                             "unpickle")
        except Error as e:
            detail = e.detail
            if e.code is errc.not_found:
                detail += ("; it was removed before this copy was unpickled" +
                           (f": its owner, process {owner[0]}, let go of it first"
                            if owner else ""))
            self._smh_broken(name, Error(e.code, "unpickle", name, detail, e.native_errno))
            return
        # A growable segment may have grown since it was pickled, never shrunk.
        length, capacity = state["length"], state.get("capacity", state["length"])
        if self.capacity != capacity or len(self) < length or (
                capacity == length and len(self) != length):
            def described(n, c):
                return f"{n} elements" + ("" if n == c else f" of a capacity of {c}")
            found = described(len(self), self.capacity)
            self.close()
            self._smh_broken(name, Error(
                errc.not_found, "unpickle", name,
                f"the segment now has {found}, the pickled one had "
                f"{described(length, capacity)}: the name was reused"))
            return
        if owner is not None:
            self._smh.handle.receive(owner[0], owner[1], owner[2], HAND_OVER_PATIENCE)

    def _smh_broken(self, name, error):
        self._smh = _State(None, None, None, False, name)
        self._smh_unbind(error)

    def __getstate__(self):
        state = self.get_state()
        extra = _own_attributes(self)
        if extra:
            state = dict(state, **extra)
        return state

    def __setstate__(self, state):
        self.set_state(state)
        for key, value in state.get("__dict__", {}).items():
            setattr(self, key, value)
        for key, value in state.get("__slots__", {}).items():
            setattr(self, key, value)

    def __reduce_ex__(self, protocol):
        state = self._smh
        if state is not None and state.handle is not None and state.handle.descriptor >= 0:
            raise TypeError(
                "an anonymous segment travels by descriptor: pass it to multiprocessing "
                "(Process, Pool, Queue, ProcessPoolExecutor), or send it with smh.send(socket, "
                "handle); plain pickle would carry a number that means nothing elsewhere")
        if state is None or state.handle is None:
            # A closed object pickles as a closed object: a queue that sends
            # it never stalls, and the receiver's copy says what happened.
            sent = {"name": state.name if state else "", "closed": True, "pid": os.getpid()}
            return (_unpickle, (type(self), dict(sent, **_own_attributes(self))))
        return (_unpickle, (type(self), self.__getstate__()))

    # --- what C++ has too --------------------------------------------------------

    def _smh_reduce_anonymous(self, state, descriptor):
        """multiprocessing's pickling of an anonymous handle: its descriptor,
        duplicated into the receiving process as multiprocessing passes
        descriptors (reduction.DupFd), and the element type."""
        element = state.element
        sent = {"struct": None if element.raw else element.format,
                "type_name": element.type_name, "atomic": element.atomic,
                "read_only": state.read_only}
        return (_rebuild_anonymous,
                (type(self), sent, _reduction.DupFd(descriptor), _own_attributes(self)))

    @property
    def descriptor(self):
        """The descriptor this object keeps of an anonymous segment
        (close-on-exec; valid until close()); -1 for a named one."""
        state = self._smh
        return -1 if state is None or state.handle is None else state.handle.descriptor

    @property
    def name(self):
        """The segment's name: what another process passes to attach()."""
        state = self._smh
        return state.name if state is not None else ""

    @property
    def type_name(self):
        """The element type's portable name, as stored in the segment."""
        state = self._smh
        return state.element.type_name if state is not None and state.element else None

    @property
    def read_only(self):
        state = self._smh
        return bool(state is not None and state.read_only)

    @property
    def closed(self):
        state = self._smh
        return state is None or state.handle is None

    def close(self):
        """Unmaps; the owner, in its own process, also removes the name (the
        C++ destructor: only while the segment still records it as owner and
        the name still names the same file). A wait() in another thread on
        this object ends with ValueError. Never raises for views still in
        use: memoryviews and NumPy arrays obtained from this object keep
        their own mapping, which goes with the last of them. Harmless to call
        twice."""
        state = self._smh
        if state is None or state.handle is None:
            return
        handle, state.handle, state.mapping = state.handle, None, None
        self._smh_unbind()
        handle.close()

    def _smh_handle(self, what=None):
        state = self._smh
        if state is None or state.handle is None:
            self[0]  # the closed object's own error (a failed unpickle's too)
            raise ValueError(f'segment "{self.name}" is closed')
        if what is not None and state.read_only:
            raise TypeError(f'segment "{state.name}" is attached read-only: cannot {what}')
        return state.handle

    def _smh_open_data(self):
        data = self._smh_data
        if data is None:
            self._smh_handle()
        return data

    def is_owner(self):
        """True for the object that created or adopted the segment, in that
        process, while the segment still records it as owner."""
        state = self._smh
        return bool(state is not None and state.handle is not None and state.handle.is_owner())

    def release(self):
        """Gives up ownership: the segment outlives this object and process
        until someone adopts it (or removes it). Returns whether this object
        was the owner."""
        return self._smh_handle("release it").release()

    def adopt(self):
        """Becomes the owner of a segment that has none (released) or whose
        owner process has ended (C++ or Python); from then on close() removes
        the name. False, changing nothing, while a live process owns it."""
        adopted = self._smh_handle("own it").adopt()
        if adopted:
            _owners.add(self)
        return adopted

    def take_ownership(self):
        """Becomes the owner whatever the current owner is doing: its close()
        (or C++ destructor) will no longer remove the name. Raises
        CorruptSegmentError if the owner record keeps changing for 2 s."""
        self._smh_handle("own it").take_ownership()
        _owners.add(self)

    def unlink(self):
        """Removes the name now (whoever owns it): later attach() calls are
        not_found, existing mappings stay valid. Removes nothing if the name
        now belongs to another segment. Returns whether this call removed it."""
        state = self._smh
        if state is None or state.handle is None:
            return False
        return state.handle.unlink()

    def huge_page_bytes(self):
        """Bytes of this object's mapping that this process maps with huge
        pages now (pages not yet touched count as none)."""
        self._smh_handle()
        return self._smh.mapping.huge_page_bytes()

    # --- growing -------------------------------------------------------------------

    @property
    def capacity(self):
        """The most elements the segment may hold (create's `capacity`);
        len(self) for a segment that cannot grow."""
        state = self._smh
        if state is None or state.handle is None:
            return len(self)
        return state.handle.capacity

    def grow(self, length, timeout=30.0):
        """Grows the segment to `length` elements (at most its capacity), the
        new ones zero, in place: every process sees the new length at once
        (len()), and no element moves. A smaller or equal length changes
        nothing (another process may have grown it further). Beyond the
        capacity: InvalidLengthError; memory exhausted (a full /dev/shm):
        NoSpaceError, the length unchanged. TypeError on a read-only handle.
        A NumPy array or memoryview taken before keeps the length it had.
        Growers take turns: grow waits for its turn at most `timeout` seconds
        (None: no limit; Ctrl-C ends the wait), then raises smh.TimedOutError
        (an smh.Error with code os_error, and a TimeoutError), nothing changed
        (a grower that stopped, or a process holding the growers' lock on
        purpose), as C++'s grow() throws os_error (timed_out) after 30 s."""
        handle = self._smh_handle("grow it")
        length = _count("length", length, "grow", self.name)
        seconds = _timeout(timeout, "grow")
        if not handle.grow(length, seconds):
            raise Error(errc.os_error, "grow", self.name,
                        f"another handle held the growers' lock for {max(seconds, 0):g} s "
                        "(a grower that stopped, or a process holding the lock on purpose); "
                        "nothing changed", _errno.ETIMEDOUT)

    def wait_for_size(self, at_least, timeout=None):
        """Blocks until the segment has at least `at_least` elements (another
        process grows it), at most `timeout` seconds (None: no limit); returns
        whether it has. Beyond the capacity: InvalidLengthError, as no growth
        reaches it. Ctrl-C and close() from another thread end it, as wait()."""
        handle = self._smh_handle()
        at_least = _count("size", at_least, "wait_for_size", self.name)
        return handle.wait_for_size(at_least, _timeout(timeout, "wait_for_size"))

    # --- waiting -------------------------------------------------------------------

    def _smh_wait_target(self, index, what, writes):
        handle = self._smh_handle("notify" if writes else None)
        element = self._smh.element
        if not element.atomic:
            raise TypeError(f'{what}: segment "{self.name}" holds {element.type_name}, '
                            "not atomic elements (create or attach with atomic=True)")
        if element.size not in (4, 8):
            raise TypeError(f'{what}: segment "{self.name}" holds {element.size}-byte '
                            "atomics; waiting needs 4 or 8 bytes")
        try:
            position = index.__index__()
        except AttributeError:
            raise TypeError(f"segment indices must be integers, not "
                            f"{type(index).__name__}") from None
        length = len(self)
        if position < 0:
            position += length
        if not 0 <= position < length:
            raise IndexError(f'index {index} is out of range for segment "{self.name}", '
                             f"which has {length} elements")
        return handle, element, position

    def wait(self, index, old, timeout=None):
        """Blocks while atomic element `index` holds `old`, across processes
        (C++ and Python alike), at most `timeout` seconds (None, infinity or
        anything from 31 years up: no limit). Returns whether it saw another
        value. Read-only handles wait too, looking again at least every
        10 ms. Ctrl-C (KeyboardInterrupt) and close() from another thread end
        it. Raises TypeError for elements that are not 4- or 8-byte atomics,
        IndexError past the end."""
        handle, element, position = self._smh_wait_target(index, "wait", False)
        self._smh.struct.pack(old)  # struct's range check and error
        bits = int(old) & ((1 << (8 * element.size)) - 1)
        return handle.wait(position, bits, _timeout(timeout, "wait"))

    def notify_one(self, index):
        """Wakes a process waiting on atomic element `index` (8-byte elements:
        every waiter of the segment). No system call when no writable handle
        waits. Raises TypeError on a read-only handle."""
        handle, _, position = self._smh_wait_target(index, "notify_one", True)
        handle.notify(position, False)

    def notify_all(self, index):
        """Wakes every process waiting on atomic element `index`."""
        handle, _, position = self._smh_wait_target(index, "notify_all", True)
        handle.notify(position, True)

    # --- NumPy ------------------------------------------------------------------------

    def numpy(self, names=None):
        """The elements as a NumPy array sharing the segment's memory (no
        copy): a plain dtype for one field, a structured one (field names
        `names`, default f0, f1, ...) for several. Read-only for a read-only
        attach. The array keeps the memory mapped after close()."""
        import numpy  # optional

        data = self._smh_open_data()
        return numpy.frombuffer(data, dtype=self._smh.element.numpy_dtype(numpy, names))

    def __repr__(self):
        state = self._smh
        if state is None:
            return f"<{type(self).__name__}: not attached>"
        if state.element is None:
            return f'<{type(self).__name__} "{state.name}": could not be unpickled>'
        if state.handle is None:
            how = "closed"
        else:
            how = "owner" if self.is_owner() else "attached"
        if state.read_only:
            how += ", read-only"
        count = f"{len(self)}"
        if state.handle is not None and state.handle.capacity != len(self):
            count += f" (capacity {state.handle.capacity})"
        label = f'"{state.name}"' if state.name else "anonymous"
        return f"<{type(self).__name__} {label}: {count} x {state.element.type_name}, {how}>"


def _count(what, value, op=None, name=""):
    """`value` as an int (anything with __index__); with `op`, a count no
    segment can reach is InvalidLengthError."""
    try:
        value = value.__index__()
    except AttributeError:
        raise TypeError(f"{what} must be an int, not {type(value).__name__}") from None
    if op is not None and (value < 0 or value >= 1 << 64):
        raise Error(errc.invalid_length, op, name,
                    f"{what} {value} is beyond any segment's capacity")
    return value


def _timeout(timeout, what):
    """A wait's timeout in seconds as C++ takes it: None for no limit (None,
    infinity, an int too large for a float)."""
    if timeout is None:
        return None
    try:
        timeout = float(timeout)
    except OverflowError:  # an int beyond a float: no limit
        return None
    if timeout != timeout:
        raise ValueError(f"{what}: timeout is NaN")
    return None if timeout == float("inf") else timeout


def _stored_element(name, type_name, op):
    """The element type the segment `name` records, checked against the
    element size and alignment its header records before anything is built."""
    try:
        info = _core.inspect(name)
    except Error as e:
        raise Error(e.code, op, name, e.detail, e.native_errno) from None
    return _element_from(info, type_name, op, name)


def _element_from(info, type_name, op, name):
    stored = info["type_name"]
    if type_name is not None and type_name != stored:
        raise Error(errc.type_mismatch, op, name,
                    f"segment holds {stored}, attached as {type_name}")
    element = element_type_for_name(stored, info["element_size"], info["element_align"])
    if element is None:
        raise Error(errc.type_mismatch, op, name,
                    f"segment holds {stored} ({info['element_size']} bytes, align "
                    f"{info['element_align']}), a type whose layout its name does not tell: "
                    f"give its struct format, e.g. attach(name, struct=..., "
                    f"type_name={stored!r})")
    return element


def _fileno(fd):
    """A descriptor number from an int or anything with fileno()."""
    if hasattr(fd, "fileno"):
        fd = fd.fileno()
    try:
        return fd.__index__()
    except AttributeError:
        raise TypeError(f"a descriptor is an int or has fileno(), not "
                        f"{type(fd).__name__}") from None


def _rebuild_anonymous(cls, sent, dup, attributes):
    """The receiving side of _smh_reduce_anonymous. Never raises (a pool's
    result thread would stop): a segment that cannot be had is a closed
    object whose use raises why."""
    obj = cls.__new__(cls)
    try:
        fd = dup.detach()
    except Exception as e:  # the sender ended before it handed the descriptor on
        obj._smh_broken("", Error(errc.not_found, "unpickle", "",
                                  f"the anonymous segment's descriptor did not arrive: {e}"))
        return obj
    try:
        obj._smh_attach_descriptor(fd, sent["struct"], sent["type_name"], sent["atomic"],
                                   sent["read_only"], False, False)
    except Error as e:
        obj._smh_broken("", Error(e.code, "unpickle", "", e.detail, e.native_errno))
        return obj
    finally:
        os.close(fd)
    for key, value in attributes.get("__dict__", {}).items():
        setattr(obj, key, value)
    for key, value in attributes.get("__slots__", {}).items():
        setattr(obj, key, value)
    return obj


def _reduce_for_multiprocessing(obj):
    """multiprocessing's pickler (ForkingPickler) asks this: an anonymous
    handle sends its descriptor; any other pickles as plain pickle does."""
    state = obj._smh
    handle = state.handle if state is not None else None  # once: close() may run meanwhile
    descriptor = handle.descriptor if handle is not None else -1
    if descriptor >= 0:
        return obj._smh_reduce_anonymous(state, descriptor)
    return obj.__reduce_ex__(4)


def send(sock, shm):
    """Sends the anonymous segment `shm` over the Unix-domain socket `sock`
    (a socket, or its descriptor), as C++'s smh::send does: its descriptor
    goes, the receiver (smh.receive, or C++'s smh::receive) maps it. A named
    segment is passed by its name: InvalidNameError."""
    fd = shm.descriptor
    if fd < 0:
        raise Error(errc.invalid_name, "send", shm.name,
                    "it has a name: pass the name; smh.send passes anonymous segments")
    _core.send_descriptor(_fileno(sock), fd)


def receive(sock, struct=None, **options):
    """Receives a segment that smh.send (or C++'s smh::send) sent on `sock`
    and maps it as SharedMemoryHandlee.attach_descriptor does, with the same
    options; blocks as the socket does. A message with no descriptor,
    several, or not an smh segment is CorruptSegmentError (every descriptor
    it carried is closed); a closed peer, NotFoundError."""
    fd = _core.receive_descriptor(_fileno(sock))
    try:
        return SharedMemoryHandlee.attach_descriptor(fd, struct, **options)
    finally:
        os.close(fd)


def _in_a_multiprocessing_child():
    multiprocessing = sys.modules.get("multiprocessing")
    return multiprocessing is not None and multiprocessing.parent_process() is not None


def _hands_over_ownership():
    """Whether a pickle made now hands an owning handle's ownership to the
    process that unpickles it: in a process multiprocessing started (a
    worker returning it, a Queue, a Pipe), not while starting a child."""
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is None or multiprocessing.parent_process() is None:
        return False
    from multiprocessing import context

    return context.get_spawning_popen() is None


_waiting_at_exit = set()  # the pids that wait for receivers as they end


def _wait_for_receivers_at_exit():
    """A process multiprocessing started ends with os._exit() after its own
    exit functions (the queues' feeder threads send what is left first):
    there, before the segments it sent and still owns are removed (by the
    watcher, or `smh gc`), it gives their receivers SENDER_PATIENCE seconds
    to take them over."""
    pid = os.getpid()
    if pid in _waiting_at_exit:
        return
    _waiting_at_exit.add(pid)
    from multiprocessing import util

    util.Finalize(None, _core.wait_for_receivers, args=(SENDER_PATIENCE,), exitpriority=-10)


def _own_attributes(obj):
    """A subclass's own attributes: its __dict__ and its __slots__."""
    extra = {}
    values = getattr(obj, "__dict__", None)
    if values:
        extra["__dict__"] = dict(values)
    slots = {}
    for cls in type(obj).__mro__:
        if cls is SharedMemoryHandlee or cls is _core.Elements or cls is object:
            continue
        names = cls.__dict__.get("__slots__", ())
        for slot in (names,) if isinstance(names, str) else names:
            if slot in ("__dict__", "__weakref__") or slot in slots:
                continue
            try:
                slots[slot] = getattr(obj, slot)
            except AttributeError:
                pass
    if slots:
        extra["__slots__"] = slots
    return extra


def _unpickle(cls, state):
    obj = cls.__new__(cls)
    obj.__setstate__(state)
    return obj


def _at_exit():
    """Normal interpreter exit: the owners let go (their names are removed,
    as by C++ destructors at the end of main; what was sent to another
    process is parked, and parked segments are ended too); the data stays
    mapped for whatever runs later."""
    for obj in list(_owners):
        state = obj._smh
        if state is not None and state.handle is not None:
            handle, state.handle = state.handle, None
            try:
                handle.close()
            except Exception:  # noqa: BLE001 - exit goes on for the others
                pass
    _core.end_parked()


atexit.register(_at_exit)


_reduction.ForkingPickler.register(SharedMemoryHandlee, _reduce_for_multiprocessing)
