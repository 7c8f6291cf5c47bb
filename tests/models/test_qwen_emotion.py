"""Emotion from text: answer parsing, missing-model errors, and loading a tiny local Qwen3."""
import json
import math
from pathlib import Path

import pytest
import torch
from helpers.tiny_qwen import tiny_tokenizer, write_tiny_qwen

from indexstudio.models.folder import ModelFolder, ModelFolderError
from indexstudio.models.qwen_emotion import (
    MAX_SCORE, SYSTEM_PROMPT, TextEmotion, load_text_emotion, parse_emotion_answer,
)

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
CALM = [0.0] * 7 + [1.0]


def vec(**scores: float) -> list[float]:
    order = ["happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm"]
    return [float(scores.get(name, 0.0)) for name in order]


# ---- parsing --------------------------------------------------------------------------------------
@pytest.mark.parametrize("answer, expected", [
    ('{"高兴": 0.5, "愤怒": 0.1, "悲伤": 0.0, "恐惧": 0.0, '
      '"反感": 0.0, "低落": 0.0, "惊讶": 0.3, "自然": 0.2}',
     vec(happy=0.5, angry=0.1, surprised=0.3, calm=0.2)),
    ('{"自然": 0.4, "恐惧": 0.6}', vec(afraid=0.6, calm=0.4)),            # order comes from the labels
    ('{"反感": "0.7"}', vec(disgusted=0.7)),                              # numeric strings are scores
    ('"愤怒"', vec(angry=1.0)),                                           # bare label as a JSON string
    ('" Surprised "', vec(surprised=1.0)),                                # English label, any case
    ('{"emotion": "happy"}', vec(happy=1.0)),                             # label field
    ('{"情绪": "恐惧", "note": 3}', vec(afraid=1.0)),
    ('{"emotion": "happy", "悲伤": 0.4}', vec(sad=0.4)),                  # scores win over a label field
    ('{"高兴": "sad", "惊讶": 0.2}', vec(sad=1.0, surprised=0.2)),        # label as another label's value
    ('{"高兴": "高兴"}', vec(happy=1.0)),
    ('{"happy": 0.9}', CALM),                                             # English keys are not scores
    ('{"高兴": 0.8, "愤怒": 0.1,', vec(happy=0.8, angry=0.1)),            # truncated JSON -> pair scan
    ("高兴: 0.3, 悲伤：x, 惊讶\": 0.6}", vec(happy=0.3, surprised=0.6)),   # loose pairs
    ('```json\n{"恐惧": 0.9}\n```', vec(afraid=0.9)),
    ("愤怒", CALM),                                                       # unquoted bare label (official: calm)
    ("", CALM),
    ("[0.1, 0.2]", CALM),
    ('{"高兴": 0, "自然": 0}', CALM),                                     # all zero -> calm
    ('{"高兴": 5, "愤怒": -2, "悲伤": 1.2}', vec(happy=MAX_SCORE, sad=1.2)),  # clamped to [0, 1.2]
    ('{"惊讶": Infinity}', vec(surprised=MAX_SCORE)),
    ('{"高兴": true}', vec(happy=1.0)),
])
def test_parse_answer(answer, expected):
    assert parse_emotion_answer(answer, "今天天气很好") == pytest.approx(expected)


def test_melancholic_swap():
    answer = '{"悲伤": 0.9, "低落": 0.1, "自然": 0.2}'
    assert parse_emotion_answer(answer, "我很难过") == pytest.approx(vec(sad=0.9, melancholic=0.1, calm=0.2))
    for text in ("I feel so GLOOMY today", "心情低落", "a Depressed voice"):
        assert parse_emotion_answer(answer, text) == pytest.approx(vec(sad=0.1, melancholic=0.9, calm=0.2))
    # a bare label is swapped too (the official code fails on this one)
    assert parse_emotion_answer('"sad"', "melancholy") == pytest.approx(vec(melancholic=1.0))


