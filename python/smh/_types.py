"""Element types: a struct format laid out as the matching C/C++ struct is on
this platform, and the portable type name stored in the segment header
(docs/layout.md, "Type names"). The one piece of the package that is
Python's own: the vocabulary between struct formats and C++ type names.
The C++ library checks the identity (name, size, alignment) it is given.

A format is read with native sizes and alignment (struct's "@", the
default): each field is aligned as the C compiler aligns it, and the element
is padded at the end to the struct's alignment, as a C array element is. So
"iif" is struct { int32_t a, b; float c; } (12 bytes, align 4) and "ddi" is
geo::Point { double x, y; int32_t id; } (24 bytes, align 8: "ddi" and
"ddi4x" are the same type, and Struct(...).format is "@ddi4x"). "=" and a
"<" or ">" naming this machine's byte order read standard sizes without
padding: the same type as the native format where the layout comes out the
same, else a packed struct (align 1).

Stored names, as the C++ library names its types:
  one field                      int8 ... int64, uint8 ... uint64, float32,
                                 float64, bool, char, char[N] ("Ns")
  N fields of one type           std::array<T, N>       ("4i", "dd")
  atomic=True, one integer       std::atomic<T>
  other structs                  struct{T1, T2, ...}, or with offsets where
                                 explicit padding moves fields
A C++ struct has a name of its own (geo::Point): pass type_name= to use it.

A repeat count stays a count ("10000000i" is one run, never ten million
fields), and a name read from a segment is checked against the element
size and alignment its header records before anything is built from it.
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
# Far beyond any segment (a mapping is at most 2**63 bytes): a count past it
# is refused before any arithmetic on it.
_MAX_COUNT = 1 << 62


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


class Run:
    """`count` values of struct code `code`, `size` bytes each, from
    `offset` (for "s", one bytes value of `count` bytes); `align` is the
    run's alignment in this layout, `natural` what a C compiler gives it."""

    __slots__ = ("code", "count", "offset", "size", "align", "natural")

    def __init__(self, code, count, offset, size, align, natural):
        self.code, self.count, self.offset = code, count, offset
        self.size, self.align, self.natural = size, align, natural

    @property
    def values(self):
        return 1 if self.code == "s" else self.count

    @property
    def end(self):
        return self.offset + (self.count if self.code == "s" else self.count * self.size)

    @property
    def name(self):
        return f"char[{self.count}]" if self.code == "s" else _code_name(self.code, self.size)


class ElementType:
    """One element: `format` (a struct format with "@" or "=" and the
    trailing padding spelled out, so Struct(format).size is the element's
    stride), `size`, `align`, `type_name`, `runs` (see Run), `arity` (the
    values of one element), and whether it is `atomic` or `raw` bytes."""

    __slots__ = ("format", "size", "align", "type_name", "runs", "atomic", "raw", "arity")

    def __init__(self, fmt, size, align, type_name, runs, atomic=False, raw=False):
        self.format = fmt
        self.size = size
        self.align = align
        self.type_name = type_name
        self.runs = runs
        self.atomic = atomic
        self.raw = raw
        self.arity = sum(run.values for run in runs)

    def renamed(self, type_name):
        """The same layout under another stored name (a C++ class's)."""
        if type_name is None or type_name == self.type_name:
            return self
        if not isinstance(type_name, str) or not type_name or "\0" in type_name:
            raise ValueError(f"type_name must be a non-empty str without NUL, not {type_name!r}")
        return ElementType(self.format, self.size, self.align, type_name, self.runs,
                           self.atomic, self.raw)

    def fields_spec(self):
        """What smh._core.Elements converts: (kind, size, offset, count) per
        run; kind 'i' signed, 'u' unsigned, 'f', 'd', '?', 'c', 's' (whose
        size is the field's, count 1)."""
        spec = []
        for run in self.runs:
            kind = {"i": "i", "u": "u"}.get(_kind(run.code), run.code)
            if run.code == "s":
                spec.append(("s", run.count, run.offset, 1))
            else:
                spec.append((kind, run.size, run.offset, run.count))
        return spec

    @property
    def needs_struct(self):
        """Whether a value only struct converts (a half float): every element
        then goes through struct."""
        return any(run.code == "e" for run in self.runs)

    def numpy_dtype(self, numpy, names=None):
        """The NumPy dtype of one element: a plain one for one field, a
        structured one (offsets and itemsize as in the segment) otherwise;
        a run of more than 256 values is one field of that many."""
        def dtype_of(run):
            if run.code == "s":
                return f"S{run.count}"
            if run.code == "c":
                return "S1"
            if run.code == "?":
                return "?"
            return {"i": "i", "u": "u"}.get(_kind(run.code), "f") + str(run.size)

        fields = []  # (format, offset)
        for run in self.runs:
            if run.code == "s" or run.count == 1:
                fields.append((dtype_of(run), run.offset))
            elif run.count > 256:
                fields.append(((dtype_of(run), (run.count,)), run.offset))
            else:
                fields.extend((dtype_of(run), run.offset + k * run.size) for k in range(run.count))
        if len(fields) == 1 and names is None and not isinstance(fields[0][0], tuple):
            return numpy.dtype(fields[0][0])
        if names is None:
            names = [f"f{i}" for i in range(len(fields))]
        names = list(names)
        if len(names) != len(fields):
            raise ValueError(f"{len(names)} field names for {len(fields)} fields")
        return numpy.dtype({"names": names, "formats": [f for f, _ in fields],
                            "offsets": [o for _, o in fields], "itemsize": self.size})


