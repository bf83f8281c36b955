"""The old module's API, kept, and the C++ library's safety: names, errors,
modes, read-only attach."""
import copy
import errno
import os
import pickle
import stat
import struct

import pytest

import smh
from smh import Error, SharedMemoryHandlee, errc

SHM = "/dev/shm"


class MySharedMemory(SharedMemoryHandlee):
    def __init__(self, length):
        super().__init__(length, struct="i")


def test_subclassing_tuples_get_at_set_at_len_iteration(names):
    shm = MySharedMemory(10)
    try:
        assert isinstance(shm, SharedMemoryHandlee) and len(shm) == 10
        for i in range(10):
            shm[i] = (i,)
        assert [shm[i] for i in range(10)] == [(i,) for i in range(10)]
        shm.set_at(3, (33,))
        assert shm.get_at(3) == (33,) and shm[3] == (33,)
        assert list(shm) == [(i if i != 3 else 33,) for i in range(10)]
        assert shm.size == 40 and shm.struct.size == 4 and shm.struct.format == "@i"
        assert shm.name.startswith("smh-") and len(shm.name) == 20
    finally:
        shm.close()


def test_negative_indices_count_from_the_end_and_bounds_are_checked(names):
    for fmt, value in (("i", (5,)), ("iif", (1, 2, 3.5)), ("e", (1.5,)), ("8s", (b"abc",))):
        with SharedMemoryHandlee(4, fmt, name=names()) as shm:
            shm[-1] = value
            assert shm[3] == shm[-1] == shm.get_at(-1)
            assert shm[3][0] == value[0] or shm[3][0].rstrip(b"\0") == value[0]
            shm[-4] = value
            assert shm[0] == shm[3]
            for bad in (4, -5, 100, -100):
                with pytest.raises(IndexError, match="out of range"):
                    shm[bad]
                with pytest.raises(IndexError, match="out of range"):
                    shm[bad] = value
            with pytest.raises(TypeError):
                shm["1"]
            with pytest.raises(TypeError):
                shm[1.0]


def test_struct_semantics_in_and_out(names):
    with SharedMemoryHandlee(3, "i?cd", name=names()) as shm:
        shm[0] = (-7, 1, b"x", 2)  # struct converts 1 to True, 2 to 2.0
        assert shm[0] == (-7, True, b"x", 2.0)
        with pytest.raises(struct.error):
            shm[1] = (1, True, b"x")  # too few values
        with pytest.raises(struct.error):
            shm[1] = (2**40, True, b"x", 1.0)  # out of range for "i"
    with SharedMemoryHandlee(3, "d", name=names()) as shm:
        shm[0] = (1,)  # an int into a double, as struct.pack("d", 1)
        assert shm[0] == (1.0,) and isinstance(shm[0][0], float)
        with pytest.raises(struct.error):
            shm[1] = ("a",)
        with pytest.raises(TypeError):
            shm[1] = 5  # not a tuple
    with SharedMemoryHandlee(3, "f", name=names()) as shm:
        for value in (1e300, 0.1, -0.0, 2**24 + 1):
            shm[0] = (value,)  # stored as struct.pack("f", value) stores it
            assert shm[0] == struct.unpack("f", struct.pack("f", value))


def test_slices(names):
    with SharedMemoryHandlee(5, "i", name=names()) as shm:
        shm[1:4] = [(1,), (2,), (3,)]
        assert shm[:] == [(0,), (1,), (2,), (3,), (0,)]
        assert shm[::-2] == [(0,), (2,), (0,)]


def test_raw_bytes_behave_like_a_memoryview(names):
    with SharedMemoryHandlee(8, name=names()) as shm:  # struct=None, as in the old module
        assert shm.struct is None and shm.type_name == "uint8"
        shm[0] = 255
        shm[-1] = 7
        assert shm[0] == 255 and shm[7] == 7 and list(shm)[-1] == 7
        with pytest.raises(ValueError):
            shm[1] = 256
        assert pickle.loads(pickle.dumps(shm))[0] == 255


def test_data_and_struct_are_the_fast_path(names):
    with SharedMemoryHandlee(4, "ddi", name=names()) as shm:
        assert shm.struct.size == 24  # padded as a C array element: 8 + 8 + 4 + 4
        shm.struct.pack_into(shm.data, 2 * shm.struct.size, 1.5, 2.5, 3)
        assert shm[2] == (1.5, 2.5, 3)
        assert len(shm.data) == 4 * 24 and shm.data.nbytes == shm.size


def test_with_closes_and_the_owner_removes_the_name(names):
    with SharedMemoryHandlee(4, "i", name=names()) as shm:
        assert os.path.exists(f"{SHM}/{shm.name}")
    assert shm.closed and not os.path.exists(f"{SHM}/{shm.name}")
    with pytest.raises(ValueError, match="closed"):
        shm[0]
    with pytest.raises(ValueError, match="closed"):
        shm[0] = (1,)
    shm.close()  # twice: harmless


