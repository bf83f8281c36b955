#!/usr/bin/env python3
"""The creation and attach protocol on Linux (docs/layout.md), through
smh_segment, whose Segment creates and attaches with the smh package's
smh._posix (the one implementation in Python; the tests replace its hooks):

- a segment's name appears only once the segment is complete (O_TMPFILE and
  linkat, or a locked hidden .smh-creating-<hex> file and link), so an attach
  never sees a segment that is not ready and never waits;
- create under a taken name is already_exists and leaves that file alone;
- a create that fails (a full filesystem, RLIMIT_FSIZE) leaves nothing behind;
- attach neither blocks nor follows: a FIFO, a symbolic link, a directory, a
  short or unready file are corrupt_segment at once, a leased file is
  permission_denied;
- names are those the C++ library accepts, anything else is invalid_name.

Run with either of
    python3 python/tests/test_protocol.py          (unittest, no pytest needed)
    python3 -m pytest python/tests/test_protocol.py
Everything it makes is named smh-test-py-<pid>-..., or
/dev/shm/.smh-creating-<pid as 8 hex digits>..., and removed again. The file
also runs the child processes the tests start: test_protocol.py --child ...
"""
import errno
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import smh_segment  # noqa: E402
from smh import _posix  # noqa: E402
from smh_segment import (HEADER_SIZE, STATE_CREATING, STATE_READY, Segment,  # noqa: E402
                         SegmentError)

try:
    import fcntl
    import resource
except ImportError:  # Windows: the tests skip
    fcntl = resource = None

SHM = "/dev/shm"
PREFIX = f"smh-test-py-{os.getpid()}-"
# Temporary names of forced fallback creations: ours, so the tests can look
# for them and remove them (a real one is 16 random hex digits).
TEMP_TAG = f"{os.getpid() & 0xFFFFFFFF:08x}"
LINUX = sys.platform.startswith("linux") and os.path.isdir(SHM)
QUICK = 1.0  # seconds: "at once" (the old attach waited 5 s)
F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)


def path(name):
    return f"{SHM}/{name}"


def temp_suffixes(tag=TEMP_TAG):
    """_posix.temp_suffix replacements: `tag` then a counter, 16 hex digits."""
    counter = iter(range(1, 1 << 32))
    return lambda: f"{tag}{next(counter):08x}"


def ours():
    """What this process (or its children, by their own tag) left in /dev/shm."""
    return sorted(n for n in os.listdir(SHM)
                  if n.startswith(PREFIX) or n.startswith(smh_segment.CREATING_PREFIX + TEMP_TAG))


def remove(name):
    full = path(name)
    try:
        if stat.S_ISDIR(os.lstat(full).st_mode):
            os.rmdir(full)
        else:
            os.unlink(full)
    except FileNotFoundError:
        pass


def force_fallback(test):
    """Makes create() in this process build a hidden temporary file."""
    patches = [mock.patch.object(_posix, "PROC_SELF_FD", "/nonexistent/proc/self/fd"),
               mock.patch.object(_posix, "temp_suffix", temp_suffixes())]
    for p in patches:
        p.start()
        test.addCleanup(p.stop)


