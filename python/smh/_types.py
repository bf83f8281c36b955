"""Element types: a struct format laid out as the matching C/C++ struct is on
this platform, and the portable type name stored in the segment header
(docs/layout.md, "Type names").

A format is read with native sizes and alignment (struct's "@", the
default): each field is aligned as the C compiler aligns it, and the element
is padded at the end to the struct's alignment, as a C array element is. So
"iif" is struct { int32_t a, b; float c; } (12 bytes, align 4) and "ddi" is
geo::Point { double x, y; int32_t id; } (24 bytes, align 8: "ddi" and
"ddi4x" are the same type). "=" and a "<" or ">" naming this machine's byte
order read standard sizes without padding: the same type as the native
format where the layout comes out the same, else a packed struct (align 1).

Stored names, as the C++ library names its types:
  one field                      int8 ... int64, uint8 ... uint64, float32,
                                 float64, bool, char, char[N] ("Ns")
  N fields of one type           std::array<T, N>       ("4i", "dd")
  atomic=True, one integer       std::atomic<T>
  other structs                  struct{T1, T2, ...}, or with offsets where
                                 explicit padding moves fields
A C++ struct has a name of its own (geo::Point): pass type_name= to use it.
"""
import re
import struct as _struct
import sys

__all__ = ["ElementType", "element_type", "element_type_for_name"]

_SIGNED = "bhilqn"
_UNSIGNED = "BHILQN"
_NUMERIC = _SIGNED + _UNSIGNED + "efd?c"
_NATIVE_BY_SIZE = {("i", 1): "b", ("i", 2): "h", ("i", 4): "i", ("i", 8): "q",
                   ("u", 1): "B", ("u", 2): "H", ("u", 4): "I", ("u", 8): "Q"}
_TOKEN = re.compile(r"\s*(\d*)([A-Za-z?])\s*")
_LITTLE = sys.byteorder == "little"


def _kind(code):
    if code in _SIGNED:
        return "i"
    if code in _UNSIGNED:
        return "u"
    return code


def _native_align(code):
    return _struct.calcsize("@b" + code) - _struct.calcsize("@" + code)


def _code_name(code, size):
    if code in _SIGNED:
        return f"int{size * 8}"
    if code in _UNSIGNED:
        return f"uint{size * 8}"
    return {"e": "float16", "f": "float32", "d": "float64", "?": "bool", "c": "char"}[code]


_CODE_OF_NAME = {_code_name(c, _struct.calcsize("@" + c)): c for c in "bBhHiIqQefd?c"}


class ElementType:
    """One element: `format` (a struct format with "@" or "=" and the
    trailing padding spelled out, so Struct(format).size is the element's
    stride), `size`, `align`, `type_name`, and `fields` [(code, count, offset)]."""

    __slots__ = ("format", "size", "align", "type_name", "fields", "atomic", "raw", "signed")

    def __init__(self, fmt, size, align, type_name, fields, atomic=False, raw=False):
        self.format = fmt
        self.size = size
        self.align = align
        self.type_name = type_name
        self.fields = fields
        self.atomic = atomic
        self.raw = raw
        self.signed = bool(fields) and fields[0][0] in _SIGNED

    def numpy_dtype(self, numpy, names=None):
        """The NumPy dtype of one element: a plain one for one field, a
        structured one (offsets and itemsize as in the segment) otherwise."""
        def dtype_of(code, count):
            if code == "s":
                return f"S{count}"
            if code == "c":
                return "S1"
            if code == "?":
                return "?"
            size = _struct.calcsize(("@" if self.format[0] == "@" else "=") + code)
            return {"i": "i", "u": "u"}.get(_kind(code), "f") + str(size)

        if len(self.fields) == 1 and names is None:
            return numpy.dtype(dtype_of(*self.fields[0][:2]))
        if names is None:
            names = [f"f{i}" for i in range(len(self.fields))]
        names = list(names)
        if len(names) != len(self.fields):
            raise ValueError(f"{len(names)} field names for {len(self.fields)} fields")
        return numpy.dtype({"names": names,
                            "formats": [dtype_of(code, count) for code, count, _ in self.fields],
                            "offsets": [offset for _, _, offset in self.fields],
                            "itemsize": self.size})


def _tokens(body, original):
    at = 0
    out = []
    while at < len(body):
        match = _TOKEN.match(body, at)
        if not match:
            raise ValueError(f"struct format {original!r}: cannot read {body[at:]!r}")
        count, code = match.groups()
        at = match.end()
        out.append((int(count) if count else 1, code))
    return out


def _field_name(code, count, size):
    return f"char[{count}]" if code == "s" else _code_name(code, size)


def _layout(tokens, native):
    """Fields [(code, count, offset, size, align, natural_align)] and the
    unpadded end; natural_align is what a C compiler would align the field to."""
    fields, offset = [], 0
    prefix = "@" if native else "="
    for count, code in tokens:
        if code == "x":
            offset += count
        elif code == "s":
            fields.append(("s", count, offset, count, 1, 1))
            offset += count
        else:
            size = _struct.calcsize(prefix + code)
            natural_code = code
            if code in _SIGNED + _UNSIGNED:
                natural_code = _NATIVE_BY_SIZE[(_kind(code), size)]
            natural_align = _native_align(natural_code)
            align = natural_align if native else 1
            for _ in range(count):
                offset = (offset + align - 1) // align * align
                fields.append((code, 1, offset, size, align, natural_align))
                offset += size
    return fields, offset


