"""The one exception type every smh operation raises, with the C++
library's error names (smh::errc)."""
import enum
import errno
import os

__all__ = ["errc", "Error"]


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


class Error(Exception):
    """Raised by every failing smh operation (never a raw OSError). str(e) reads
        attach "w1": not_found (open: No such file or directory)
    i.e. the operation, the segment, the reason (`code`, an errc) and the
    detail. `errno` is the OS error number where the OS was involved, else None."""

    def __init__(self, code, operation, name, detail="", native=None):
        self.code = errc(code)
        self.operation = operation
        self.name = name
        self.detail = detail
        self.errno = native
        text = f'{operation} "{name}": {self.code.value}'
        if detail:
            text += f" ({detail})"
        super().__init__(text)

    def __reduce__(self):  # so that a pool can send it back to the parent
        return (type(self), (self.code.value, self.operation, self.name, self.detail, self.errno))


# errno -> errc, as the C++ library maps them (errc_from_native).
_ERRC_OF_ERRNO = {
    errno.ENOENT: errc.not_found, errno.EEXIST: errc.already_exists,
    errno.EACCES: errc.permission_denied, errno.EPERM: errc.permission_denied,
    errno.ENOSPC: errc.no_space, errno.EDQUOT: errc.no_space, errno.EFBIG: errc.no_space,
    errno.ENAMETOOLONG: errc.invalid_name,
}


def native_error(error, operation, name, what):
    """The Error for the OSError `error` raised while doing `what`."""
    number = error.errno
    code = _ERRC_OF_ERRNO.get(number, errc.os_error)
    reason = error.strerror or (os.strerror(number) if number else str(error))
    return Error(code, operation, name, f"{what}: {reason}", number)
