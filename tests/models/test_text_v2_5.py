"""IndexTTS-2.5 text front-end: golden case, the e2e cases' text records, segment rules, bad input."""
from __future__ import annotations

import json
import shutil

import pytest
from conftest import GOLDEN
from safetensors.torch import load_file

from indexstudio.conformance.runner import run_folder
from indexstudio.conformance.v2_5.text import describe_text
from indexstudio.errors import EngineError, InputError
from indexstudio.models.folder import ModelFolder, ModelFolderError
from indexstudio.text.indextts25 import (IndexTTS25TextFrontend, detect_language, language_row,
                                         load_text_frontend_v2_5, split_by_punctuation)

V2_5 = GOLDEN / "indextts2_5"
RANKS = "multilingual_zh_ja_yue_char_del.tiktoken"


@pytest.fixture(scope="module")
def frontend() -> IndexTTS25TextFrontend:
    return load_text_frontend_v2_5(ModelFolder(V2_5))


def _e2e_cases() -> list[dict]:
    manifest = json.loads((V2_5 / "manifest.json").read_text(encoding="utf-8"))
    return [c for c in manifest["cases"] if "frontend" in c.get("args", {})]


def test_golden_text_case():
    results = run_folder(V2_5, only=["h1_text_frontend"])
    assert len(results) == 1
    assert all(r.passed for r in results), [str(r) for r in results]


def test_e2e_cases_text_records_and_token_rows(frontend):
    cases = _e2e_cases()
    assert len(cases) == 4
    for c in cases:
        ref, args = c["args"]["frontend"], c["args"]
        mine = describe_text(frontend, ref["input"], ref["lang"], ref["max_text_tokens_per_segment"],
                             ref["text_normalization"])
        assert {k: mine[k] for k in ref} == ref, c["name"]
        prepared = frontend.process(args["text"], args["lang"], args["kw"].get("max_text_tokens_per_segment", 120))
        tensors = load_file(str(V2_5 / c["file"]))
        rows = sorted(k for k in tensors if k.endswith(".text_tokens"))
        assert len(rows) == len(prepared.segment_ids), c["name"]
        for i, ids in enumerate(prepared.segment_ids):
            assert tensors[f"out.gpt_inference_speech#{i}.text_tokens"][0].tolist() == ids
            assert tensors[f"out.gpt_inference_speech#{i}.langs"].tolist() == [prepared.language_id]


def test_segments_fit_budget_and_keep_marked_readings_whole(frontend):
    text = frontend.prepare("银<行|HANG2>在前面，我们去公园散步吧，今天天气很好。" * 4, "zh")
    budget = frontend.segment_budget("zh", 14)
    segments = frontend.split_segments(text, "zh", 14)
    assert "".join(segments) == text
    assert len(segments) > 4
    assert all(frontend.count_tokens(s) <= budget for s in segments)
    for s in segments:
        assert s.count("<|SPECIAL_TOKEN_2|>") % 2 == 0
    ids = frontend.segment_ids(segments[0], "zh")
    assert ids[:2] == frontend.encode("<|zh|> ") and ids[-1] == 1


def test_language_rows_detection_and_punctuation_split(frontend):
    assert language_row("ZH") == 1 and language_row("zhen") == language_row("common") == 105
    assert frontend.encode("<|ja|>") == [frontend.special_token_id("<|ja|>")]
    assert [detect_language(t) for t in ("今日は晴れ", "مرحبا", "你好 world", "¿Qué tal?", "Hello")] == \
        ["ja", "ar", "zh", "es", "en"]
    assert split_by_punctuation("ab,cd.efgh!", 5) == ["ab,", "cd.", "efgh!"]
    assert split_by_punctuation("ab,cd.efgh!", 6) == ["ab,cd.", "efgh!"]


def test_missing_and_malformed_tokenizer_file(tmp_path):
    shutil.copy(V2_5 / "config.yaml", tmp_path / "config.yaml")
    with pytest.raises(ModelFolderError, match=RANKS):
        load_text_frontend_v2_5(ModelFolder(tmp_path))
    (tmp_path / RANKS).write_text("AA== 0\nnot-base64!! x\n", encoding="utf-8")
    with pytest.raises(EngineError, match=":2: expected"):
        load_text_frontend_v2_5(ModelFolder(tmp_path))


def test_bad_text_and_unknown_special(frontend):
    with pytest.raises(InputError):
        frontend.process(None, "zh")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="SPECIAL_TOKEN_99"):
        frontend.special_token_id("<|SPECIAL_TOKEN_99|>")
