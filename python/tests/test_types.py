"""Types that match C++: native sizes, alignment and padding; the stored type
name makes a mismatched attach type_mismatch; NumPy views of every format."""
import ctypes
import os
import struct

import pytest

from smh import Error, SharedMemoryHandlee, errc, type_name_of

SHM = "/dev/shm"


class Triple(ctypes.Structure):  # struct { int32_t a, b; float c; }
    _fields_ = [("a", ctypes.c_int32), ("b", ctypes.c_int32), ("c", ctypes.c_float)]


class Point(ctypes.Structure):  # geo::Point { double x, y; int32_t id; }
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double), ("id", ctypes.c_int32)]


class Mixed(ctypes.Structure):  # struct { char c; int64_t q; int16_t h; }
    _fields_ = [("c", ctypes.c_char), ("q", ctypes.c_int64), ("h", ctypes.c_int16)]


def stored(name):
    with open(f"{SHM}/{name}", "rb") as f:
        raw = f.read(256)
    size, align = struct.unpack_from("=QQ", raw, 32)
    return size, align, raw[128:].split(b"\0")[0].decode()


@pytest.mark.parametrize("fmt,ctype", [("iif", Triple), ("ddi", Point), ("cqh", Mixed),
                                       ("i", ctypes.c_int32), ("d", ctypes.c_double),
                                       ("l", ctypes.c_long), ("?", ctypes.c_bool)])
def test_elements_are_laid_out_as_the_c_struct(fmt, ctype, names):
    with SharedMemoryHandlee(3, fmt, name=names()) as shm:
        size, align, _ = stored(shm.name)
        assert (shm.struct.size, size, align) == (ctypes.sizeof(ctype), ctypes.sizeof(ctype),
                                                  ctypes.alignment(ctype))
        array = (ctype * 3).from_buffer(shm.data)  # the C view of the same bytes
        if issubclass(ctype, ctypes.Structure):
            values = tuple(getattr(array[2], f) for f, _ in ctype._fields_)
            shm[2] = values
            assert shm[2] == tuple(getattr(array[2], f) for f, _ in ctype._fields_)
            setattr(array[1], ctype._fields_[0][0], ctype._fields_[0][1](b"z" if fmt == "cqh"
                                                                          else 9).value)
            assert shm[1][0] == (b"z" if fmt == "cqh" else 9)
        else:
            array[2] = 1
            assert shm[2] == (struct.unpack(fmt, struct.pack(fmt, 1))[0],)
        del array


def test_type_names_are_the_cpp_ones():
    assert [type_name_of(f) for f in ("b", "B", "h", "H", "i", "I", "q", "Q", "f", "d", "?",
                                      "c")] == \
        ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32",
         "float64", "bool", "char"]
    assert type_name_of("l") == "int64" and type_name_of("=l") == "int32"
    assert type_name_of("4i") == type_name_of("iiii") == "std::array<int32, 4>"
    assert type_name_of("Q", atomic=True) == "std::atomic<uint64>"
    assert type_name_of("16s") == "char[16]"
    assert type_name_of("ddi") == type_name_of("ddi4x") == "struct{float64, float64, int32}"
    assert type_name_of("=id") == "struct{int32 @0, float64 @4} (12 bytes, align 1)"
    for bad in ("P", "p", ">i" if struct.pack("=i", 1)[0] == 1 else "<i", "x", "0s"):
        with pytest.raises(ValueError):
            type_name_of(bad)


def test_the_seeds_id_keeps_its_native_size(names):
    with SharedMemoryHandlee(2, "id", name=names()) as shm:  # the old module forced 12
        assert shm.struct.size == 16 and stored(shm.name)[:2] == (16, 8)
    with SharedMemoryHandlee(2, "<i", name=names()) as shm:  # accepted: this byte order
        assert shm.type_name == "int32"


@pytest.mark.parametrize("created,attached", [
    (dict(struct="iif"), dict(struct="iii")),  # same size, other type: not garbage
    (dict(struct="i"), dict(struct="l")),      # int32 read as 8-byte long
    (dict(struct="i"), dict(struct="f")),
    (dict(struct="ddi", type_name="geo::Point"), dict(struct="ddi")),
    (dict(struct="ddi", type_name="geo::Point"), dict(struct="ddi", type_name="geo::Vector")),
    (dict(struct="Q", atomic=True), dict(struct="Q")),
    (dict(struct="Q"), dict(struct="Q", atomic=True)),
])
def test_a_mismatched_attach_is_type_mismatch(created, attached, names):
    with SharedMemoryHandlee(4, name=names(), **created) as shm:
        with pytest.raises(Error) as caught:
            SharedMemoryHandlee.attach(shm.name, **attached)
        assert caught.value.code is errc.type_mismatch
        assert "segment holds" in str(caught.value)