@pytest.mark.parametrize("answer", ['{"高兴": "很多"}', '{"愤怒": null}', '{"悲伤": [0.5]}', '{"惊讶": NaN}',
                                    '高兴: ., 愤怒: 0.2'])
def test_non_numeric_score_is_a_clear_error(answer):
    with pytest.raises(ValueError, match="emotion model answered"):
        parse_emotion_answer(answer, "文本")


# ---- missing model ------------------------------------------------------------------------------
def test_missing_model_folder_explains_alternatives(tmp_path):
    (tmp_path / "config.yaml").write_text("version: 2.0\n", encoding="utf-8")
    with pytest.raises(ModelFolderError, match=r"qwen0\.6bemo4-merge.*emotion vector.*emotion reference audio"):
        load_text_emotion(ModelFolder(tmp_path))


@pytest.mark.skipif(not (GOLDEN / "indextts2").is_dir(), reason="golden folder not present")
def test_golden_folder_has_no_qwen_model():
    folder = ModelFolder(GOLDEN / "indextts2")
    assert not folder.has("qwen_emo")
    with pytest.raises(ModelFolderError, match="qwen_emo_path"):
        load_text_emotion(folder)


def test_unloadable_model_folder_is_a_model_folder_error(tmp_path):
    (tmp_path / "config.yaml").write_text("version: 2.0\nqwen_emo_path: emo\n", encoding="utf-8")
    (tmp_path / "emo").mkdir()
    with pytest.raises(ModelFolderError, match="cannot load the Qwen emotion model"):
        load_text_emotion(ModelFolder(tmp_path))


# ---- a tiny local Qwen3, loaded through the folder -------------------------------------------------
@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    (root / "config.yaml").write_text("version: 2.0\nqwen_emo_path: tiny-qwen-emo\n", encoding="utf-8")
    write_tiny_qwen(root / "tiny-qwen-emo")
    return root


def test_tiny_model_loads_and_yields_a_vector(tiny_folder):
    folder = ModelFolder(tiny_folder)
    emotion = load_text_emotion(folder)
    assert load_text_emotion(folder) is emotion                      # loaded once per folder
    assert next(emotion.model.parameters()).dtype == torch.float32
    assert emotion.model.device.type == "cpu"
    prompt = emotion.prompt("你好")
    assert SYSTEM_PROMPT in prompt and prompt.endswith("<think>\n\n</think>\n\n")
    vector = emotion.emotion_vector("今天真开心")
    assert len(vector) == 8
    assert all(math.isfinite(v) and 0.0 <= v <= MAX_SCORE for v in vector)
    assert any(v > 0.0 for v in vector)


class FixedAnswer(torch.nn.Module):
    """Stands in for the LM: `generate` appends a fixed answer to the prompt."""

    def __init__(self, answer_ids: list[int]):
        super().__init__()
        self.answer_ids = torch.tensor([answer_ids])
        self.generation_config = type("GenerationConfig", (), {"eos_token_id": None})()
        self.device = torch.device("cpu")
        self.seen: dict = {}

    def generate(self, input_ids, attention_mask, **options):
        self.seen = options
        return torch.cat([input_ids, self.answer_ids], dim=1)


def test_answer_drops_thinking_and_decodes_greedily():
    tokenizer = tiny_tokenizer()
    reply = "<think>\n{\"愤怒\": 1.0}\n</think>\n\n" + json.dumps({"高兴": 0.6, "惊讶": 0.4}, ensure_ascii=False)
    model = FixedAnswer(tokenizer(reply)["input_ids"] + [tokenizer.eos_token_id])
    emotion = TextEmotion(tokenizer, model, max_new_tokens=64)
    assert emotion.emotion_vector("好消息") == pytest.approx(vec(happy=0.6, surprised=0.4))
    assert model.seen["do_sample"] is False and model.seen["max_new_tokens"] == 64
    assert model.seen["eos_token_id"] == tokenizer.eos_token_id