def run_child(*args, timeout=5.0):
    """Runs this file as a child doing `args`; returns its JSON answer."""
    command = [sys.executable, os.path.abspath(__file__), "--child", *map(str, args)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{args[0]} did not finish within {timeout} s: it blocked") from None
    if done.returncode != 0:
        raise AssertionError(f"child {args} exited {done.returncode}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def attach_outcome(name):
    """The error code of Segment.attach(name), "ok", and how long it took."""
    start = time.monotonic()
    try:
        Segment.attach(name).close()
        code = "ok"
    except SegmentError as e:
        code = e.code
    return code, time.monotonic() - start


def read(file):
    with open(file, "rb") as f:
        return f.read()


def lock_on(file):
    """The type of a lock on byte 0 of `file` that another open file
    description holds (F_UNLCK: none). The C++ library's owner holds one."""
    fd = os.open(file, os.O_RDONLY)
    try:
        answer = fcntl.fcntl(fd, F_OFD_GETLK, _posix.flock(fcntl.F_WRLCK))
    finally:
        os.close(fd)
    return struct.unpack_from("h", answer)[0]


def snapshot(name):
    """What a create must not change: the file's identity, mode, size, bytes."""
    info = os.lstat(path(name))
    data = os.readlink(path(name)) if stat.S_ISLNK(info.st_mode) else (
        read(path(name)) if stat.S_ISREG(info.st_mode) else None)
    return (info.st_ino, info.st_mode, info.st_size, info.st_mtime_ns, data)


@unittest.skipUnless(LINUX and fcntl is not None, "the /dev/shm protocol is Linux's")
class ProtocolTest(unittest.TestCase):
    def setUp(self):
        self.addCleanup(self.clean)

    def clean(self):
        for name in ours():
            remove(name)

    def name(self, tag):
        return PREFIX + tag

    def create(self, tag, count=16, **kwargs):
        seg = Segment.create(self.name(tag), "int32", count, **kwargs)
        self.addCleanup(seg.close)
        return seg

    def assert_nothing_left(self, *names):
        self.assertEqual([n for n in ours() if n not in names], [],
                         "a create left files in /dev/shm")

    # --- attach never blocks and is never fooled -----------------------------

    def test_a_fifo_under_the_name_is_corrupt_at_once(self):
        name = self.name("fifo")
        os.mkfifo(path(name), 0o600)
        answer = run_child("attach", name)  # a plain open would block forever
        self.assertEqual(answer["code"], "corrupt_segment")
        self.assertLess(answer["seconds"], QUICK)

    def test_a_symbolic_link_is_corrupt(self):
        target = self.create("target")
        target[0] = 7
        for tag, points_to in (("link", path(target.name)), ("dangling", path(self.name("none"))),
                               ("relative", target.name)):
            name = self.name(tag)
            os.symlink(points_to, path(name))
            code, seconds = attach_outcome(name)
            self.assertEqual(code, "corrupt_segment", tag)
            self.assertLess(seconds, QUICK)

    def test_a_directory_is_corrupt(self):
        name = self.name("dir")
        os.mkdir(path(name))
        self.assertEqual(attach_outcome(name)[0], "corrupt_segment")

    def test_a_leased_file_is_permission_denied_at_once(self):
        name = self.name("leased")
        with open(path(name), "wb") as f:
            f.write(bytes(HEADER_SIZE))
        old = signal.signal(signal.SIGIO, signal.SIG_IGN)  # the lease break notice
        self.addCleanup(signal.signal, signal.SIGIO, old)
        fd = os.open(path(name), os.O_RDONLY)
        self.addCleanup(os.close, fd)
        try:
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        except OSError as e:
            self.skipTest(f"no write lease here: {e}")
        answer = run_child("attach", name)  # a plain open would wait 45 s
        self.assertEqual(answer["code"], "permission_denied")
        self.assertLess(answer["seconds"], QUICK)

    def test_no_permission_is_permission_denied(self):
        seg = self.create("private", mode=0o600)
        if os.geteuid() == 0:
            answer = run_child("attach-as-nobody", seg.name)
            self.assertEqual(answer["code"], "permission_denied")
        else:
            os.chmod(path(seg.name), 0)
            self.assertEqual(attach_outcome(seg.name)[0], "permission_denied")

    def test_a_missing_segment_is_not_found(self):
        self.assertEqual(attach_outcome(self.name("missing"))[0], "not_found")

    def test_a_short_or_unready_file_is_corrupt_at_once(self):
        good = self.create("good")
        image = bytearray(read(path(good.name)))
        cases = {"empty": b"", "short": image[:HEADER_SIZE - 1]}
        for tag, state in (("state0", 0), ("creating", STATE_CREATING), ("unknown", 0x12345678)):
            struct.pack_into("=I", image, 12, state)  # the checksum does not cover it
            cases[tag] = bytes(image)
        for tag, data in cases.items():
            name = self.name(tag)
            with open(path(name), "wb") as f:
                f.write(data)
            code, seconds = attach_outcome(name)
            self.assertEqual(code, "corrupt_segment", tag)
            self.assertLess(seconds, QUICK, tag)

    # --- create --------------------------------------------------------------

    def check_created(self, seg, mode):
        info = os.lstat(path(seg.name))
        self.assertTrue(stat.S_ISREG(info.st_mode))
        self.assertEqual(stat.S_IMODE(info.st_mode), mode)
        with open(path(seg.name), "rb") as f:
            header = Segment._parse(f.read(HEADER_SIZE))
        self.assertEqual(header["state"], STATE_READY)
        self.assertEqual(header["owner_pid"], 0)  # no owner, as before
        self.assertEqual((header["owner_start_time"], header["owner_token"]), (0, 0))
        self.assertEqual(header["creator_pid"], os.getpid())
        self.assertEqual(lock_on(path(seg.name)), fcntl.F_UNLCK)  # no owner's lock either
        with Segment.attach(seg.name, type_name="int32") as other:
            self.assertEqual(len(other), len(seg))
            seg[3] = 42
            self.assertEqual(other[3], 42)

    def test_create_makes_a_ready_segment_with_exactly_its_mode(self):
        old = os.umask(0o077)
        self.addCleanup(os.umask, old)
        with mock.patch.object(_posix, "temp_suffix",
                               side_effect=AssertionError("fell back")):
            seg = self.create("direct", mode=0o644)  # O_TMPFILE and linkat
        self.check_created(seg, 0o644)
        self.assert_nothing_left(seg.name)

    def test_the_fallback_makes_a_ready_segment_with_exactly_its_mode(self):
        force_fallback(self)
        old = os.umask(0o077)
        self.addCleanup(os.umask, old)
        seg = self.create("fallback", mode=0o640)
        self.check_created(seg, 0o640)
        self.assert_nothing_left(seg.name)

    def test_without_o_tmpfile_it_falls_back(self):
        real_open = os.open

        for error in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            def no_tmpfile(file, flags, *args, **kwargs):
                if (flags & os.O_TMPFILE) == os.O_TMPFILE:
                    raise OSError(error, os.strerror(error))
                return real_open(file, flags, *args, **kwargs)

            suffix = mock.Mock(side_effect=temp_suffixes())
            with mock.patch.object(_posix.os, "open", no_tmpfile), \
                    mock.patch.object(_posix, "temp_suffix", suffix):
                seg = self.create(f"no-tmpfile-{error}")
            self.assertEqual(suffix.call_count, 1)
            self.check_created(seg, 0o600)
            self.assert_nothing_left(seg.name)
            seg.unlink()

    def test_without_proc_self_fd_entries_it_falls_back(self):
        empty = tempfile.mkdtemp()  # exists, but has no entry for the descriptor
        self.addCleanup(os.rmdir, empty)
        suffix = mock.Mock(side_effect=temp_suffixes())
        with mock.patch.object(_posix, "PROC_SELF_FD", empty), \
                mock.patch.object(_posix, "temp_suffix", suffix):
            seg = self.create("no-proc")
        self.assertEqual(suffix.call_count, 1)
        self.check_created(seg, 0o600)
        self.assert_nothing_left(seg.name)

    def test_the_fallback_holds_a_read_lock_while_it_builds(self):
        force_fallback(self)
        name = self.name("locked")
        seen = {}
        real_build = _posix._build

        def build(fd, *args):
            temps = [n for n in ours() if n.startswith(smh_segment.CREATING_PREFIX)]
            seen["temps"] = temps
            seen["lock"] = lock_on(path(temps[0]))
            mapped = real_build(fd, *args)
            seen["named before linked"] = os.path.lexists(path(name))
            return mapped

        with mock.patch.object(_posix, "_build", build):
            seg = Segment.create(name, "int32", 8)
        self.addCleanup(seg.close)
        self.assertEqual(len(seen["temps"]), 1)
        self.assertRegex(seen["temps"][0], r"^\.smh-creating-[0-9a-f]{16}$")
        self.assertEqual(seen["lock"], fcntl.F_RDLCK)
        self.assertFalse(seen["named before linked"])
        self.assert_nothing_left(name)
        self.assertEqual(lock_on(path(name)), fcntl.F_UNLCK)  # released once named

    def test_the_flock_struct_is_the_c_one(self):
        if os.uname().machine in ("x86_64", "aarch64"):
            self.assertEqual(_posix.flock(fcntl.F_RDLCK),
                             struct.pack("hh4xqqi4x", fcntl.F_RDLCK, os.SEEK_SET, 0, 1, 0))

    def check_existing_untouched(self, fallback):
        if fallback:
            force_fallback(self)
        existing = self.create("taken")
        existing[0] = 1234
        fifo, text = self.name("taken-fifo"), self.name("taken-text")
        dangling = self.name("taken-link")
        os.mkfifo(path(fifo), 0o600)
        with open(path(text), "w") as f:
            f.write("not a segment\n")
        os.symlink(path(self.name("nowhere")), path(dangling))
        for name in (existing.name, fifo, text, dangling):
            before = snapshot(name)
            for count in (16, 1000):
                with self.assertRaises(SegmentError) as caught:
                    Segment.create(name, "float64", count)
                self.assertEqual(caught.exception.code, "already_exists", name)
            self.assertEqual(snapshot(name), before, name)
        self.assertEqual(existing[0], 1234)
        self.assert_nothing_left(existing.name, fifo, text, dangling)

    def test_create_under_a_taken_name_is_already_exists_and_changes_nothing(self):
        self.check_existing_untouched(fallback=False)

    def test_the_fallback_under_a_taken_name_is_already_exists_and_changes_nothing(self):
        self.check_existing_untouched(fallback=True)

    def test_over_rlimit_fsize_is_no_space_and_leaves_nothing(self):
        for fallback in (0, 1):
            name = self.name(f"rlimit-{fallback}")
            answer = run_child("create-rlimit", name, 1 << 20, fallback, TEMP_TAG)
            self.assertEqual(answer["small"], "ok")  # within the limit: created
            self.assertEqual(answer["big"], "no_space")  # and the child lived on
            self.assert_nothing_left()

    def test_a_full_filesystem_is_no_space_and_leaves_nothing(self):
        for fallback in (False, True):
            with mock.patch.object(_posix, "temp_suffix", temp_suffixes()):
                for error, code in ((errno.ENOSPC, "no_space"), (errno.ENOMEM, "no_space"),
                                    (errno.EIO, "os_error")):
                    with mock.patch.object(_posix.os, "posix_fallocate",
                                           side_effect=OSError(error, os.strerror(error))), \
                            mock.patch.object(_posix, "PROC_SELF_FD",
                                              "/nonexistent" if fallback else "/proc/self/fd"):
                        with self.assertRaises(SegmentError) as caught:
                            Segment.create(self.name("full"), "int32", 100)
                    self.assertEqual(caught.exception.code, code)
                    self.assert_nothing_left()
                # A filesystem that cannot preallocate makes a lazily allocated segment.
                for error in (errno.EOPNOTSUPP, errno.EINVAL):
                    with mock.patch.object(_posix.os, "posix_fallocate",
                                           side_effect=OSError(error, os.strerror(error))):
                        seg = Segment.create(self.name("lazy"), "int32", 100)
                    seg.unlink()
                    seg.close()

    # --- names ---------------------------------------------------------------

    def test_bad_names_are_invalid_name(self):
        bad = ["", ".", "..", "a/b", "/abs", "sp ace", "tab\t", "nl\n", "nul\0", "é", "a:b",
               "x" * 256, ".smh-creating-0123456789abcdef", ".smh-creating-", None, b"bytes"]
        for name in bad:
            for operation in (lambda: Segment.attach(name),
                              lambda: Segment.create(name, "int32", 4)):
                with self.assertRaises(SegmentError) as caught:
                    operation()
                self.assertEqual(caught.exception.code, "invalid_name", repr(name))
        self.assert_nothing_left()

    def test_good_names_work(self):
        longest = PREFIX + "n" * (255 - len(PREFIX))
        for name in (longest, PREFIX + "A-z_0.9", PREFIX + ".smh-creating-not-a-prefix-here"):
            seg = Segment.create(name, "int32", 4)
            seg[1] = 5
            with Segment.attach(name) as other:
                self.assertEqual(other[1], 5)
            seg.unlink()
            seg.close()
        self.assert_nothing_left()

    # --- a segment is never seen unready ------------------------------------

    def test_attach_never_sees_a_segment_that_is_not_ready(self):
        for fallback in (False, True):
            with self.subTest(fallback=fallback):
                if fallback:
                    force_fallback(self)
                self.race(self.name(f"race-{int(fallback)}"))

    def race(self, name):
        watcher = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", "watch", name, "1.5"],
            stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(watcher.stdout.readline().strip(), "ready")
            created = 0
            while watcher.poll() is None:
                seg = Segment.create(name, "int64", 512)
                seg[511] = created
                time.sleep(0.0005)
                seg.unlink()
                seg.close()
                created += 1
            answer = json.loads(watcher.stdout.read().strip().splitlines()[-1])
        finally:
            if watcher.poll() is None:
                watcher.kill()
            watcher.wait()
            watcher.stdout.close()
        self.assertEqual(answer["bad"], [], "a reader saw an incomplete segment")
        self.assertGreater(created, 0)
        self.assertGreater(answer["ok"], 0, "the reader never caught a segment")
        self.assert_nothing_left()


# --- the children ----------------------------------------------------------

def child_attach(name):
    code, seconds = attach_outcome(name)
    return {"code": code, "seconds": seconds}


def child_attach_as_nobody(name):
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    return child_attach(name)


def child_create_rlimit(name, limit, fallback, tag):
    limit = int(limit)
    if int(fallback):
        _posix.PROC_SELF_FD = "/nonexistent/proc/self/fd"
        _posix.temp_suffix = temp_suffixes(tag)  # the parent's, for it to check
    # As a C++ program would have it: growing a file past the limit kills.
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    answer = {}
    for tag, count in (("small", 100), ("big", limit // 4 + 1)):
        try:
            seg = Segment.create(name, "int32", count)
            seg.unlink()
            seg.close()
            answer[tag] = "ok"
        except SegmentError as e:
            answer[tag] = e.code
    return answer


def child_watch(name, seconds):
    """Until `seconds` have passed, looks at `name` as fast as it can: raw
    (any file under the name must be a whole, ready segment) and through
    attach (which must succeed or find nothing)."""
    print("ready", flush=True)
    deadline = time.monotonic() + float(seconds)
    ok, bad = 0, []
    while time.monotonic() < deadline and len(bad) < 10:
        try:
            fd = os.open(path(name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = None
        if fd is not None:
            try:
                size = os.fstat(fd).st_size
                header = os.pread(fd, HEADER_SIZE, 0).ljust(16, b"\0")
                state = struct.unpack_from("=I", header, 12)[0]
            finally:
                os.close(fd)
            if size < HEADER_SIZE or state != STATE_READY:
                bad.append(f"raw: {size} bytes, state {state:#x}")
        try:
            with Segment.attach(name, timeout=0):
                ok += 1
        except SegmentError as e:
            if e.code != "not_found":
                bad.append(f"attach: {e}")
    return {"ok": ok, "bad": bad}


CHILDREN = {"attach": child_attach, "attach-as-nobody": child_attach_as_nobody,
            "create-rlimit": child_create_rlimit, "watch": child_watch}

if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(CHILDREN[sys.argv[2]](*sys.argv[3:])), flush=True)
    else:
        unittest.main()
