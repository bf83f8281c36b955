"""The creation and attach protocol, seen from Python (docs/layout.md). The
protocol is the C++ library's (smh._core); its own tests (tests/posix/)
cover its inner steps, such as building under a hidden name where O_TMPFILE
or /proc is missing. These check what a Python user sees through the package:

- a segment's name appears only once the segment is complete, so an attach
  never sees a segment that is not ready and never waits;
- create under a taken name is already_exists and leaves that file alone;
- a create that fails (RLIMIT_FSIZE) leaves nothing behind;
- attach neither blocks nor follows: a FIFO, a symbolic link, a directory, a
  short or unready file are corrupt_segment at once, a leased file is
  permission_denied;
- a new segment has exactly its mode, whatever the umask, and its owner.
"""
import fcntl
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import time

import pytest

from smh import Error, SharedMemoryHandlee

SHM = "/dev/shm"
QUICK = 1.0  # seconds: "at once"
STATE_CREATING, STATE_READY = 0x43524541, 0x59444552


def path(name):
    return f"{SHM}/{name}"


def run_child(code, *args, timeout=10.0):
    """Runs `code` (Python, with sys.argv[1:] = args) in a child; its JSON answer."""
    try:
        done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the child did not finish within {timeout} s: it blocked") from None
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


ATTACH = """
import json, sys, time
import smh
start = time.monotonic()
try:
    smh.SharedMemoryHandlee.attach(sys.argv[1]).close()
    code = "ok"
except smh.Error as e:
    code = e.code.value
print(json.dumps({"code": code, "seconds": time.monotonic() - start}))
"""


def attach_outcome(name):
    answer = run_child(ATTACH, name)
    return answer["code"], answer["seconds"]


def snapshot(name):
    """What a create must not change: the file's identity, mode, size, bytes."""
    info = os.lstat(path(name))
    data = os.readlink(path(name)) if stat.S_ISLNK(info.st_mode) else (
        open(path(name), "rb").read() if stat.S_ISREG(info.st_mode) else None)
    return (info.st_ino, info.st_mode, info.st_size, info.st_mtime_ns, data)


def test_a_fifo_under_the_name_is_corrupt_at_once(names):
    name = names()
    os.mkfifo(path(name), 0o600)
    try:
        code, seconds = attach_outcome(name)  # a plain open would block for ever
        assert code == "corrupt_segment" and seconds < QUICK
    finally:
        os.unlink(path(name))


def test_a_symbolic_link_or_a_directory_is_corrupt(names):
    with SharedMemoryHandlee(4, "i", name=names()) as target:
        made = []
        try:
            for points_to in (path(target.name), path(names()), target.name):
                link = names()
                os.symlink(points_to, path(link))
                made.append(link)
            directory = names()
            os.mkdir(path(directory))
            for name in made + [directory]:
                code, seconds = attach_outcome(name)
                assert code == "corrupt_segment" and seconds < QUICK, name
        finally:
            for name in made:
                os.unlink(path(name))
            os.rmdir(path(directory))


def test_a_leased_file_is_permission_denied_at_once(names):
    name = names()
    with open(path(name), "wb") as f:
        f.write(bytes(256))
    old = signal.signal(signal.SIGIO, signal.SIG_IGN)  # the lease break notice
    fd = os.open(path(name), os.O_RDONLY)
    try:
        try:
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        except OSError as e:
            pytest.skip(f"no write lease here: {e}")
        code, seconds = attach_outcome(name)  # a plain open would wait 45 s
        assert code == "permission_denied" and seconds < QUICK
    finally:
        os.close(fd)
        signal.signal(signal.SIGIO, old)
        os.unlink(path(name))


def test_a_missing_segment_is_not_found(names):
    assert attach_outcome(names())[0] == "not_found"


def test_a_short_or_unready_file_is_corrupt_at_once(names):
    with SharedMemoryHandlee(16, "i", name=names()) as good:
        image = bytearray(open(path(good.name), "rb").read())
    cases = {"empty": b"", "short": image[:255]}
    for tag, state in (("state0", 0), ("creating", STATE_CREATING), ("unknown", 0x12345678)):
        struct.pack_into("=I", image, 12, state)  # the checksum does not cover it
        cases[tag] = bytes(image)
    made = []
    try:
        for tag, data in cases.items():
            name = names(tag)
            with open(path(name), "wb") as f:
                f.write(data)
            made.append(name)
            code, seconds = attach_outcome(name)
            assert code == "corrupt_segment" and seconds < QUICK, tag
    finally:
        for name in made:
            os.unlink(path(name))


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644])
def test_create_makes_a_ready_owned_segment_with_exactly_its_mode(mode, names):
    old = os.umask(0o077)
    try:
        with SharedMemoryHandlee(16, "q", name=names(), mode=mode) as shm:
            info = os.lstat(path(shm.name))
            assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == mode
            raw = open(path(shm.name), "rb").read(256)
            state, = struct.unpack_from("=I", raw, 12)
            creator, owner = struct.unpack_from("=qq", raw, 80)
            assert state == STATE_READY and creator == owner == os.getpid()
            with SharedMemoryHandlee.attach(shm.name) as other:
                shm[3] = (42,)
                assert other[3] == (42,) and len(other) == 16
    finally:
        os.umask(old)


