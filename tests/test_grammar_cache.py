"""Grammar caches: built in a staging folder, published atomically, clear error when unwritable."""
from pathlib import Path

import pytest

from indexstudio.errors import EngineError
from indexstudio.text.grammar_cache import compile_into


def _build(label: str):
    def build(staging: Path) -> str:
        (staging / "tagger.fst").write_text(label)
        return label
    return build


def test_built_grammar_is_published_and_an_earlier_one_is_kept(tmp_path):
    cache = tmp_path / "cache" / "zh"
    assert compile_into(cache, _build("first"), "test grammar") == "first"
    assert (cache / "tagger.fst").read_text() == "first"
    # another process built it meanwhile: its folder stays, the new staging folder goes
    assert compile_into(cache, _build("second"), "test grammar") == "second"
    assert (cache / "tagger.fst").read_text() == "first"
    assert sorted(p.name for p in cache.parent.iterdir()) == ["zh"]


def test_failed_build_leaves_nothing_behind(tmp_path):
    def broken(staging: Path):
        (staging / "partial.fst").write_text("x")
        raise RuntimeError("grammar failed")
    with pytest.raises(RuntimeError, match="grammar failed"):
        compile_into(tmp_path / "zh", broken, "test grammar")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_cache_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(EngineError, match="INDEXSTUDIO_CACHE"):
        compile_into(blocker / "zh", _build("x"), "test grammar")
