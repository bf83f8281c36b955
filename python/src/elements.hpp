// smh._core.Elements: the base class of smh.SharedMemoryHandlee, on
// CPython's C API. pybind11 gives a class methods, not C-level slots; a
// Python subclass's shm[i] then goes through a Python-level __getitem__
// (a frame) or pybind11's dispatcher (argument casting), each costing more
// than the struct call it wraps. Here shm[i] and shm[i] = values are the
// type's own mapping slots: an index check and the element's fields
// converted in C, as struct does (bench/python_package.py measures both).
//
// What it holds: where element 0 is (in the second mapping, which the
// handle's memoryviews keep; handle.hpp), how to convert one element, and
// the Python layer's state (`_smh`), which this type never reads. Whatever
// the fast conversion cannot do exactly as struct would (a value of another
// type, one out of range, a half float) goes to the element's struct.Struct,
// whose error is raised; nothing is written unless the whole element packs.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h> // PyMemberDef

#include <atomic>  // atomic elements
#include <cfloat>  // FLT_MAX: struct's range for '=f'
#include <cmath>   // std::isfinite
#include <cstddef> // std::byte, offsetof
#include <cstdint> // fixed-width values
#include <cstring> // std::memcpy
#include <memory>  // fields, while binding
#include <string>  // messages
#include <vector>  // the fields of an element

namespace smh_python::elements {

enum class mode : int {
    codec = 0,      // fields converted here (struct for what this cannot do)
    via_struct = 1, // every element through struct.Struct (half floats)
    raw = 2,        // bytes: [] gives and takes ints, as a memoryview does
    atomic = 3,     // one integer field, loaded and stored atomically
};

// A run of `count` values of one kind from `offset`; for 's', one value of
// `size` bytes.
struct field {
    char kind = 'i'; // 'i' signed, 'u' unsigned, 'f' float32, 'd' float64, '?', 'c', 's'
    std::size_t size = 0;
    std::size_t offset = 0;
    std::size_t count = 1;
};

struct object {
    PyObject ob_base;
    std::byte* base;                  // element 0; null while closed or not bound
    Py_ssize_t length;                // a fixed segment's, or a growable one's when unbound
    const std::uint64_t* live_length; // a growable segment's length word, while bound
    Py_ssize_t capacity;              // with live_length: what the mapping covers
    Py_ssize_t itemsize;
    Py_ssize_t arity; // values in one element
    int mode;
    int read_only;
    std::vector<field>* fields;
    PyObject* buffer;       // memoryview of the elements (the handle's `data`)
    PyObject* st;           // the element's struct.Struct, or null for raw bytes
    PyObject* name;         // str, for messages
    PyObject* closed_error; // raised instead of "closed" (a handle that could not be unpickled)
    PyObject* state;        // the Python layer's own state: _smh
    PyObject* weakrefs;
};

// struct.error, Struct.unpack_from and Struct.pack, found once.
struct struct_module {
    PyObject* error = nullptr;
    PyObject* unpack_from = nullptr;
    PyObject* pack = nullptr;
};
inline struct_module structs;

inline object* as_elements(PyObject* o) noexcept { return reinterpret_cast<object*>(o); }

// The name of the capsule that carries a growable segment's length word
// (module.cpp's Mapping.length_word()).
inline constexpr const char* length_word_capsule = "smh._core.length_word";

// How many elements there are now: a growable segment's length is read from
// its header each time, so growth in any process is seen with no call (the
// acquire pairs with the grower's release: grown elements are seen whole).
inline Py_ssize_t current_length(const object* self) noexcept {
    if (self->live_length == nullptr) [[likely]]
        return self->length;
    const auto length =
        std::atomic_ref<const std::uint64_t>(*self->live_length).load(std::memory_order_acquire);
    // Never past the mapping, whatever a hostile writer stores there.
    return length < static_cast<std::uint64_t>(self->capacity) ? static_cast<Py_ssize_t>(length)
                                                               : self->capacity;
}

// ---------------------------------------------------------------------------
// Errors.

inline PyObject* raise_closed(object* self) {
    if (self->closed_error != nullptr) {
        PyException_SetTraceback(self->closed_error, Py_None);
        PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(self->closed_error)),
                        self->closed_error);
    } else {
        PyErr_Format(PyExc_ValueError, "segment \"%U\" is closed",
                     self->name ? self->name : Py_None);
    }
    return nullptr;
}

inline PyObject* raise_out_of_range(object* self, PyObject* index) {
    PyErr_Format(PyExc_IndexError,
                 "index %S is out of range for segment \"%U\", which has %zd elements", index,
                 self->name ? self->name : Py_None, current_length(self));
    return nullptr;
}

inline int raise_read_only(object* self, const char* what) {
    PyErr_Format(PyExc_TypeError, "segment \"%U\" is attached read-only: cannot %s",
                 self->name ? self->name : Py_None, what);
    return -1;
}