def _natural(fields):
    """The offsets and size of `fields` in a C struct without explicit padding."""
    offsets, offset, align = [], 0, 1
    for _, _, _, size, _, field_align in fields:
        offset = (offset + field_align - 1) // field_align * field_align
        offsets.append(offset)
        offset += size
        align = max(align, field_align)
    return offsets, (offset + align - 1) // align * align


def _name(fields, size, align):
    names = [_field_name(code, count, fsize) for code, count, _, fsize, _, _ in fields]
    offsets, natural_size = _natural(fields)
    natural = offsets == [f[2] for f in fields] and natural_size == size and \
        align == max(f[5] for f in fields)
    if len(fields) == 1 and natural:
        return names[0]
    if natural and len(set(names)) == 1:
        return f"std::array<{names[0]}, {len(fields)}>"
    if natural:
        return "struct{" + ", ".join(names) + "}"
    spelled = ", ".join(f"{n} @{f[2]}" for n, f in zip(names, fields))
    return f"struct{{{spelled}}} ({size} bytes, align {align})"


def element_type(fmt=None, atomic=False):
    """The ElementType of struct format `fmt` (a str or a struct.Struct); None
    is a raw byte (uint8) whose [] gives and takes ints, as a memoryview does.
    Raises ValueError for a format no C struct matches."""
    if fmt is None:
        if atomic:
            raise ValueError("atomic=True needs a one-field integer format")
        return ElementType("@B", 1, 1, "uint8", [("B", 1, 0)], raw=True)
    if isinstance(fmt, _struct.Struct):
        fmt = fmt.format
    if isinstance(fmt, bytes):
        fmt = fmt.decode("ascii")
    if not isinstance(fmt, str):
        raise TypeError(f"struct must be a str or struct.Struct, not {type(fmt).__name__}")
    original = fmt
    _struct.calcsize(fmt)  # struct's own error for what struct cannot read
    order = fmt[:1] if fmt[:1] in "@=<>!" else "@"
    body = fmt[1:] if fmt[:1] in "@=<>!" else fmt
    if (order == "<" and not _LITTLE) or (order in ">!" and _LITTLE):
        raise ValueError(f"struct format {original!r} asks for {'little' if order == '<' else 'big'}"
                         f"-endian data; segments hold this machine's byte order "
                         f"({sys.byteorder}-endian): use '@' or '='")
    tokens = _tokens(body, original)
    for count, code in tokens:
        if code in "pP":
            raise ValueError(f"struct format {original!r}: '{code}' (a Pascal string or a "
                             "pointer) means nothing in another process")
        if code == "s" and count == 0:
            raise ValueError(f"struct format {original!r}: '0s' is an empty field")
        if code not in _NUMERIC + "sx":
            raise ValueError(f"struct format {original!r}: unknown code {code!r}")
    native = order == "@"
    if not native:
        # Standard sizes, no padding: the native type with the same layout, if any.
        mapped = []
        for count, code in tokens:
            if code in _SIGNED + _UNSIGNED:
                code = _NATIVE_BY_SIZE[(_kind(code), _struct.calcsize("=" + code))]
            mapped.append((count, code))
        packed, packed_end = _layout(tokens, False)
        aligned, aligned_end = _layout(mapped, True)
        align = max((f[4] for f in aligned), default=1)
        if [f[2] for f in packed] == [f[2] for f in aligned] and packed_end % align == 0:
            tokens, native = mapped, True
            body = "".join(f"{count}{code}" for count, code in mapped)
    fields, end = _layout(tokens, native)
    if not fields:
        raise ValueError(f"struct format {original!r} has no fields")
    align = max(f[4] for f in fields) if native else 1
    size = (end + align - 1) // align * align
    canonical = ("@" if native else "=") + body + (f"{size - end}x" if size > end else "")
    assert _struct.calcsize(canonical) == size, (canonical, size)
    name = _name(fields, size, align)
    if atomic:
        if len(fields) != 1 or fields[0][0] not in _SIGNED + _UNSIGNED + "?" or \
                fields[0][3] not in (1, 2, 4, 8):
            raise ValueError(f"atomic=True needs one integer or bool field, not {original!r}")
        name = f"std::atomic<{name}>"
    return ElementType(canonical, size, align, name,
                       [(code, count, offset) for code, count, offset, _, _, _ in fields],
                       atomic=atomic)


def _format_of_name(name):
    if name in _CODE_OF_NAME:
        return _CODE_OF_NAME[name]
    match = re.fullmatch(r"char\[(\d+)\]", name)
    if match and int(match.group(1)) > 0:
        return match.group(1) + "s"
    match = re.fullmatch(r"std::array<(\w+), (\d+)>", name)
    if match and match.group(1) in _CODE_OF_NAME and int(match.group(2)) > 0:
        return match.group(2) + _CODE_OF_NAME[match.group(1)]
    return None


def element_type_for_name(name):
    """The ElementType a segment whose type is called `name` holds, when the
    name says (arithmetic types, char[N], std::array, std::atomic and the
    struct{...} names Python gives); None for other names (a C++ class)."""
    atomic = False
    match = re.fullmatch(r"std::atomic<(\w+)>", name)
    if match:
        name, atomic = match.group(1), True
    fmt = _format_of_name(name)
    if fmt is None and not atomic:
        match = re.fullmatch(r"struct\{(.+)\}", name)
        if match:
            parts = [_format_of_name(part) for part in match.group(1).split(", ")]
            if parts and None not in parts:
                fmt = "".join(parts)
    if fmt is None:
        return None
    try:
        element = element_type(fmt, atomic=atomic)
    except ValueError:
        return None
    return element if element.type_name == ("std::atomic<" + name + ">" if atomic else name) \
        or (not atomic and element.type_name == name) else None
