import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(os.environ.get("INDEXSTUDIO_GOLDEN", ROOT.parent / "shared" / "golden"))
sys.path.insert(0, str(ROOT / "tests"))


@pytest.fixture
def synthetic():
    from helpers.synthetic_engine import SyntheticEngine
    return SyntheticEngine()


@pytest.fixture(scope="session")
def kokoro():
    from indexstudio.engines import get_engine
    return get_engine("kokoro")