// The position `key` names, from the end for a negative one; -1 with an
// error set if it names none.
inline Py_ssize_t position(object* self, PyObject* key) {
    Py_ssize_t i;
    if (PyLong_CheckExact(key)) {
        i = PyLong_AsSsize_t(key);
        if (i == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            raise_out_of_range(self, key);
            return -1;
        }
    } else {
        PyObject* index = PyNumber_Index(key);
        if (index == nullptr) {
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError,
                             "segment indices must be integers or slices, not %.200s",
                             Py_TYPE(key)->tp_name);
            }
            return -1;
        }
        i = PyLong_AsSsize_t(index);
        Py_DECREF(index);
        if (i == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            raise_out_of_range(self, key);
            return -1;
        }
    }
    const Py_ssize_t length = current_length(self);
    if (i < 0) i += length;
    if (i < 0 || i >= length) {
        raise_out_of_range(self, key);
        return -1;
    }
    return i;
}

// ---------------------------------------------------------------------------
// One value.

template <class T>
T load_raw(const std::byte* at) noexcept {
    T value;
    std::memcpy(&value, at, sizeof value);
    return value;
}

inline PyObject* integer_at(const std::byte* at, std::size_t size, bool is_signed) {
    switch (size) {
    case 1:
        return is_signed ? PyLong_FromLong(load_raw<std::int8_t>(at))
                         : PyLong_FromLong(load_raw<std::uint8_t>(at));
    case 2:
        return is_signed ? PyLong_FromLong(load_raw<std::int16_t>(at))
                         : PyLong_FromLong(load_raw<std::uint16_t>(at));
    case 4:
        return is_signed ? PyLong_FromLong(load_raw<std::int32_t>(at))
                         : PyLong_FromUnsignedLong(load_raw<std::uint32_t>(at));
    default:
        return is_signed ? PyLong_FromLongLong(load_raw<std::int64_t>(at))
                         : PyLong_FromUnsignedLongLong(load_raw<std::uint64_t>(at));
    }
}

inline PyObject* value_at(const field& f, const std::byte* at) {
    switch (f.kind) {
    case 'i': return integer_at(at, f.size, true);
    case 'u': return integer_at(at, f.size, false);
    case 'f': return PyFloat_FromDouble(static_cast<double>(load_raw<float>(at)));
    case 'd': return PyFloat_FromDouble(load_raw<double>(at));
    case '?': return PyBool_FromLong(load_raw<std::uint8_t>(at) != 0);
    default: // 'c', 's'
        return PyBytes_FromStringAndSize(reinterpret_cast<const char*>(at),
                                         static_cast<Py_ssize_t>(f.size));
    }
}

// Converts `value` for field `f` into `at`, exactly as struct would, or
// returns 1 where only struct can tell (another type, out of range), or -1
// with an error set (a bytes value too long for its field, or an error of
// bool(value), which struct would raise too).
inline int put_value(object* self, const field& f, PyObject* value, std::byte* at,
                     Py_ssize_t index) {
    switch (f.kind) {
    case 'i':
    case 'u': {
        if (!PyLong_CheckExact(value)) return 1;
        if (f.kind == 'u' && f.size == 8) {
            const unsigned long long v = PyLong_AsUnsignedLongLong(value);
            if (v == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
                PyErr_Clear();
                return 1;
            }
            std::memcpy(at, &v, 8);
            return 0;
        }
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow != 0 || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 1;
        }
        const int bits = static_cast<int>(f.size * 8);
        if (f.kind == 'i') {
            if (bits < 64 && (v < -(1LL << (bits - 1)) || v >= (1LL << (bits - 1)))) return 1;
        } else if (v < 0 || (bits < 64 && v >= (1LL << bits))) {
            return 1;
        }
        switch (f.size) { // little or big endian alike: the low bytes of v
        case 1: {
            const auto n = static_cast<std::uint8_t>(v);
            std::memcpy(at, &n, 1);
            break;
        }
        case 2: {
            const auto n = static_cast<std::uint16_t>(v);
            std::memcpy(at, &n, 2);
            break;
        }
        case 4: {
            const auto n = static_cast<std::uint32_t>(v);
            std::memcpy(at, &n, 4);
            break;
        }
        default: std::memcpy(at, &v, 8);
        }
        return 0;
    }
    case 'f':
    case 'd': {
        double v;
        if (PyFloat_CheckExact(value)) {
            v = PyFloat_AS_DOUBLE(value);
        } else if (PyLong_CheckExact(value)) {
            v = PyLong_AsDouble(value);
            if (v == -1.0 && PyErr_Occurred()) {
                PyErr_Clear();
                return 1;
            }
        } else {
            return 1;
        }
        if (f.kind == 'd') {
            std::memcpy(at, &v, 8);
            return 0;
        }
        // A finite value beyond float's range: struct casts it ('@') or
        // refuses it ('='); it decides.
        if (std::isfinite(v) && (v > FLT_MAX || v < -FLT_MAX)) return 1;
        const auto narrow = static_cast<float>(v);
        std::memcpy(at, &narrow, 4);
        return 0;
    }
    case '?': {
        const int truth = PyObject_IsTrue(value);
        if (truth < 0) return -1;
        const auto byte = static_cast<std::uint8_t>(truth);
        std::memcpy(at, &byte, 1);
        return 0;
    }
    case 'c':
        if (!PyBytes_CheckExact(value) || PyBytes_GET_SIZE(value) != 1) return 1;
        std::memcpy(at, PyBytes_AS_STRING(value), 1);
        return 0;
    default: { // 's'
        if (!PyBytes_CheckExact(value)) return 1;
        const auto n = static_cast<std::size_t>(PyBytes_GET_SIZE(value));
        if (n > f.size) {
            PyErr_Format(PyExc_ValueError,
                         "%zd bytes do not fit a %zds field of segment \"%U\" (element %zd): "
                         "nothing was written",
                         static_cast<Py_ssize_t>(n), static_cast<Py_ssize_t>(f.size),
                         self->name ? self->name : Py_None, index);
            return -1;
        }
        std::memcpy(at, PyBytes_AS_STRING(value), n);
        return 0; // the rest was zeroed
    }
    }
}

