"""Shared fixtures for the smh package's tests (pytest).

The package under test is the one Python imports: ctest puts the build's
python-path first on PYTHONPATH (the sources of python/smh with the
extension smh._core built for that interpreter; python/CMakeLists.txt); with
SMH_TEST_INSTALLED=1 it must come from an installed copy (the ctest test
python.package.installed_with_pip sets it, in a fresh virtual environment).
By hand, after a build:
    PYTHONPATH=build/tests/python/python-path python3 -m pytest python/tests
SMH_TEST_HELPER and SMH_CLI name the C++ test helper and the smh tool (ctest
sets them); tests that need them are skipped without them.

Every segment a test makes is named smh-test-<pid>-py-..., so the suite's
leak check (tests/support/shm_audit.cmake) can tell whose it is; each test
fails if it leaves one behind, and removes it so the next does not fail too.

A test that needs NumPy takes the `numpy` fixture, which skips that test
alone where NumPy is missing. Never skip at module level
(`pytest.importorskip` outside a test): pytest then collects nothing from the
file, so the tests that need no NumPy do not run either, and it exits with 5
("no tests collected"), which ctest counts as a failure.
"""
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)

try:
    import smh  # noqa: F401
except ImportError as e:
    raise SystemExit(f"conftest.py: cannot import smh ({e}): build it and put the build's "
                     "python-path on PYTHONPATH, or install it (python/README.md)") from None

SHM = "/dev/shm"


def prefix():
    return f"smh-test-{os.getpid()}-py-"


def leftovers(tag):
    return sorted(n for n in os.listdir(SHM) if n.startswith(tag))


def pytest_sessionfinish(session, exitstatus):
    """With SMH_SKIPPED_EXIT_CODE set (ctest sets 77, its SKIP_RETURN_CODE), a
    run in which every test was skipped and none failed exits with that code,
    so that ctest reports it skipped instead of passed."""
    code = os.environ.get("SMH_SKIPPED_EXIT_CODE")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if not code or exitstatus != 0 or reporter is None:
        return
    ran = any(reporter.stats.get(outcome) for outcome in ("passed", "xfailed", "xpassed"))
    if reporter.stats.get("skipped") and not ran:
        session.exitstatus = int(code)


@pytest.fixture
def names(request):
    """A factory of fresh segment names; at the end, fails the test if one of
    them (or any other of this process's test names) is still in /dev/shm."""
    counter = iter(range(1, 1 << 30))
    test_tag = f"{prefix()}{abs(hash(request.node.nodeid)) % 10**8}-"

    def make(suffix=""):
        return f"{test_tag}{next(counter)}{suffix}"

    yield make
    left = leftovers(test_tag)
    for name in left:
        os.unlink(f"{SHM}/{name}")
    assert left == [], f"the test left segments behind: {left}"


@pytest.fixture
def numpy():
    """NumPy, or this test skipped (reported as such) where it is missing."""
    return pytest.importorskip("numpy", reason="NumPy is not installed (optional)")


@pytest.fixture
def helper():
    path = os.environ.get("SMH_TEST_HELPER")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("SMH_TEST_HELPER (the C++ smh_test_helper) is not set")
    return path


@pytest.fixture
def cli():
    path = os.environ.get("SMH_CLI")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("SMH_CLI (the smh tool) is not set")
    return path


def run_with_small_dev_shm(code, timeout=60):
    """Runs Python `code` in a private mount namespace (unshare -m) whose
    /dev/shm is an empty 1 MiB tmpfs; returns the finished process. Skips
    the test without root, unshare(1) or the mount."""
    import shutil
    import subprocess
    import sys
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a private tmpfs on /dev/shm")
    script = ("mount -t tmpfs -o size=1m,mode=1777 tmpfs /dev/shm || exit 77; "
              f'exec "{sys.executable}" -c "$SMH_CHILD"')
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, SMH_CHILD=code))
    if done.returncode == 77:
        pytest.skip(f"cannot mount a tmpfs in a private namespace: {done.stderr.strip()}")
    assert done.returncode == 0, f"exit {done.returncode} (SIGBUS is -7):\n{done.stderr}"
    return done