def _tokens(body, original):
    at = 0
    out = []
    while at < len(body):
        match = _TOKEN.match(body, at)
        if not match:
            raise ValueError(f"struct format {original!r}: cannot read {body[at:]!r}")
        count, code = match.groups()
        at = match.end()
        count = int(count) if count else 1
        if count > _MAX_COUNT:
            raise ValueError(f"struct format {original!r}: a count of {count} is too large")
        out.append((count, code))
    return out


def _layout(tokens, native):
    """The runs of `tokens` and the unpadded end."""
    runs, offset = [], 0
    prefix = "@" if native else "="
    for count, code in tokens:
        if code == "x":
            offset += count
        elif code == "s":
            runs.append(Run("s", count, offset, 1, 1, 1))
            offset += count
        elif count:
            size = _struct.calcsize(prefix + code)
            natural_code = code
            if code in _SIGNED + _UNSIGNED:
                natural_code = _NATIVE_BY_SIZE[(_kind(code), size)]
            natural = _native_align(natural_code)
            align = natural if native else 1
            offset = (offset + align - 1) // align * align
            runs.append(Run(code, count, offset, size, align, natural))
            offset += count * size
    return runs, offset


def _name(runs, size, align):
    """The C++ name of the struct `runs` make (size, align)."""
    natural_offset, natural_align, natural = 0, 1, True
    for run in runs:
        natural_offset = (natural_offset + run.natural - 1) // run.natural * run.natural
        natural = natural and natural_offset == run.offset
        natural_offset += run.end - run.offset
        natural_align = max(natural_align, run.natural)
    natural_size = (natural_offset + natural_align - 1) // natural_align * natural_align
    natural = natural and natural_size == size and align == natural_align
    values = sum(run.values for run in runs)
    if natural and values == 1:
        return runs[0].name
    if natural and len({run.name for run in runs}) == 1:
        return f"std::array<{runs[0].name}, {values}>"

    def each():
        for run in runs:
            if run.code == "s":
                yield run.name, run.offset
            else:
                for k in range(run.count):
                    yield run.name, run.offset + k * run.size

    if natural:
        return "struct{" + ", ".join(name for name, _ in each()) + "}"
    spelled = ", ".join(f"{name} @{offset}" for name, offset in each())
    return f"struct{{{spelled}}} ({size} bytes, align {align})"