// ---------------------------------------------------------------------------
// Atomic elements: one integer (or bool) field of 1, 2, 4 or 8 bytes.

inline std::uint64_t atomic_load(const std::byte* at, std::size_t size) noexcept {
    auto* p = const_cast<std::byte*>(at);
    switch (size) {
    case 1: return std::atomic_ref(*reinterpret_cast<std::uint8_t*>(p)).load();
    case 2: return std::atomic_ref(*reinterpret_cast<std::uint16_t*>(p)).load();
    case 4: return std::atomic_ref(*reinterpret_cast<std::uint32_t*>(p)).load();
    default: return std::atomic_ref(*reinterpret_cast<std::uint64_t*>(p)).load();
    }
}

inline void atomic_store(std::byte* at, std::size_t size, std::uint64_t bits) noexcept {
    switch (size) {
    case 1:
        std::atomic_ref(*reinterpret_cast<std::uint8_t*>(at))
            .store(static_cast<std::uint8_t>(bits));
        break;
    case 2:
        std::atomic_ref(*reinterpret_cast<std::uint16_t*>(at))
            .store(static_cast<std::uint16_t>(bits));
        break;
    case 4:
        std::atomic_ref(*reinterpret_cast<std::uint32_t*>(at))
            .store(static_cast<std::uint32_t>(bits));
        break;
    default: std::atomic_ref(*reinterpret_cast<std::uint64_t*>(at)).store(bits);
    }
}

template <class U>
std::uint64_t fetch_add_as(std::byte* at, std::uint64_t delta) noexcept {
    return std::atomic_ref(*reinterpret_cast<U*>(at)).fetch_add(static_cast<U>(delta));
}

inline std::uint64_t atomic_fetch_add(std::byte* at, std::size_t size,
                                      std::uint64_t delta) noexcept {
    switch (size) {
    case 1: return fetch_add_as<std::uint8_t>(at, delta);
    case 2: return fetch_add_as<std::uint16_t>(at, delta);
    case 4: return fetch_add_as<std::uint32_t>(at, delta);
    default: return fetch_add_as<std::uint64_t>(at, delta);
    }
}

template <class U>
bool exchange_as(std::byte* at, std::uint64_t& expected, std::uint64_t desired) noexcept {
    U seen = static_cast<U>(expected);
    const bool done = std::atomic_ref(*reinterpret_cast<U*>(at))
                          .compare_exchange_strong(seen, static_cast<U>(desired));
    expected = seen;
    return done;
}

inline bool atomic_compare_exchange(std::byte* at, std::size_t size, std::uint64_t& expected,
                                    std::uint64_t desired) noexcept {
    switch (size) {
    case 1: return exchange_as<std::uint8_t>(at, expected, desired);
    case 2: return exchange_as<std::uint16_t>(at, expected, desired);
    case 4: return exchange_as<std::uint32_t>(at, expected, desired);
    default: return exchange_as<std::uint64_t>(at, expected, desired);
    }
}

inline std::uint64_t mask_of(std::size_t size) noexcept {
    return size >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * size)) - 1;
}

// The Python value of an atomic element's bits.
inline PyObject* atomic_value(const field& f, std::uint64_t bits) {
    if (f.kind == '?') return PyBool_FromLong(bits != 0);
    if (f.kind == 'u') return PyLong_FromUnsignedLongLong(bits);
    const auto bits_in = 8 * f.size;
    if (bits_in < 64 && (bits >> (bits_in - 1)) != 0) bits |= ~mask_of(f.size); // sign-extend
    return PyLong_FromLongLong(static_cast<long long>(bits));
}