def test_del_removes_the_name(names):
    shm = SharedMemoryHandlee(4, "i", name=names())
    path = f"{SHM}/{shm.name}"
    del shm
    assert not os.path.exists(path)


def test_get_state_set_state_and_pickling_attach_by_name(names):
    shm = SharedMemoryHandlee(4, "iif", name=names())
    try:
        state = shm.get_state()
        assert state["name"] == shm.name and state["length"] == 4
        twin = pickle.loads(pickle.dumps(shm))
        assert type(twin) is SharedMemoryHandlee and twin.name == shm.name
        assert not twin.is_owner() and shm.is_owner()
        twin[1] = (1, 2, 3.0)
        assert shm[1] == (1, 2, 3.0)  # the same memory
        other = copy.copy(shm)
        del twin, other  # copies only unmap
        assert os.path.exists(f"{SHM}/{shm.name}")
        fresh = SharedMemoryHandlee.__new__(SharedMemoryHandlee)
        fresh.set_state(state)
        assert fresh[1] == (1, 2, 3.0)
        fresh.close()
    finally:
        shm.close()
    gone = SharedMemoryHandlee.__new__(SharedMemoryHandlee)  # the owner removed the name
    gone.set_state(state)  # never raises: a pool's result thread would stop (a hang)
    assert gone.closed
    with pytest.raises(Error) as caught:
        gone[0]  # the error comes where the object is used
    assert caught.value.code is errc.not_found and "unpickle" in str(caught.value)
    with pytest.raises(ValueError, match="closed"):
        shm.get_state()
    closed_copy = pickle.loads(pickle.dumps(shm))  # a closed object travels as one
    with pytest.raises(ValueError, match="closed"):
        closed_copy[0]


def test_errors_are_one_type_with_the_cpp_names_and_pickle(names):
    with pytest.raises(Error) as caught:
        SharedMemoryHandlee.attach(names())
    e = caught.value
    assert e.code is errc.not_found and e.code == "not_found" and e.errno == errno.ENOENT
    assert str(e).startswith(f'attach "{e.name}": not_found')
    assert isinstance(e, FileNotFoundError) and isinstance(e, smh.NotFoundError)
    again = pickle.loads(pickle.dumps(e))
    assert (again.code, str(again)) == (e.code, str(e))
    with SharedMemoryHandlee(2, "i", name=names()) as shm:
        with pytest.raises(Error) as caught:
            SharedMemoryHandlee(2, "i", name=shm.name)
        assert caught.value.code is errc.already_exists
    for length in (0, -1):
        with pytest.raises(Error) as caught:
            SharedMemoryHandlee(length, "i", name=names())
        assert caught.value.code is errc.invalid_length
    with pytest.raises(Error) as caught:
        SharedMemoryHandlee(2**62, "d", name=names())
    assert caught.value.code is errc.invalid_length


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "/lead", "has space", "tab\t", "nl\n",
                                 "nul\0", "é", "a:b", "x" * 256, ".smh-creating-0123456789abcdef",
                                 None, b"bytes"])
def test_names_cpp_rejects_are_invalid_name(bad, names):
    operations = [lambda: SharedMemoryHandlee.attach(bad)]
    if bad is not None:  # name=None: a generated name
        operations.append(lambda: SharedMemoryHandlee(4, "i", name=bad))
    for operation in operations:
        with pytest.raises(Error) as caught:
            operation()
        assert caught.value.code is errc.invalid_name
    assert smh.name_problem(bad) is not None


def test_names_are_respected(names):
    longest = names("-") + "n" * (255 - len(names("-")))
    for name in (names("-A-z_0.9"), longest):
        with SharedMemoryHandlee(2, "i", name=name) as shm:
            assert shm.name == name and os.path.exists(f"{SHM}/{name}")


@pytest.mark.parametrize("umask", [0o000, 0o077, 0o022])
def test_mode_is_0600_exactly_whatever_the_umask(umask, names):
    old = os.umask(umask)
    try:
        with SharedMemoryHandlee(2, "i", name=names()) as shm:
            assert stat.S_IMODE(os.stat(f"{SHM}/{shm.name}").st_mode) == 0o600
        with SharedMemoryHandlee(2, "i", name=names(), mode=0o640) as shm:
            assert stat.S_IMODE(os.stat(f"{SHM}/{shm.name}").st_mode) == 0o640
    finally:
        os.umask(old)


