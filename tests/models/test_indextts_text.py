"""IndexTTS 1.5 / 2 text front-end: golden cases, segmenting rules, glossary, bad input."""
from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from indexstudio.conformance.runner import run_folder
from indexstudio.errors import EngineError
from indexstudio.models.folder import ModelFolder, ModelFolderError
from indexstudio.text.indextts import (IndexTextFrontend, IndexTextNormalizer, infer_fast_buckets, load_text_frontend,
                                       pad_text_batch, space_cjk_upper, split_segments)

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
V2 = GOLDEN / "indextts2"
V1_5 = GOLDEN / "indextts1_5"


@pytest.fixture(scope="module")
def frontend() -> IndexTextFrontend:
    return load_text_frontend(ModelFolder(V2))


def test_v2_golden_text_case():
    results = run_folder(V2, only=["h1_text_tokenizer"])
    assert len(results) == 1
    assert all(r.passed for r in results), [str(r) for r in results]


def test_v1_5_golden_text_cases():
    results = run_folder(V1_5, only=["h1_text_tokenizer_and_buckets", "h2_pad_tokens_cat"])
    assert len(results) == 2
    assert all(r.passed for r in results), [str(r) for r in results]


def test_cjk_spacing_and_single_character_shortcut(frontend):
    assert space_cjk_upper(" 我今天用 Python 写 ") == "我 今 天 用 PYTHON 写"
    # one visible character goes to sentencepiece untouched (not upper-cased)
    assert frontend.model_input("a") == "a"
    assert frontend.model_input("ab") == "AB"
    assert frontend.tokenize("") == []


def test_normalizer_protections(frontend):
    out = frontend.normalize("约瑟夫·高登-莱维特在2010年演了GPT-5，晕xuan4。")
    assert "约瑟夫-高登-莱维特在" in out         # the name's hyphen is not read as a minus sign
    assert "GPT-五" in out                       # hyphenated terms keep their hyphen
    assert "XVAN4" in out and "二零一零" in out  # pinyin respelled, numbers read
    assert frontend.normalize("who's <行|xing2> there") == "who is <行|xing2> there"


def test_normalizer_is_thread_safe(frontend):
    texts = ["会议在2025年9月8日举行", "Call 555-0199 before 8:30 AM.", "效果666", "The total is 1,234 dollars."] * 8
    serial = [frontend.normalize(t) for t in texts]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(frontend.normalize, texts)) == serial


def test_glossary_replaces_terms_per_language():
    normalizer = IndexTextNormalizer({"C++": {"en": "C plus plus", "zh": "C 加加"}, "TTS": "T T S"})
    assert normalizer.normalize("I like c++ and tts.") == "I like C plus plus and T T S."
    assert "C 加加" in normalizer.normalize("我喜欢C++")


def test_split_segments_rules():
    tokens = ["▁A", "B", "C", ".", "'", "▁D", "E", "F", "."]
    # a quote after a sentence end closes that sentence and also opens the next one (official quirk)
    assert split_segments(tokens, max_tokens=5) == [["▁A", "B", "C", ".", "'"], ["'", "▁D", "E", "F", "."]]
    run = [f"▁W{i}" for i in range(7)]
    # an unpunctuated run is cut where it first overflows, then continues afresh
    assert split_segments(run, max_tokens=3) == [run[0:3], run[3:4], run[4:7]]
    assert split_segments(["▁A", ",", "▁B", "."], max_tokens=10) == [["▁A", ",", "▁B", "."]]
    with pytest.raises(ValueError, match="max_tokens"):
        split_segments(tokens, max_tokens=0)


def test_infer_fast_buckets_small_input_is_one_ordered_bucket():
    segments = [["a"] * 3, ["b"] * 1]
    assert [[it["idx"] for it in b] for b in infer_fast_buckets(segments, 4)] == [[0, 1]]
    buckets = infer_fast_buckets([["x"] * n for n in (8, 1, 8, 1, 4)], 2)
    assert sorted(it["idx"] for b in buckets for it in b) == [0, 1, 2, 3, 4]
    assert all(len(b) <= 2 for b in buckets)


def test_pad_batch_shapes():
    batch = pad_text_batch([torch.tensor([[5, 6, 7]], dtype=torch.int32), torch.tensor([9], dtype=torch.int32)], 1)
    assert batch.tolist() == [[5, 6, 7], [9, 1, 1]] and batch.dtype == torch.int32
    with pytest.raises(ValueError, match="shape"):
        pad_text_batch([torch.zeros(2, 3, dtype=torch.int32)], 1)


def test_missing_bpe_model_is_named(tmp_path):
    shutil.copy(V2 / "config.yaml", tmp_path / "config.yaml")
    with pytest.raises(ModelFolderError, match="sentencepiece"):
        load_text_frontend(ModelFolder(tmp_path))


def test_unreadable_bpe_model(tmp_path, frontend):
    bad = tmp_path / "bpe.model"
    bad.write_bytes(b"not a sentencepiece model")
    with pytest.raises(EngineError, match="sentencepiece"):
        IndexTextFrontend(bad, frontend.normalizer)


def test_bad_glossary_is_reported(tmp_path):
    for name in ("config.yaml", "bpe.model"):
        shutil.copy(V2 / name, tmp_path / name)
    (tmp_path / "glossary.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(EngineError, match="glossary"):
        load_text_frontend(ModelFolder(tmp_path))