// The bits of `value` for an atomic element, range-checked as struct checks
// (struct.error); `wrap`: any integer, taken modulo 2^bits (fetch_add's delta,
// compare_exchange's expected value).
inline bool atomic_bits(object* self, const field& f, PyObject* value, bool wrap,
                        std::uint64_t& bits) {
    if (f.kind == '?' && !wrap) {
        const int truth = PyObject_IsTrue(value);
        if (truth < 0) return false;
        bits = static_cast<std::uint64_t>(truth);
        return true;
    }
    PyObject* index = PyNumber_Index(value);
    if (index == nullptr) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(structs.error, "required argument is not an integer");
        }
        return false;
    }
    const std::uint64_t mask = mask_of(f.size);
    bits = PyLong_AsUnsignedLongLongMask(index);
    bool in_range = true;
    if (!wrap) {
        const auto bits_in = static_cast<int>(8 * f.size);
        if (f.kind != 'i' && f.size == 8) {
            in_range = !(PyLong_AsUnsignedLongLong(index) == static_cast<unsigned long long>(-1) &&
                         PyErr_Occurred());
        } else {
            int overflow = 0;
            const long long v = PyLong_AsLongLongAndOverflow(index, &overflow);
            if (overflow != 0)
                in_range = false;
            else if (f.kind == 'i')
                in_range =
                    bits_in == 64 || (v >= -(1LL << (bits_in - 1)) && v < (1LL << (bits_in - 1)));
            else
                in_range = v >= 0 && static_cast<std::uint64_t>(v) <= mask;
        }
        PyErr_Clear();
    }
    Py_DECREF(index);
    if (!in_range) {
        PyErr_Format(structs.error, "value %S is out of range for segment \"%U\"'s %zd-byte %s",
                     value, self->name ? self->name : Py_None, static_cast<Py_ssize_t>(f.size),
                     f.kind == 'i' ? "signed integers" : "unsigned integers");
        return false;
    }
    bits &= mask;
    return true;
}

// ---------------------------------------------------------------------------
// Elements.

// The memoryview of the elements as far as they reach now: a growable
// segment's is taken again once it has grown (a view taken before keeps the
// length it had). False with an error set if that fails.
inline bool buffer_covers_now(object* self) {
    if (self->buffer == nullptr || self->live_length == nullptr ||
        PyMemoryView_GET_BUFFER(self->buffer)->len >= current_length(self) * self->itemsize)
        return true;
    PyObject* grown = PyMemoryView_FromObject(PyMemoryView_GET_BUFFER(self->buffer)->obj);
    if (grown == nullptr) return false;
    Py_SETREF(self->buffer, grown);
    return true;
}

inline PyObject* get_via_struct(object* self, Py_ssize_t i) {
    if (!buffer_covers_now(self)) return nullptr;
    PyObject* offset = PyLong_FromSsize_t(i * self->itemsize);
    if (offset == nullptr) return nullptr;
    PyObject* args[] = {nullptr, self->st, self->buffer, offset};
    PyObject* result = PyObject_Vectorcall(structs.unpack_from, args + 1,
                                           3 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
    Py_DECREF(offset);
    return result;
}

inline PyObject* get_one(object* self, Py_ssize_t i) {
    const std::byte* at = self->base + i * self->itemsize;
    switch (static_cast<mode>(self->mode)) {
    case mode::raw: return PyLong_FromLong(load_raw<std::uint8_t>(at));
    case mode::via_struct: return get_via_struct(self, i);
    case mode::atomic: {
        const field& f = self->fields->front();
        PyObject* value = atomic_value(f, atomic_load(at, f.size));
        if (value == nullptr) return nullptr;
        PyObject* tuple = PyTuple_New(1);
        if (tuple == nullptr) {
            Py_DECREF(value);
            return nullptr;
        }
        PyTuple_SET_ITEM(tuple, 0, value);
        return tuple;
    }
    case mode::codec: break;
    }
    PyObject* tuple = PyTuple_New(self->arity);
    if (tuple == nullptr) return nullptr;
    Py_ssize_t k = 0;
    for (const field& f : *self->fields) {
        const std::size_t step = f.kind == 's' ? 0 : f.size;
        for (std::size_t r = 0; r < f.count; ++r) {
            PyObject* value = value_at(f, at + f.offset + r * step);
            if (value == nullptr) {
                Py_DECREF(tuple);
                return nullptr;
            }
            PyTuple_SET_ITEM(tuple, k++, value);
        }
    }
    return tuple;
}

// A value given for an element, as a tuple (what struct packs); null with
// TypeError for something that is not iterable.
inline PyObject* as_tuple(object* self, PyObject* value) {
    if (PyTuple_Check(value)) {
        Py_INCREF(value);
        return value;
    }
    PyObject* tuple = PySequence_Tuple(value);
    if (tuple == nullptr && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "an element of segment \"%U\" is set from a tuple of %zd value(s), "
                     "e.g. shm[i] = (v,); got %.200s",
                     self->name ? self->name : Py_None, self->arity, Py_TYPE(value)->tp_name);
    }
    return tuple;
}

