"""Emotion from text for IndexTTS 2.x: a fine-tuned Qwen3-0.6B scores 8 emotions.

The model folder may hold `qwen0.6bemo4-merge/` (config key `qwen_emo_path`), a
Qwen3 causal LM in transformers layout.  Given the system prompt "文本情感分类"
and the user's text it answers, without a thinking phase, with a short JSON
object of Chinese emotion names and scores.  The answer is turned into the
8-value emotion vector that the emotion stage (`models/emotion.py`) consumes,
with the official rules: JSON first, a `key: number` scan when the JSON is
malformed, scores clamped to [0, 1.2], all-zero meaning calm.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import torch

from indexstudio.models.folder import ModelFolder, ModelFolderError

SYSTEM_PROMPT = "文本情感分类"
# (label the model answers with, English name), in the order of the emotion vector
EMOTIONS = (
    ("高兴", "happy"),
    ("愤怒", "angry"),
    ("悲伤", "sad"),
    ("恐惧", "afraid"),
    ("反感", "disgusted"),
    ("低落", "melancholic"),
    ("惊讶", "surprised"),
    ("自然", "calm"),
)
LABELS = tuple(label for label, _ in EMOTIONS)
SAD, MELANCHOLIC, CALM = "悲伤", "低落", "自然"
# The model never answers "melancholic" (it says "sad"); these words in the text move sad to melancholic.
MELANCHOLIC_WORDS = ("低落", "melancholy", "melancholic", "depression", "depressed", "gloomy")
# fields of a JSON object that may name a single emotion instead of scoring all of them
LABEL_FIELDS = ("emotion", "emotion_label", "label", "情感", "情绪")
MAX_SCORE = 1.2
# The answer is one JSON object of 8 short entries (~70 Qwen tokens); 256 leaves room for an empty
# think block and spacing while bounding a degenerate, never-stopping answer (official: 32768).
MAX_NEW_TOKENS = 256
THINK_END = "</think>"
# `name: number` pairs, for answers that are almost JSON (same pattern as the official fallback)
_SCORE_PAIR = re.compile(r'([^\s":.,]+?)"?\s*:\s*([\d.]+)')


def _as_label(value: Any) -> str | None:
    """The Chinese label that `value` names (Chinese or English, any case), else None."""
    if not isinstance(value, str):
        return None
    name = value.strip()
    if name in LABELS:
        return name
    return next((label for label, english in EMOTIONS if english == name.lower()), None)


def _read_answer(answer: str) -> Any:
    """The answer as JSON, or as a dict of its `name: number` pairs when it is not valid JSON."""
    try:
        return json.loads(answer)
    except json.JSONDecodeError:
        pass
    pairs = {}
    for match in _SCORE_PAIR.finditer(answer):
        try:
            pairs[match.group(1)] = float(match.group(2))
        except ValueError as exc:
            raise ValueError(
                f"emotion model answered a malformed score {match.group(2)!r} for {match.group(1)!r}; "
                "retry, or give an emotion vector instead") from exc
    return pairs


def _label_scores(content: Any) -> dict[Any, Any]:
    """Scores by label, also when the answer names one emotion (bare label, label field or label value)."""
    scores = dict(content) if isinstance(content, dict) else {}
    named = _as_label(content)
    for field in LABEL_FIELDS:
        if named is not None:
            break
        named = _as_label(scores.get(field))
    if named is not None and not any(label in scores for label in LABELS):
        scores[named] = 1.0
    # a label given as the value of another label: {"高兴": "sad"} means sad
    for label in LABELS:
        named = _as_label(scores.get(label))
        if named is not None:
            scores[label] = 1.0 if named == label else 0.0
            scores[named] = 1.0
    return scores


def _clamped(label: str, value: Any) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"emotion model answered a non-numeric score {value!r} for {label!r}; "
                         "retry, or give an emotion vector instead") from exc
    if math.isnan(score):
        raise ValueError(f"emotion model answered NaN for {label!r}; retry, or give an emotion vector instead")
    return min(max(score, 0.0), MAX_SCORE)


def parse_emotion_answer(answer: str, text: str) -> list[float]:
    """The model's answer for `text` -> 8 scores in [0, 1.2] (happy ... calm); calm=1 when all are zero.

    Unlike the official code, which swaps sad/melancholic before reading labels (and fails when the
    answer is a bare label), the swap here applies to the scores after labels are read.
    """
    scores = _label_scores(_read_answer(answer))
    lowered = text.lower()
    if any(word in lowered for word in MELANCHOLIC_WORDS):
        scores[SAD], scores[MELANCHOLIC] = scores.get(MELANCHOLIC, 0.0), scores.get(SAD, 0.0)
    vector = [_clamped(label, scores.get(label, 0.0)) for label in LABELS]
    if all(score <= 0.0 for score in vector):
        vector[LABELS.index(CALM)] = 1.0
    return vector


class TextEmotion:
    """The Qwen emotion classifier: text -> answer -> emotion vector, greedy decoding."""

    def __init__(self, tokenizer: Any, model: Any, max_new_tokens: int = MAX_NEW_TOKENS):
        self.tokenizer = tokenizer
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.think_end_id = tokenizer.get_vocab().get(THINK_END)

    def prompt(self, text: str) -> str:
        """The chat-formatted prompt, with thinking switched off."""
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, enable_thinking=False)

    @torch.inference_mode()
    def answer(self, text: str) -> str:
        """The model's raw answer for `text`, any thinking part removed."""
        inputs = self.tokenizer([self.prompt(text)], return_tensors="pt").to(self.model.device)
        eos = self.model.generation_config.eos_token_id
        output = self.model.generate(
            **inputs,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            max_new_tokens=self.max_new_tokens,
            eos_token_id=eos if eos is not None else self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.eos_token_id,
        )
        new_ids = output[0, inputs["input_ids"].shape[1]:].tolist()
        if self.think_end_id in new_ids:
            new_ids = new_ids[len(new_ids) - new_ids[::-1].index(self.think_end_id):]
        return self.tokenizer.decode(new_ids, skip_special_tokens=True)

    def emotion_vector(self, text: str) -> list[float]:
        """8 emotion weights (happy, angry, sad, afraid, disgusted, melancholic, surprised, calm) for `text`."""
        return parse_emotion_answer(self.answer(text), text)


