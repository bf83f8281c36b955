"""Errors a Python user can catch: each smh error is also the built-in
exception for its kind (FileNotFoundError for not_found ...), keeps the C++
library's code and message, and pickles."""
import errno
import os
import pickle
import signal
import subprocess
import sys

import pytest

import smh
from smh import Error, SharedMemoryHandlee, errc

BUILTINS = {
    errc.not_found: (FileNotFoundError, errno.ENOENT),
    errc.already_exists: (FileExistsError, errno.EEXIST),
    errc.permission_denied: (PermissionError, errno.EACCES),
    errc.no_space: (OSError, errno.ENOSPC),
    errc.os_error: (OSError, None),
    errc.invalid_name: (ValueError, None),
    errc.invalid_length: (ValueError, None),
    errc.corrupt_segment: (ValueError, None),
    errc.type_mismatch: (TypeError, None),
}


def caught(operation):
    with pytest.raises(Error) as info:
        operation()
    return info.value


def check(e, code):
    builtin, number = BUILTINS[code]
    assert e.code is code and e.code == code.value
    assert isinstance(e, builtin) and isinstance(e, Error), type(e).__mro__
    if number is not None:
        assert e.errno == number
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is type(e) and again.code is e.code and str(again) == str(e)


def test_each_error_is_also_the_builtin_a_python_user_expects(names):
    check(caught(lambda: SharedMemoryHandlee.attach(names())), errc.not_found)
    with SharedMemoryHandlee(2, "i", name=names()) as shm:
        e = caught(lambda: SharedMemoryHandlee(2, "i", name=shm.name))
        check(e, errc.already_exists)
        assert e.filename == shm.name
        check(caught(lambda: SharedMemoryHandlee.attach(shm.name, "d")), errc.type_mismatch)
    check(caught(lambda: SharedMemoryHandlee(0, "i", name=names())), errc.invalid_length)
    check(caught(lambda: SharedMemoryHandlee(2**62, "d", name=names())), errc.invalid_length)
    check(caught(lambda: SharedMemoryHandlee.attach("a/b")), errc.invalid_name)
    empty = names()
    open(f"/dev/shm/{empty}", "wb").close()
    try:
        check(caught(lambda: SharedMemoryHandlee.attach(empty, "i")), errc.corrupt_segment)
    finally:
        os.unlink(f"/dev/shm/{empty}")


def test_the_builtin_catches_them_where_a_python_user_would(names):
    with pytest.raises(FileNotFoundError):
        SharedMemoryHandlee.attach(names())
    with pytest.raises(ValueError):
        SharedMemoryHandlee(4, "i", name="no spaces")
    try:
        SharedMemoryHandlee.attach(names())
    except OSError as e:  # the usual catch-all for files
        assert e.code == "not_found" and "not_found" in str(e)


def test_a_full_filesystem_or_the_file_size_limit_is_an_oserror_with_enospc(names):
    code = ("import resource, signal, sys, errno, smh\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_DFL)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))\n"
            "try:\n    smh.SharedMemoryHandlee(1 << 20, 'q', name=sys.argv[1])\n"
            "except OSError as e:\n"
            "    print(type(e).__name__, e.code.value, e.errno == errno.ENOSPC, e.native_errno)\n")
    done = subprocess.run([sys.executable, "-c", code, names()], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    kind, code_name, is_enospc, native = done.stdout.split()
    assert (kind, code_name, is_enospc) == ("NoSpaceError", "no_space", "True")
    assert int(native) == errno.EFBIG  # what the OS said is kept beside it


def test_another_users_segment_is_a_permission_error(names):
    name = names()
    with open(f"/dev/shm/{name}", "wb") as f:
        f.write(bytes(256))
    old = signal.signal(signal.SIGIO, signal.SIG_IGN)
    fd = os.open(f"/dev/shm/{name}", os.O_RDONLY)
    try:
        import fcntl
        try:  # another process's lease: the OS refuses, as for another user's file
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        except OSError as e:
            pytest.skip(f"no write lease here: {e}")
        code = ("import sys, smh\ntry:\n    smh.SharedMemoryHandlee.attach(sys.argv[1], 'i')\n"
                "except PermissionError as e:\n    print(e.code.value)\n")
        done = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True,
                              timeout=30)
        assert done.stdout.strip() == "permission_denied", done.stderr
    finally:
        os.close(fd)
        signal.signal(signal.SIGIO, old)
        os.unlink(f"/dev/shm/{name}")


def test_error_makes_the_subclass_for_its_code():
    for code, (builtin, number) in BUILTINS.items():
        e = Error(code, "attach", "w1", "what happened", errno.EMFILE if code is errc.os_error
                  else None)
        assert isinstance(e, builtin) and type(e).code is code
        assert str(e) == f'attach "w1": {code.value} (what happened)'
        if code is errc.os_error:
            assert e.errno == errno.EMFILE
    assert smh.NotFoundError.code is errc.not_found
    assert issubclass(smh.TypeMismatchError, TypeError)
    assert issubclass(smh.NoSpaceError, OSError) and not issubclass(smh.NoSpaceError, ValueError)