// The struct path: packed into bytes first (struct's own errors), then
// copied whole, so that a value struct refuses writes nothing.
inline int set_via_struct(object* self, Py_ssize_t i, PyObject* value) {
    PyObject* tuple = as_tuple(self, value);
    if (tuple == nullptr) return -1;
    const Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    // Bytes longer than their field: struct would cut them.
    if (self->fields != nullptr && n == self->arity) {
        Py_ssize_t k = 0;
        for (const field& f : *self->fields) {
            if (f.kind == 's') {
                PyObject* item = PyTuple_GET_ITEM(tuple, k);
                const Py_ssize_t size = PyBytes_Check(item)       ? PyBytes_GET_SIZE(item)
                                        : PyByteArray_Check(item) ? PyByteArray_GET_SIZE(item)
                                                                  : -1;
                if (size > static_cast<Py_ssize_t>(f.size)) {
                    Py_DECREF(tuple);
                    PyErr_Format(PyExc_ValueError,
                                 "%zd bytes do not fit a %zds field of segment \"%U\" (element "
                                 "%zd): nothing was written",
                                 size, static_cast<Py_ssize_t>(f.size),
                                 self->name ? self->name : Py_None, i);
                    return -1;
                }
            }
            k += f.kind == 's' ? 1 : static_cast<Py_ssize_t>(f.count);
        }
    }
    std::vector<PyObject*> args(static_cast<std::size_t>(n) + 2);
    args[1] = self->st;
    for (Py_ssize_t k = 0; k < n; ++k)
        args[static_cast<std::size_t>(k) + 2] = PyTuple_GET_ITEM(tuple, k);
    PyObject* packed = PyObject_Vectorcall(
        structs.pack, args.data() + 1,
        static_cast<std::size_t>(n + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
    Py_DECREF(tuple);
    if (packed == nullptr) return -1;
    if (PyBytes_GET_SIZE(packed) != self->itemsize) { // cannot happen: Struct(format).size
        Py_DECREF(packed);
        PyErr_SetString(PyExc_SystemError, "smh: packed element of the wrong size");
        return -1;
    }
    std::memcpy(self->base + i * self->itemsize, PyBytes_AS_STRING(packed),
                static_cast<std::size_t>(self->itemsize));
    Py_DECREF(packed);
    return 0;
}

inline int set_one(object* self, Py_ssize_t i, PyObject* value) {
    std::byte* at = self->base + i * self->itemsize;
    switch (static_cast<mode>(self->mode)) {
    case mode::raw: {
        if (PyLong_CheckExact(value)) {
            const long v = PyLong_AsLong(value);
            if (v >= 0 && v <= 255) {
                const auto byte = static_cast<std::uint8_t>(v);
                std::memcpy(at, &byte, 1);
                return 0;
            }
            PyErr_Clear();
        }
        if (!buffer_covers_now(self)) return -1;
        PyObject* key = PyLong_FromSsize_t(i); // the memoryview's own error
        if (key == nullptr) return -1;
        const int done = PyObject_SetItem(self->buffer, key, value);
        Py_DECREF(key);
        return done;
    }
    case mode::via_struct: return set_via_struct(self, i, value);
    case mode::atomic: {
        PyObject* tuple = as_tuple(self, value);
        if (tuple == nullptr) return -1;
        if (PyTuple_GET_SIZE(tuple) != 1) {
            PyErr_Format(structs.error, "pack expected 1 items for packing (got %zd)",
                         PyTuple_GET_SIZE(tuple));
            Py_DECREF(tuple);
            return -1;
        }
        const field& f = self->fields->front();
        std::uint64_t bits = 0;
        const bool ok = atomic_bits(self, f, PyTuple_GET_ITEM(tuple, 0), false, bits);
        Py_DECREF(tuple);
        if (!ok) return -1;
        atomic_store(at, f.size, bits);
        return 0;
    }
    case mode::codec: break;
    }
    if (!PyTuple_CheckExact(value) || PyTuple_GET_SIZE(value) != self->arity)
        return set_via_struct(self, i, value);
    // Converted into a zeroed copy (padding included, as struct zeroes it),
    // then copied whole.
    alignas(16) std::byte small[256];
    std::vector<std::byte> large;
    std::byte* scratch = small;
    const auto size = static_cast<std::size_t>(self->itemsize);
    if (size > sizeof small) {
        large.resize(size);
        scratch = large.data();
    } else {
        std::memset(scratch, 0, size);
    }
    PyObject** values = &PyTuple_GET_ITEM(value, 0);
    Py_ssize_t k = 0;
    for (const field& f : *self->fields) {
        const std::size_t step = f.kind == 's' ? 0 : f.size;
        for (std::size_t r = 0; r < f.count; ++r) {
            const int put = put_value(self, f, values[k++], scratch + f.offset + r * step, i);
            if (put < 0) return -1;
            if (put > 0) return set_via_struct(self, i, value);
        }
    }
    std::memcpy(at, scratch, size);
    return 0;
}

// ---------------------------------------------------------------------------
// The slots.

inline PyObject* get_slice(object* self, PyObject* key) {
    Py_ssize_t start, stop, step;
    if (PySlice_Unpack(key, &start, &stop, &step) < 0) return nullptr;
    const Py_ssize_t n = PySlice_AdjustIndices(current_length(self), &start, &stop, step);
    PyObject* list = PyList_New(n);
    if (list == nullptr) return nullptr;
    for (Py_ssize_t k = 0, i = start; k < n; ++k, i += step) {
        PyObject* item = get_one(self, i);
        if (item == nullptr) {
            Py_DECREF(list);
            return nullptr;
        }
        PyList_SET_ITEM(list, k, item);
    }
    return list;
}

inline int set_slice(object* self, PyObject* key, PyObject* value) {
    Py_ssize_t start, stop, step;
    if (PySlice_Unpack(key, &start, &stop, &step) < 0) return -1;
    const Py_ssize_t n = PySlice_AdjustIndices(current_length(self), &start, &stop, step);
    PyObject* values = PySequence_Fast(value, "a slice of a segment is set from a sequence");
    if (values == nullptr) return -1;
    if (PySequence_Fast_GET_SIZE(values) != n) {
        PyErr_Format(PyExc_ValueError, "%zd values for %zd elements",
                     PySequence_Fast_GET_SIZE(values), n);
        Py_DECREF(values);
        return -1;
    }
    for (Py_ssize_t k = 0, i = start; k < n; ++k, i += step) {
        if (set_one(self, i, PySequence_Fast_GET_ITEM(values, k)) < 0) {
            Py_DECREF(values);
            return -1;
        }
    }
    Py_DECREF(values);
    return 0;
}

inline PyObject* subscript(PyObject* op, PyObject* key) {
    object* self = as_elements(op);
    if (self->base == nullptr) return raise_closed(self);
    if (PySlice_Check(key)) return get_slice(self, key);
    const Py_ssize_t i = position(self, key);
    if (i < 0) return nullptr;
    return get_one(self, i);
}

inline int assign_subscript(PyObject* op, PyObject* key, PyObject* value) {
    object* self = as_elements(op);
    if (value == nullptr) {
        PyErr_SetString(PyExc_TypeError, "segment elements cannot be deleted");
        return -1;
    }
    if (self->base == nullptr) {
        raise_closed(self);
        return -1;
    }
    if (self->read_only) return raise_read_only(self, "write to it");
    if (PySlice_Check(key)) return set_slice(self, key, value);
    const Py_ssize_t i = position(self, key);
    if (i < 0) return -1;
    return set_one(self, i, value);
}

inline Py_ssize_t length(PyObject* op) { return current_length(as_elements(op)); }

// ---------------------------------------------------------------------------
// Atomic methods.

// Element `key` of an atomic segment, or null with the error set.
inline std::byte* atomic_element(object* self, PyObject* key, const char* what, bool writes) {
    if (self->base == nullptr) {
        raise_closed(self);
        return nullptr;
    }
    if (self->mode != static_cast<int>(mode::atomic)) {
        PyErr_Format(PyExc_TypeError,
                     "%s: segment \"%U\" does not hold atomic elements (create or attach with "
                     "atomic=True)",
                     what, self->name ? self->name : Py_None);
        return nullptr;
    }
    if (writes && self->read_only) {
        raise_read_only(self, what);
        return nullptr;
    }
    const Py_ssize_t i = position(self, key);
    if (i < 0) return nullptr;
    return self->base + i * self->itemsize;
}

inline bool check_arguments(const char* name, Py_ssize_t given, Py_ssize_t expected) {
    if (given == expected) return true;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, expected, given);
    return false;
}

inline PyObject* load(PyObject* op, PyObject* const* args, Py_ssize_t n) {
    object* self = as_elements(op);
    if (!check_arguments("load", n, 1)) return nullptr;
    std::byte* at = atomic_element(self, args[0], "load", false);
    if (at == nullptr) return nullptr;
    const field& f = self->fields->front();
    return atomic_value(f, atomic_load(at, f.size));
}

inline PyObject* store(PyObject* op, PyObject* const* args, Py_ssize_t n) {
    object* self = as_elements(op);
    if (!check_arguments("store", n, 2)) return nullptr;
    std::byte* at = atomic_element(self, args[0], "store", true);
    if (at == nullptr) return nullptr;
    const field& f = self->fields->front();
    std::uint64_t bits = 0;
    if (!atomic_bits(self, f, args[1], false, bits)) return nullptr;
    atomic_store(at, f.size, bits);
    Py_RETURN_NONE;
}

inline PyObject* fetch_add(PyObject* op, PyObject* const* args, Py_ssize_t n) {
    object* self = as_elements(op);
    if (!check_arguments("fetch_add", n, 2)) return nullptr;
    std::byte* at = atomic_element(self, args[0], "fetch_add", true);
    if (at == nullptr) return nullptr;
    const field& f = self->fields->front();
    if (f.kind == '?') {
        PyErr_SetString(PyExc_TypeError, "fetch_add: a bool element cannot be added to");
        return nullptr;
    }
    std::uint64_t delta = 0;
    if (!atomic_bits(self, f, args[1], true, delta)) return nullptr;
    return atomic_value(f, atomic_fetch_add(at, f.size, delta));
}

inline PyObject* compare_exchange(PyObject* op, PyObject* const* args, Py_ssize_t n) {
    object* self = as_elements(op);
    if (!check_arguments("compare_exchange", n, 3)) return nullptr;
    std::byte* at = atomic_element(self, args[0], "compare_exchange", true);
    if (at == nullptr) return nullptr;
    const field& f = self->fields->front();
    std::uint64_t expected = 0;
    std::uint64_t desired = 0;
    if (!atomic_bits(self, f, args[1], true, expected) ||
        !atomic_bits(self, f, args[2], false, desired))
        return nullptr;
    const bool done = atomic_compare_exchange(at, f.size, expected, desired);
    PyObject* found = atomic_value(f, expected);
    if (found == nullptr) return nullptr;
    return Py_BuildValue("(NN)", PyBool_FromLong(done), found);
}

// ---------------------------------------------------------------------------
// Binding, from the Python layer (python/smh/_handlee.py).

// _smh_bind(buffer, struct_or_None, fields, mode, read_only, name,
// length_word): element 0 is the first byte of `buffer`, a memoryview this
// object keeps; `fields` is a list of (kind, size, offset, count);
// `length_word` is None, or for a growable segment the capsule of its length
// word in the mapping `buffer` keeps.
inline PyObject* bind(PyObject* op, PyObject* const* args, Py_ssize_t n) {
    object* self = as_elements(op);
    if (!check_arguments("_smh_bind", n, 7)) return nullptr;
    const std::uint64_t* live_length = nullptr;
    Py_ssize_t capacity = 0;
    if (args[6] != Py_None) {
        live_length =
            static_cast<const std::uint64_t*>(PyCapsule_GetPointer(args[6], length_word_capsule));
        if (live_length == nullptr) return nullptr;
        capacity = static_cast<Py_ssize_t>(
            reinterpret_cast<std::uintptr_t>(PyCapsule_GetContext(args[6])));
    }
    PyObject* buffer = args[0];
    PyObject* st = args[1] == Py_None ? nullptr : args[1];
    const long chosen = PyLong_AsLong(args[3]);
    const int read_only = PyObject_IsTrue(args[4]);
    if ((chosen == -1 && PyErr_Occurred()) || read_only < 0) return nullptr;
    if (!PyUnicode_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "_smh_bind: name must be a str");
        return nullptr;
    }
    auto fields = std::make_unique<std::vector<field>>();
    Py_ssize_t arity = 0;
    PyObject* spec = PySequence_Fast(args[2], "_smh_bind: fields must be a sequence");
    if (spec == nullptr) return nullptr;
    for (Py_ssize_t k = 0; k < PySequence_Fast_GET_SIZE(spec); ++k) {
        const char* kind = nullptr;
        Py_ssize_t size = 0, offset = 0, count = 0;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(spec, k), "snnn", &kind, &size, &offset,
                              &count)) {
            Py_DECREF(spec);
            return nullptr;
        }
        fields->push_back({kind[0], static_cast<std::size_t>(size),
                           static_cast<std::size_t>(offset), static_cast<std::size_t>(count)});
        arity += kind[0] == 's' ? 1 : count;
    }
    Py_DECREF(spec);
    Py_ssize_t itemsize = 1;
    if (st != nullptr) {
        PyObject* size = PyObject_GetAttrString(st, "size");
        if (size == nullptr) return nullptr;
        itemsize = PyLong_AsSsize_t(size);
        Py_DECREF(size);
        if (itemsize <= 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "_smh_bind: empty element");
            return nullptr;
        }
    }
    Py_buffer view;
    if (PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE) < 0) return nullptr;
    auto* base = static_cast<std::byte*>(view.buf);
    const Py_ssize_t bytes = view.len;
    PyBuffer_Release(&view); // `buffer` stays referenced, and with it the mapping
    Py_INCREF(buffer);
    Py_XINCREF(st);
    Py_INCREF(args[5]);
    Py_XSETREF(self->buffer, buffer);
    Py_XSETREF(self->st, st);
    Py_XSETREF(self->name, args[5]);
    Py_CLEAR(self->closed_error);
    delete self->fields;
    self->fields = fields.release();
    self->arity = st == nullptr ? 1 : arity;
    self->itemsize = itemsize;
    self->length = bytes / itemsize;
    self->live_length = live_length;
    self->capacity = capacity;
    self->mode = static_cast<int>(chosen);
    self->read_only = read_only;
    self->base = base;
    Py_RETURN_NONE;
}