def test_attach_without_a_format_reads_the_stored_type(names):
    for fmt, value in (("i", (5,)), ("iif", (1, 2, 3.5)), ("4h", (1, 2, 3, 4)),
                       ("8s", (b"abcdefgh",)), ("d", (2.5,))):
        with SharedMemoryHandlee(2, fmt, name=names()) as shm:
            shm[1] = value
            with SharedMemoryHandlee.attach(shm.name) as other:
                assert other[1] == value and other.struct.format == shm.struct.format
    with SharedMemoryHandlee(2, "ddi", type_name="geo::Point", name=names()) as shm:
        with pytest.raises(Error, match="give its struct format") as caught:
            SharedMemoryHandlee.attach(shm.name)
        assert caught.value.code is errc.type_mismatch
        with SharedMemoryHandlee.attach(shm.name, "ddi", type_name="geo::Point") as other:
            assert other.type_name == "geo::Point"


def test_atomic_elements(names):
    with SharedMemoryHandlee(2, "q", atomic=True, name=names()) as shm:
        assert shm.fetch_add(0, 5) == 0 and shm.fetch_add(0, -7) == 5
        assert shm.load(0) == -2 and shm[0] == (-2,)
        assert shm.compare_exchange(1, 0, 9) == (True, 0)
        assert shm.compare_exchange(1, 0, 3) == (False, 9)
        shm[1] = (4,)
        shm.store(-1, 6)
        assert list(shm) == [(-2,), (6,)]
        with pytest.raises(struct.error):
            shm.store(0, 2**63)
        with SharedMemoryHandlee(2, "i", name=names()) as plain:
            with pytest.raises(TypeError, match="atomic"):
                plain.fetch_add(0, 1)


@pytest.mark.parametrize("fmt", ["i", "d", "?", "c", "e", "q", "8s", "iif", "ddi", "cqh", "4i",
                                 "=id"])
def test_numpy_is_a_zero_copy_view_for_every_format(fmt, names, numpy):
    with SharedMemoryHandlee(5, fmt, name=names()) as shm:
        array = shm.numpy()
        assert array.shape == (5,) and array.dtype.itemsize == shm.struct.size
        assert not array.flags.owndata and array.flags.writeable
        raw = numpy.frombuffer(shm.data, dtype=numpy.uint8)
        raw[shm.struct.size * 3:shm.struct.size * 4] = 1  # bytes through another view
        expected = shm.struct.unpack_from(shm.data, shm.struct.size * 3)
        got = array[3].item() if array.dtype.names else (array[3].item(),)
        assert tuple(got) == expected
        del array, raw


def test_numpy_structured_dtype_with_names(names, numpy):
    with SharedMemoryHandlee(4, "ddi", type_name="geo::Point", name=names()) as shm:
        points = shm.numpy(names=("x", "y", "id"))
        assert points.dtype.names == ("x", "y", "id") and points.dtype.fields["id"][1] == 16
        points["id"] = numpy.arange(4)
        points["x"] = 0.5
        assert shm[3] == (0.5, 0.0, 3)
        del points


def test_numpy_arrays_alive_at_close_keep_the_mapping(names, numpy):
    with SharedMemoryHandlee(4, "i", name=names()) as shm:
        array = shm.numpy()
        array[:] = [1, 2, 3, 4]
        name = shm.name
    # No BufferError at the end of `with`: the name is gone, the array works.
    assert not os.path.exists(f"{SHM}/{name}")
    assert array.tolist() == [1, 2, 3, 4]
    array[0] = 10
    assert array.sum() == 19
    del array  # the mapping goes with the last array


def test_numpy_of_a_read_only_attach_is_read_only(names, numpy):
    with SharedMemoryHandlee(4, "i", name=names()) as shm:
        with SharedMemoryHandlee.attach(shm.name, read_only=True) as ro:
            array = ro.numpy()
            assert not array.flags.writeable
            with pytest.raises(ValueError):
                array[0] = 1
            del array
