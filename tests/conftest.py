import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(os.environ.get("INDEXSTUDIO_GOLDEN", ROOT.parent / "shared" / "golden"))
sys.path.insert(0, str(ROOT / "tests"))


def pytest_configure(config):
    """What runs note for later ones (the work folders a book was rendered into) goes to a folder of the test run's,
    not the user's: a quick-start run after the tests reused a test's work folder."""
    import tempfile
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="indexstudio-test-state-")


@pytest.fixture
def synthetic():
    from helpers.synthetic_engine import SyntheticEngine
    return SyntheticEngine()


@pytest.fixture(scope="session")
def kokoro():
    from indexstudio.engines import get_engine
    return get_engine("kokoro")


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB file system (tmpfs), where this machine lets us mount one."""
    import subprocess
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root, or no mount rights)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)])