// _smh_unbind(error=None): from now on [] raises `error` (an exception
// instance), or ValueError("closed"); the memoryview is let go, so the
// mapping goes with the last view still using it.
inline PyObject* unbind(PyObject* op, PyObject* const* args, Py_ssize_t n) {
    object* self = as_elements(op);
    if (n > 1) {
        (void)check_arguments("_smh_unbind", n, 1);
        return nullptr;
    }
    self->length = current_length(self); // the length word goes with the mapping
    self->live_length = nullptr;
    self->base = nullptr;
    Py_CLEAR(self->buffer);
    if (n == 1 && args[0] != Py_None) {
        Py_INCREF(args[0]);
        Py_XSETREF(self->closed_error, args[0]);
    }
    Py_RETURN_NONE;
}

inline PyObject* get_data(PyObject* op, void*) {
    object* self = as_elements(op);
    if (!buffer_covers_now(self)) return nullptr;
    PyObject* buffer = self->buffer != nullptr ? self->buffer : Py_None;
    Py_INCREF(buffer);
    return buffer;
}

// ---------------------------------------------------------------------------
// The type.

inline PyObject* make(PyTypeObject* type, PyObject*, PyObject*) {
    return type->tp_alloc(type, 0); // zeroed: not bound, no state
}

inline int traverse(PyObject* op, visitproc visit, void* arg) {
    object* self = as_elements(op);
    Py_VISIT(Py_TYPE(op)); // a heap type
    Py_VISIT(self->buffer);
    Py_VISIT(self->st);
    Py_VISIT(self->name);
    Py_VISIT(self->closed_error);
    Py_VISIT(self->state);
    return 0;
}

