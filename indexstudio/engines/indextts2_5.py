"""IndexTTS-2.5: multilingual zero-shot voice cloning, the fastest IndexTTS.

What changes against IndexTTS-2 (`engines.indextts2`, whose stack this one extends):

* text: a tiktoken BPE with `<|lang|>` prefixes and per-language normalisation
  (`text.indextts25`); the GPT adds a language embedding to every text position;
* speaker: one GPT latent projected from the CAMPPlus style (no conformer /
  perceiver), the S2Mel prompt condition is the length-regulated *continuous*
  w2v-BERT features (no codec quantisation);
* codes run at half the frame rate: the EnhancedCodec decodes them to twice as
  many frames, which go straight to the length regulator (no GPT latent pass),
  stretched by `duration_factor` (the speech-rate control);
* no long-silence removal; streaming yields each segment followed by the
  interval silence.

Emotion control (audio, 8-value vector, text) is IndexTTS-2's.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

import torch

from indexstudio.engines.indextts2 import (MAX_SPEED, MIN_SPEED, EmotionCondition, IndexTTS2, IndexTTS2Engine,
                                           IndexTTS2Options, SpeakerPrompt)
from indexstudio.engines.indextts_common import Noise, RuntimeSettings, Trace, no_trace, seeded_generator
from indexstudio.errors import InputError
from indexstudio.models.folder import ModelFolder
from indexstudio.models.s2mel import v2_5_target_length
from indexstudio.models.semantic_codec import load_enhanced_codec
from indexstudio.text.indextts25 import LANGUAGE_CODES, PreparedText, load_text_frontend_v2_5
from indexstudio.text.indextts25.frontend import detect_language

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexTTS25Options(IndexTTS2Options):
    """IndexTTS-2's options plus the language, the speech rate and the normalisation switch."""
    engine_label: ClassVar[str] = "IndexTTS-2.5"

    lang: str | None = None              # zh, en, ja, es, ar, ... ; None: guessed from the script of each text
    duration_factor: float = 1.0         # > 1 slower, < 1 faster speech
    text_normalization: bool = True

    def check(self) -> None:
        super().check()
        if self.lang is not None and self.lang.lower() not in LANGUAGE_CODES and self.lang.lower() != "zhen":
            raise InputError(f"unknown language {self.lang!r}; use a code such as zh, en, ja, es, ar")
        if not 1 / MAX_SPEED <= self.duration_factor <= 1 / MIN_SPEED:
            raise InputError(f"duration_factor must lie in [{1 / MAX_SPEED}, {1 / MIN_SPEED}], "
                             f"got {self.duration_factor}")


class IndexTTS25(IndexTTS2):
    """The IndexTTS-2.5 model stack of one folder on one device."""

    version: ClassVar[str] = "2.5"
    uses_gpt_latents: ClassVar[bool] = False

    @staticmethod
    def load_frontend(folder: ModelFolder) -> Any:
        return load_text_frontend_v2_5(folder)

    @staticmethod
    def load_codec(folder: ModelFolder) -> torch.nn.Module:
        return load_enhanced_codec(folder)

    # ---- conditioning -------------------------------------------------------------------------
    CAMPPLUS_TRACE_FIELD: ClassVar[str] = "x"

    def prompt_content(self, features: torch.Tensor, trace: Trace = no_trace) -> torch.Tensor:
        """2.5 regulates the continuous w2v-BERT features (no codec quantisation)."""
        return features

    def speaker_latent(self, features: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """One GPT latent projected from the CAMPPlus style."""
        return self.gpt.speaker_latent_from_style(style)

    # ---- text ---------------------------------------------------------------------------------
    def prepare_text(self, text: str, opts: IndexTTS25Options, quick_tokens: int = 0) -> PreparedText:
        """Segments and GPT ids of `text` in `opts.lang` (guessed from the script when None), its first
        `quick_tokens` tokens in short segments."""
        prepared = self.frontend.process(text, opts.lang, opts.max_text_tokens_per_segment, opts.text_normalization,
                                         quick_tokens)
        if not any(s.strip() for s in prepared.segments):
            raise InputError("the text has nothing to speak after normalisation")
        return prepared

    # ---- stages that differ from IndexTTS-2 ---------------------------------------------------
    VOCODER_TRACE_FIELD: ClassVar[str] = "x"

    def condition(self, tokens: torch.Tensor, codes: torch.Tensor, speaker: SpeakerPrompt, emotion: EmotionCondition,
                  opts: IndexTTS25Options, speed: float = 1.0, trace: Trace = no_trace) -> torch.Tensor:
        """Codes -> codec frames (twice as many) -> (1, F, C) condition, F = int(2T * 1.72 * duration_factor)."""
        content = self.codec.decode(codes)
        trace("codec_decode", codes=codes, S_infer=content)
        frames = torch.tensor([v2_5_target_length(content.shape[1], opts.duration_factor / speed)], device=self.device)
        return self.regulate(content, frames, trace)

    # ---- whole texts --------------------------------------------------------------------------
    def parts(self, text: str, opts: IndexTTS25Options, quick: bool = True) -> list[tuple[list[int], int | None]]:
        prepared = self.prepare_text(text, opts, opts.quick_streaming_tokens if quick else 0)
        return [(ids, prepared.language_id) for ids in prepared.segment_ids]

    def infer_stream(self, speaker_audio: str | Path, text: str, opts: IndexTTS25Options, seed: int | None = None,
                     noise: Noise | None = None, trace: Trace | None = None) -> Iterator[torch.Tensor]:
        """The official `infer(stream_return=True)`: per segment its (1, N) float samples in int16 scale
        (clamped, not rounded), then the interval silence."""
        generator = seeded_generator(self.device, seed)
        speaker = self.speaker(speaker_audio, trace)
        emotion = self.emotion(speaker, speaker_audio, opts, text, random.Random(seed), trace)
        silence = torch.zeros(1, self.silence(opts))
        for wav in self.render(text, speaker, emotion, opts, generator, noise=noise, trace=trace):
            yield torch.clamp(32767 * wav, -32767.0, 32767.0)
            if silence.shape[1]:
                yield silence


class IndexTTS25Engine(IndexTTS2Engine):
    """IndexTTS-2.5 in the product: `--engine indextts2_5 --model-dir DIR --voice reference.wav [--lang xx]`.

    `--speed` sets the speech rate: the duration factor is divided by it.
    """

    name = "indextts2_5"
    language_option = True
    version = "2.5"
    options_type = IndexTTS25Options

    def load(self, folder: ModelFolder, device: torch.device, dtype: torch.dtype,
             runtime: RuntimeSettings) -> IndexTTS25:
        return IndexTTS25(folder, device, dtype, runtime)

    @staticmethod
    def load_frontend(folder: ModelFolder) -> Any:
        return load_text_frontend_v2_5(folder)

    def count_tokens(self, text: str) -> int:
        return self.frontend.count_tokens(text)

    def guessed_language(self, text: str) -> str:
        return detect_language(text)

    def spoken_form(self, text: str, options: dict[str, Any] | None = None) -> str:
        opts = self.options_type.from_mapping(options or {})       # (the language and normalisation a run reads with)
        return self.frontend.prepare(text, (opts.lang or detect_language(text)).lower(), opts.text_normalization)