def read_text_emotion(model_dir: Path) -> TextEmotion:
    """Tokenizer and float32 CPU model from a local transformers folder (never downloads)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"{model_dir}: cannot load the Qwen emotion model ({exc})") from exc
    if tokenizer.chat_template is None:
        raise ModelFolderError(f"{model_dir}: the Qwen emotion tokenizer has no chat template")
    return TextEmotion(tokenizer, model.eval())


def load_text_emotion(folder: ModelFolder) -> TextEmotion:
    """The folder's emotion-from-text model, loaded once per folder; a clear error when it is absent."""
    check_text_emotion(folder)
    return folder.component("qwen_emo", lambda: read_text_emotion(folder.path("qwen_emo")))


def check_text_emotion(folder: ModelFolder) -> None:
    """A ModelFolderError, naming what is missing, where the folder has no emotion-from-text model."""
    try:
        present = folder.has("qwen_emo")
    except KeyError:
        raise ModelFolderError(f"IndexTTS-{folder.version} has no emotion control, so no emotion from text") from None
    if not present:
        raise ModelFolderError(
            f"emotion from text needs the Qwen emotion model folder qwen0.6bemo4-merge/ at "
            f"{folder.path('qwen_emo', required=False)} (config.yaml `qwen_emo_path`), which is missing; "
            "add it to the model folder, or give the emotion as an 8-value emotion vector or as emotion "
            "reference audio instead")
