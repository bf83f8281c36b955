"""Run by the ctest test python.package.installed_with_pip: the package under
test is the one pip installed into a fresh virtual environment, not this
checkout. Skipped elsewhere."""
import os
import sys

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("SMH_TEST_INSTALLED") != "1",
                                reason="only for the installed package (SMH_TEST_INSTALLED=1)")


def test_smh_comes_from_the_virtual_environment():
    import smh

    source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert sys.prefix != sys.base_prefix, "not running in a virtual environment"
    assert os.path.abspath(smh.__file__).startswith(os.path.abspath(sys.prefix) + os.sep)
    assert not os.path.abspath(smh.__file__).startswith(source + os.sep)
    assert "site-packages" in smh.__file__


def test_the_installed_package_works(names):
    from smh import SharedMemoryHandlee

    with SharedMemoryHandlee(3, "iif", name=names()) as shm:
        shm[-1] = (1, 2, 3.0)
        assert SharedMemoryHandlee.attach(shm.name)[2] == (1, 2, 3.0)