def test_read_only_attach(names):
    with SharedMemoryHandlee(3, "iif", name=names()) as shm:
        shm[0] = (1, 2, 3.0)
        os.chmod(f"{SHM}/{shm.name}", 0o400)  # read permission is enough
        ro = SharedMemoryHandlee.attach(shm.name, read_only=True)
        assert ro.read_only and ro[0] == (1, 2, 3.0) and ro.data.readonly
        with pytest.raises(TypeError, match="read-only"):
            ro[0] = (4, 5, 6.0)
        for method in (ro.adopt, ro.release, ro.take_ownership):
            with pytest.raises(TypeError, match="read-only"):
                method()
        assert pickle.loads(pickle.dumps(ro)).read_only
        shm[1] = (7, 8, 9.0)
        assert ro[1] == (7, 8, 9.0)
        ro.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a child as another user")
def test_other_users_stay_out(names):
    import subprocess
    import sys
    with SharedMemoryHandlee(2, "i", name=names()) as shm:
        code = ("import os, smh\nos.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
                "try:\n    smh.SharedMemoryHandlee.attach(%r)\nexcept smh.Error as e:\n"
                "    print(e.code.value)\n" % shm.name)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=30)
        assert done.stdout.strip() == "permission_denied", done.stderr


def test_a_fifo_or_a_link_under_the_name_is_corrupt_at_once(names):
    fifo, link = names(), names()
    os.mkfifo(f"{SHM}/{fifo}", 0o600)
    os.symlink(f"{SHM}/{fifo}", f"{SHM}/{link}")
    try:
        for name in (fifo, link):
            with pytest.raises(Error) as caught:
                SharedMemoryHandlee.attach(name)  # would block for ever on a FIFO
            assert caught.value.code is errc.corrupt_segment
    finally:
        os.unlink(f"{SHM}/{link}")
        os.unlink(f"{SHM}/{fifo}")


def test_attach_checks_the_header(names):
    name = names()
    with open(f"{SHM}/{name}", "wb") as f:
        f.write(b"not a segment".ljust(4096, b"\0"))
    try:
        with pytest.raises(Error) as caught:
            SharedMemoryHandlee.attach(name, "i")
        assert caught.value.code is errc.corrupt_segment
    finally:
        os.unlink(f"{SHM}/{name}")


def test_arrays_and_views_alive_at_close_are_no_error(names):
    shm = SharedMemoryHandlee(4, "i", name=names())
    view = shm.data[4:8]
    it = iter(shm)
    shm[1] = (5,)
    path = f"{SHM}/{shm.name}"
    shm.close()  # no BufferError: the name goes, the mapping stays for `view`
    assert not os.path.exists(path)
    assert bytes(view) == struct.pack("i", 5)
    assert next(it) == (0,)
    del view, it


class Image(SharedMemoryHandlee):
    """The old module's users' pattern: slots of their own next to the base's."""

    __slots__ = ("width", "height") + SharedMemoryHandlee.__slots__

    def __init__(self, width, height, **options):
        super().__init__(width * height, "B", **options)
        self.width, self.height = width, height


def test_a_subclass_can_add_its_own_slots_to_the_bases(names):
    image = Image(4, 3, name=names())
    try:
        assert (image.width, image.height, len(image)) == (4, 3, 12)
        assert not hasattr(image, "__dict__")
        import weakref
        assert weakref.ref(image)() is image
        image[11] = (9,)
        copy = pickle.loads(pickle.dumps(image))  # the slots travel too
        assert type(copy) is Image and (copy.width, copy.height) == (4, 3) and copy[11] == (9,)
        copy.close()
    finally:
        image.close()


@pytest.mark.parametrize("fmt,field", [("8s", 0), ("i8sd", 1), ("2s2s", 1)])
def test_a_value_too_long_for_its_field_is_a_value_error_and_writes_nothing(fmt, field, names):
    with SharedMemoryHandlee(2, fmt, name=names()) as shm:
        fitting = tuple(b"ab" if isinstance(v, bytes) else 7 for v in shm[0])
        shm[1] = fitting
        before = bytes(shm.data)
        too_long = list(fitting)
        too_long[field] = b"x" * (shm.struct.unpack_from(shm.data)[field].__len__() + 1)
        for value in (tuple(too_long), list(too_long)):  # the fast path and struct's
            with pytest.raises(ValueError, match="do not fit"):
                shm[1] = value
        with pytest.raises(ValueError, match="do not fit"):
            shm[0:2] = [fitting, tuple(too_long)]
        assert bytes(shm.data)[shm.struct.size:] == before[shm.struct.size:]
        assert shm[1] == shm.struct.unpack(shm.struct.pack(*fitting))
        exact = list(fitting)
        exact[field] = b"y" * len(shm[0][field])
        shm[1] = tuple(exact)  # a value that fits exactly is fine
        assert shm[1][field] == exact[field]


def test_a_variable_holding_data_stays_valid_after_close(names):
    shm = SharedMemoryHandlee(4, "i", name=names())
    data = shm.data
    shm[2] = (5,)
    shm.close()
    assert data.tolist()[8:12] == list(struct.pack("i", 5))  # not released by close()
    data[0] = 1
    with pytest.raises(ValueError):
        len(shm.data)  # asked for after close(): a released memoryview
    del data