def test_create_under_a_taken_name_is_already_exists_and_changes_nothing(names):
    with SharedMemoryHandlee(16, "i", name=names()) as existing:
        existing[0] = (1234,)
        fifo, text, dangling = names(), names(), names()
        os.mkfifo(path(fifo), 0o600)
        with open(path(text), "w") as f:
            f.write("not a segment\n")
        os.symlink(path(names()), path(dangling))
        try:
            for name in (existing.name, fifo, text, dangling):
                before = snapshot(name)
                for count in (16, 1000):
                    with pytest.raises(FileExistsError) as caught:
                        SharedMemoryHandlee(count, "d", name=name)
                    assert caught.value.code == "already_exists", name
                assert snapshot(name) == before, name
            assert existing[0] == (1234,)
        finally:
            for name in (fifo, text, dangling):
                os.unlink(path(name))


RLIMIT = """
import json, resource, signal, sys
import smh
name, limit = sys.argv[1], int(sys.argv[2])
# As a C++ program would have it: growing a file past the limit kills.
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
answer = {}
for tag, count in (("small", 100), ("big", limit // 4 + 1)):
    try:
        smh.SharedMemoryHandlee(count, "i", name=name).close()
        answer[tag] = "ok"
    except smh.Error as e:
        answer[tag] = e.code.value
print(json.dumps(answer))
"""


def test_over_rlimit_fsize_is_no_space_and_leaves_nothing(names):
    name = names()
    answer = run_child(RLIMIT, name, 1 << 20)
    assert answer == {"small": "ok", "big": "no_space"}  # and the child lived on
    assert not os.path.lexists(path(name))


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "/abs", "sp ace", "tab\t", "nl\n", "nul\0",
                                 "é", "a:b", "x" * 256, ".smh-creating-0123456789abcdef",
                                 ".smh-creating-", None, b"bytes"])
def test_bad_names_are_invalid_name(bad):
    operations = [lambda: SharedMemoryHandlee.attach(bad)]
    if bad is not None:
        operations.append(lambda: SharedMemoryHandlee(4, "i", name=bad))
    for operation in operations:
        with pytest.raises(ValueError) as caught:  # smh.InvalidNameError
            operation()
        assert isinstance(caught.value, Error) and caught.value.code == "invalid_name"


def test_good_names_work(names):
    prefix = names("-")
    for name in (prefix + "n" * (255 - len(prefix)), prefix + "A-z_0.9",
                 prefix + ".smh-creating-not-a-prefix-here"):
        with SharedMemoryHandlee(4, "i", name=name) as shm:
            shm[1] = (5,)
            with SharedMemoryHandlee.attach(name) as other:
                assert other[1] == (5,)


WATCH = """
import json, os, struct, sys, time
import smh
name, seconds = sys.argv[1], float(sys.argv[2])
print("ready", flush=True)
deadline = time.monotonic() + seconds
ok, bad = 0, []
while time.monotonic() < deadline and len(bad) < 10:
    try:
        fd = os.open("/dev/shm/" + name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        fd = None
    if fd is not None:
        try:
            size = os.fstat(fd).st_size
            header = os.pread(fd, 256, 0).ljust(16, b"\\0")
        finally:
            os.close(fd)
        state = struct.unpack_from("=I", header, 12)[0]
        if size < 256 or state != 0x59444552:
            bad.append(f"raw: {size} bytes, state {state:#x}")
    try:
        with smh.SharedMemoryHandlee.attach(name, "q"):
            ok += 1
    except smh.Error as e:
        if e.code != "not_found":
            bad.append(f"attach: {e}")
print(json.dumps({"ok": ok, "bad": bad}))
"""


def test_attach_never_sees_a_segment_that_is_not_ready(names):
    name = names()
    watcher = subprocess.Popen([sys.executable, "-c", WATCH, name, "1.5"],
                               stdout=subprocess.PIPE, text=True)
    created = 0
    try:
        assert watcher.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while watcher.poll() is None and time.monotonic() < deadline:
            with SharedMemoryHandlee(512, "q", name=name) as shm:
                shm[511] = (created,)
                time.sleep(0.0005)
            created += 1
        answer = json.loads(watcher.stdout.read().strip().splitlines()[-1])
    finally:
        if watcher.poll() is None:
            watcher.kill()
        watcher.wait()
        watcher.stdout.close()
    assert answer["bad"] == [], "a reader saw an incomplete segment"
    assert created > 0 and answer["ok"] > 0