inline int clear(PyObject* op) {
    object* self = as_elements(op);
    self->live_length = nullptr;
    self->base = nullptr;
    Py_CLEAR(self->buffer);
    Py_CLEAR(self->st);
    Py_CLEAR(self->name);
    Py_CLEAR(self->closed_error);
    Py_CLEAR(self->state); // the handle: its end (handle.hpp) removes the name
    return 0;
}

inline void dealloc(PyObject* op) {
    object* self = as_elements(op);
    PyObject_GC_UnTrack(op);
    if (self->weakrefs != nullptr) PyObject_ClearWeakRefs(op);
    clear(op);
    delete self->fields;
    self->fields = nullptr;
    PyTypeObject* type = Py_TYPE(op);
    type->tp_free(op);
    Py_DECREF(type);
}

inline PyMethodDef methods[] = {
    {"load", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(load)), METH_FASTCALL,
     "load(index): atomic load of element `index` (sequentially consistent)."},
    {"store", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(store)), METH_FASTCALL,
     "store(index, value): atomic store into element `index`; struct.error out of range."},
    {"fetch_add", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fetch_add)),
     METH_FASTCALL,
     "fetch_add(index, delta): atomically adds `delta` to element `index` (wrapping, as C++ "
     "does); returns the previous value."},
    {"compare_exchange",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(compare_exchange)), METH_FASTCALL,
     "compare_exchange(index, expected, desired): atomically, if element `index` is `expected`, "
     "make it `desired`. Returns (whether it did, the value found)."},
    {"_smh_bind", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(bind)), METH_FASTCALL,
     nullptr},
    {"_smh_unbind", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(unbind)),
     METH_FASTCALL, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

