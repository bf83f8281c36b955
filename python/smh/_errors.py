"""The errors every smh operation raises: smh.Error, with the C++ library's
error names (smh::errc), and one subclass per name that is also the built-in
exception a Python user catches for that kind of failure:

    errc                 class                  also a        errno
    not_found            NotFoundError          FileNotFoundError   ENOENT
    already_exists       AlreadyExistsError     FileExistsError     EEXIST
    permission_denied    PermissionDeniedError  PermissionError     the OS's (EACCES)
    no_space             NoSpaceError           OSError             ENOSPC
    os_error             OperatingSystemError   OSError             the OS's
      (ETIMEDOUT)        TimedOutError          TimeoutError        ETIMEDOUT
    invalid_name         InvalidNameError       ValueError
    invalid_length       InvalidLengthError     ValueError
    corrupt_segment      CorruptSegmentError    ValueError
    type_mismatch        TypeMismatchError      TypeError

So `except FileNotFoundError`, `except smh.Error` and `e.code == "not_found"`
all work. Most are raised by the C++ library (smh._core turns its smh::error
into these, keeping its message)."""
import enum
import errno as _errno
import re

__all__ = ["errc", "Error", "NotFoundError", "AlreadyExistsError", "InvalidNameError",
           "InvalidLengthError", "TypeMismatchError", "CorruptSegmentError",
           "PermissionDeniedError", "NoSpaceError", "OperatingSystemError", "TimedOutError"]


class errc(str, enum.Enum):
    """Why an smh operation failed: the names of C++'s smh::errc. A str, so
    `e.code == "not_found"` works as well as `e.code is errc.not_found`."""

    not_found = "not_found"                  # no segment of that name
    already_exists = "already_exists"        # create: the name is taken (left untouched)
    invalid_name = "invalid_name"            # empty, too long, a character outside [A-Za-z0-9._-]
    invalid_length = "invalid_length"        # zero elements, or a size that overflows
    type_mismatch = "type_mismatch"          # the segment holds another element type
    corrupt_segment = "corrupt_segment"      # not a valid smh segment (or not a regular file)
    permission_denied = "permission_denied"  # the OS refused access
    no_space = "no_space"                    # the shared-memory filesystem cannot hold it
    os_error = "os_error"                    # any other OS failure; .errno says which

    def __str__(self):
        return self.value


# C++'s enum values, in order from 1 (include/smh/error.hpp).
_CPP_ORDER = list(errc)


class Error(Exception):
    """Raised by every failing smh operation. str(e) reads
        attach "w1": not_found (open: No such file or directory)
    i.e. the operation, the segment, the reason and the detail. `code` is an
    errc; `operation`, `name` and `detail` are those parts; `native_errno`
    is the OS's error number where the OS was involved, else None. Each
    instance is of the subclass for its code, which is also a built-in
    exception (see the module's table); Error(code, ...) makes that subclass."""

    code = None
    _builtin = Exception
    _errno = None

    def __new__(cls, code=None, *args, **kwargs):
        if cls is Error:
            cls = _CLASSES[errc(code)]
            native = args[3] if len(args) > 3 else kwargs.get("native")
            if cls is OperatingSystemError and native == _errno.ETIMEDOUT:
                cls = TimedOutError
        return super().__new__(cls)

    def __init__(self, code, operation, name, detail="", native=None, text=None):
        code = errc(code)
        if text is None:
            text = f'{operation} "{name}": {code.value}' if name else f"{operation}: {code.value}"
            if detail:
                text += f" ({detail})"
        self.code = code
        self.operation = operation
        self.name = name
        self.detail = detail
        self.native_errno = native
        self._text = text
        if issubclass(self._builtin, OSError):
            number = self._errno if self._errno == _errno.ENOSPC else (native or self._errno)
            self.args = (number, text)
            self.errno = number
            self.strerror = text
            self.filename = name or None
        else:
            self._builtin.__init__(self, text)
            self.errno = native

    def __str__(self):
        return self._text

    def __repr__(self):
        return f"{type(self).__name__}({self._text!r})"

    def __reduce__(self):  # so that a pool sends it back to the parent
        return (_rebuild, (self.code.value, self.operation, self.name, self.detail,
                           self.native_errno, self._text))


def _rebuild(code, operation, name, detail, native, text):
    return Error(code, operation, name, detail, native, text)


def _error_class(class_name, code, builtin, number, doc):
    return type(class_name, (Error, builtin), {
        "__doc__": doc, "__module__": "smh", "code": code, "_builtin": builtin,
        "_errno": number})


NotFoundError = _error_class("NotFoundError", errc.not_found, FileNotFoundError,
                             _errno.ENOENT, "No segment of that name (errc.not_found).")
AlreadyExistsError = _error_class("AlreadyExistsError", errc.already_exists, FileExistsError,
                                  _errno.EEXIST, "create: the name is taken (errc.already_exists).")
PermissionDeniedError = _error_class("PermissionDeniedError", errc.permission_denied,
                                     PermissionError, _errno.EACCES,
                                     "The OS refused access (errc.permission_denied).")
NoSpaceError = _error_class("NoSpaceError", errc.no_space, OSError, _errno.ENOSPC,
                            "The shared-memory filesystem cannot hold the segment, or it is "
                            "beyond the file-size limit (errc.no_space); errno is ENOSPC.")
OperatingSystemError = _error_class("OperatingSystemError", errc.os_error, OSError, None,
                                    "Any other OS failure (errc.os_error); errno says which.")
TimedOutError = type("TimedOutError", (OperatingSystemError, TimeoutError), {
    "__doc__": "A wait the OS was not to end in time: grow() waited for its turn among growers "
               "past its timeout (errc.os_error, errno ETIMEDOUT); also a TimeoutError.",
    "__module__": "smh"})
InvalidNameError = _error_class("InvalidNameError", errc.invalid_name, ValueError, None,
                                "Not a segment name (errc.invalid_name).")
InvalidLengthError = _error_class("InvalidLengthError", errc.invalid_length, ValueError, None,
                                  "Zero elements, or more than fit in memory "
                                  "(errc.invalid_length).")
CorruptSegmentError = _error_class("CorruptSegmentError", errc.corrupt_segment, ValueError, None,
                                   "The name holds something that is not a valid smh segment "
                                   "(errc.corrupt_segment).")
TypeMismatchError = _error_class("TypeMismatchError", errc.type_mismatch, TypeError, None,
                                 "The segment holds another element type (errc.type_mismatch).")

_CLASSES = {cls.code: cls for cls in (
    NotFoundError, AlreadyExistsError, PermissionDeniedError, NoSpaceError, OperatingSystemError,
    InvalidNameError, InvalidLengthError, CorruptSegmentError, TypeMismatchError)}

_MESSAGE = re.compile(r'^(\S+?)(?: "(.*)")?: ([a-z_]+)(?: \((.*)\))?$', re.DOTALL)


def _from_cpp(code, text, native):
    """The Error for a C++ smh::error: C++'s errc value, its what(), and its
    native_code() (an errno, or None)."""
    code = _CPP_ORDER[code - 1] if 1 <= code <= len(_CPP_ORDER) else errc.os_error
    match = _MESSAGE.match(text)
    operation, name, detail = (match.group(1), match.group(2) or "", match.group(4) or "") \
        if match else ("", "", text)
    return Error(code, operation, name, detail, native, text)
