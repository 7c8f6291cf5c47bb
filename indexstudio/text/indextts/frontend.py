"""The IndexTTS 1.5 / 2 text front-end: normalise, space out CJK, upper-case, BPE, segment.

`load_text_frontend(folder)` builds it once per model folder from the
folder's sentencepiece model (`bpe.model`), its optional `glossary.yaml`
(IndexTTS 2 only, as in the official code) and `gpt.stop_text_token`.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import sentencepiece
import torch

from indexstudio.errors import EngineError
from indexstudio.text.indextts.normalizer import IndexTextNormalizer, read_glossary
from indexstudio.text.indextts.segments import infer_fast_buckets, pad_text_batch, split_segments

if TYPE_CHECKING:
    from indexstudio.models.folder import ModelFolder

# Ranges that count as one CJK character each (Hangul Jamo, CJK radicals to Yi,
# Hangul syllables, compatibility ideographs and forms, half-width forms, plane 2).
_CJK_CHAR = re.compile(r"([\u1100-\u11ff\u2e80-\ua4cf\ua840-\uD7AF\uF900-\uFAFF\uFE30-\uFE4F"
                       r"\uFF65-\uFFDC\U00020000-\U0002FFFF])")


def space_cjk_upper(text: str) -> str:
    """The BPE's input form: every CJK character a word of its own, all else upper case.

    "我今天用 Python" -> "我 今 天 用 PYTHON".
    """
    words = (w.strip() for w in _CJK_CHAR.split(text.strip()))
    return " ".join(w.upper() for w in words if w)


class IndexTextFrontend:
    """Text to BPE pieces / ids and GPT-sized segments, as IndexTTS 1.5 and 2 do it."""

    infer_fast_buckets = staticmethod(infer_fast_buckets)

    def __init__(self, bpe_model: str | Path, normalizer: IndexTextNormalizer, stop_text_token: int = 1):
        try:
            self.sp = sentencepiece.SentencePieceProcessor(model_file=str(bpe_model))
        except (OSError, RuntimeError) as exc:
            raise EngineError(f"cannot read the sentencepiece model {bpe_model}: {exc}") from exc
        self.normalizer = normalizer
        self.stop_text_token = stop_text_token
        # the grammar takes ~30 ms a sentence; a book's texts are normalised when the plan counts their
        # tokens and again when they are spoken
        self._normalized = functools.lru_cache(maxsize=4096)(normalizer.normalize)

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    @property
    def unk_id(self) -> int:
        return self.sp.unk_id()

    def normalize(self, text: str) -> str:
        return self._normalized(text)

    def model_input(self, text: str) -> str:
        """The string handed to sentencepiece.

        A text of one visible character goes in raw (no normalisation, no
        upper-casing), as in the official tokenizer.
        """
        if len(text.strip()) == 1:
            return text
        return space_cjk_upper(self.normalize(text))

    def tokenize(self, text: str) -> list[str]:
        """BPE pieces of `text`, e.g. ["▁HEL", "LO", ","]."""
        if not text:
            return []
        return self.sp.encode(self.model_input(text), out_type=str)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, as the GPT sees them (unknown pieces map to `unk_id`)."""
        return self.tokens_to_ids(self.tokenize(text))

    def tokens_to_ids(self, tokens: Sequence[str]) -> list[int]:
        return [self.sp.piece_to_id(t) for t in tokens]

    def ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self.sp.id_to_piece(int(i)) for i in ids]

    def split_segments(self, tokens: Sequence[str], max_tokens: int = 120,
                       quick_streaming_tokens: int = 0) -> list[list[str]]:
        return split_segments(tokens, max_tokens, quick_streaming_tokens)

    def segment_ids(self, text: str, max_tokens: int = 120, quick_streaming_tokens: int = 0) -> list[list[int]]:
        """`text` tokenised and cut into segments, each as a list of ids."""
        segments = self.split_segments(self.tokenize(text), max_tokens, quick_streaming_tokens)
        return [self.tokens_to_ids(s) for s in segments]

    def pad_batch(self, rows: Sequence[torch.Tensor]) -> torch.Tensor:
        """Right-pad token rows with stop_text_token into one (B, N) batch (IndexTTS >= 1.5)."""
        return pad_text_batch(rows, self.stop_text_token)


def load_text_frontend(folder: "ModelFolder") -> IndexTextFrontend:
    """The folder's text front-end, built once per folder."""
    def build() -> IndexTextFrontend:
        glossary: dict[str, Any] = {}
        if folder.version != "1.5":
            glossary = read_glossary(folder.root / "glossary.yaml")
        stop = (folder.config.get("gpt") or {}).get("stop_text_token", 1)
        return IndexTextFrontend(folder.path("bpe"), IndexTextNormalizer(glossary), int(stop))
    return folder.component("indextts_text_frontend", build)