inline PyMemberDef members[] = {
    {"_smh", T_OBJECT, offsetof(object, state), 0, "the Python layer's state"},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(object, weakrefs), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

inline PyGetSetDef getset[] = {
    {"_smh_data", get_data, nullptr, "the elements' memoryview (None while closed)", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

inline PyType_Slot slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(make)},
    {Py_tp_dealloc, reinterpret_cast<void*>(dealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(clear)},
    {Py_tp_methods, methods},
    {Py_tp_members, members},
    {Py_tp_getset, getset},
    {Py_mp_subscript, reinterpret_cast<void*>(subscript)},
    {Py_mp_ass_subscript, reinterpret_cast<void*>(assign_subscript)},
    {Py_mp_length, reinterpret_cast<void*>(length)},
    {Py_tp_doc,
     const_cast<char*>(
         "The elements of a segment, with C-level [] (smh.SharedMemoryHandlee's base).")},
    {0, nullptr},
};

inline PyType_Spec spec = {
    "smh._core.Elements",
    sizeof(object),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    slots,
};

// The type, and struct's pieces it calls.
inline PyObject* create_type() {
    PyObject* st = PyImport_ImportModule("struct");
    if (st == nullptr) return nullptr;
    structs.error = PyObject_GetAttrString(st, "error");
    PyObject* struct_type = PyObject_GetAttrString(st, "Struct");
    Py_DECREF(st);
    if (structs.error == nullptr || struct_type == nullptr) return nullptr;
    structs.unpack_from = PyObject_GetAttrString(struct_type, "unpack_from");
    structs.pack = PyObject_GetAttrString(struct_type, "pack");
    Py_DECREF(struct_type);
    if (structs.unpack_from == nullptr || structs.pack == nullptr) return nullptr;
    return PyType_FromSpec(&spec);
}

} // namespace smh_python::elements