def element_type(fmt=None, atomic=False):
    """The ElementType of struct format `fmt` (a str or a struct.Struct); None
    is a raw byte (uint8) whose [] gives and takes ints, as a memoryview does.
    Raises ValueError for a format no C struct matches."""
    if fmt is None:
        if atomic:
            raise ValueError("atomic=True needs a one-field integer format")
        return ElementType("@B", 1, 1, "uint8", [Run("B", 1, 0, 1, 1, 1)], raw=True)
    if isinstance(fmt, _struct.Struct):
        fmt = fmt.format
    if isinstance(fmt, bytes):
        fmt = fmt.decode("ascii")
    if not isinstance(fmt, str):
        raise TypeError(f"struct must be a str or struct.Struct, not {type(fmt).__name__}")
    original = fmt
    order = fmt[:1] if fmt[:1] in "@=<>!" else "@"
    body = fmt[1:] if fmt[:1] in "@=<>!" else fmt
    if (order == "<" and not _LITTLE) or (order in ">!" and _LITTLE):
        raise ValueError(f"struct format {original!r} asks for {'little' if order == '<' else 'big'}"
                         f"-endian data; segments hold this machine's byte order "
                         f"({sys.byteorder}-endian): use '@' or '='")
    tokens = _tokens(body, original)
    _struct.calcsize(fmt)  # struct's own error for what struct cannot read
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
        align = max((run.align for run in aligned), default=1)
        if [r.offset for r in packed] == [r.offset for r in aligned] and \
                packed_end == aligned_end and packed_end % align == 0:
            tokens, native = mapped, True
            body = "".join(f"{count}{code}" for count, code in mapped)
    runs, end = _layout(tokens, native)
    if not runs:
        raise ValueError(f"struct format {original!r} has no fields")
    align = max(run.align for run in runs) if native else 1
    size = (end + align - 1) // align * align
    canonical = ("@" if native else "=") + body + (f"{size - end}x" if size > end else "")
    name = _name(runs, size, align)
    if atomic:
        if len(runs) != 1 or runs[0].count != 1 or \
                runs[0].code not in _SIGNED + _UNSIGNED + "?" or runs[0].size not in (1, 2, 4, 8):
            raise ValueError(f"atomic=True needs one integer or bool field, not {original!r}")
        name = f"std::atomic<{name}>"
    return ElementType(canonical, size, align, name, runs, atomic=atomic)


def _format_of_name(name):
    if name in _CODE_OF_NAME:
        return _CODE_OF_NAME[name]
    match = re.fullmatch(r"char\[([1-9]\d{0,18})\]", name)
    if match:
        return match.group(1) + "s"
    match = re.fullmatch(r"std::array<(\w+), ([1-9]\d{0,18})>", name)
    if match and match.group(1) in _CODE_OF_NAME:
        return match.group(2) + _CODE_OF_NAME[match.group(1)]
    return None


def _layout_of(fmt):
    """(size, align) of native format `fmt`, by arithmetic alone."""
    runs, end = _layout(_tokens(fmt, fmt), True)
    align = max((run.align for run in runs), default=1)
    return (end + align - 1) // align * align, align


def element_type_for_name(name, size, align):
    """The ElementType a segment whose type is called `name` holds, given the
    element size and alignment its header records, when the name says
    (arithmetic types, char[N], std::array, std::atomic and the struct{...}
    names Python gives); None for other names (a C++ class) and for a name
    that does not match that size and alignment. Nothing is built from the
    name before that check."""
    atomic = False
    inner = name
    match = re.fullmatch(r"std::atomic<(\w+)>", name)
    if match:
        inner, atomic = match.group(1), True
    fmt = _format_of_name(inner)
    if fmt is None and not atomic:
        match = re.fullmatch(r"struct\{(.+)\}", name)
        if match:
            parts = [_format_of_name(part) for part in match.group(1).split(", ")]
            if parts and None not in parts:
                fmt = "".join(parts)
    if fmt is None:
        return None
    try:
        if _layout_of(fmt) != (size, align):
            return None
        element = element_type(fmt, atomic=atomic)
    except (ValueError, OverflowError, _struct.error):
        return None
    return element if element.type_name == name else None
