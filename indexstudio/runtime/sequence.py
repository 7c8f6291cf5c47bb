"""One segment's decode request: prompt row, search settings, own random generator, generated codes.

A sequence carries its own `torch.Generator` so that what it samples does not
depend on which other sequences it is batched with (each row draws from its own
stream, exactly as `decoding.generate` draws for a batch of one).  A beam-search
sequence holds one cache slot per beam and a `decoding.BeamSearch`; its codes
are the best hypothesis, set when it finishes.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from enum import Enum, auto
from functools import lru_cache

import torch
from indexstudio.runtime.decoding import BeamSearch, DecodingConfig, EarlyStopping, LogitsProcessors, logits_processors


@dataclass(frozen=True)
class SamplingParams:
    """Per-sequence search settings (HF generate semantics, one prompt row, one returned sequence).

    `ignore_stop` never lets the stop token be chosen, so that every sequence
    runs to `max_new_tokens` (fixed-length benchmarks); `min_new_tokens` bars it
    for the first codes only.
    """
    max_new_tokens: int
    stop_token: int
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = 50
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    ignore_stop: bool = False
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: EarlyStopping = False
    min_new_tokens: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        if not isinstance(self.min_new_tokens, int) or not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError(f"min_new_tokens must be an integer in [0, max_new_tokens], got {self.min_new_tokens!r}")
        if not isinstance(self.stop_token, int) or self.stop_token < 0:
            raise ValueError(f"stop_token must be a token id >= 0, got {self.stop_token!r}")
        if self.do_sample and not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {self.temperature}")
        if self.top_k is not None and (not isinstance(self.top_k, int) or self.top_k < 0):
            raise ValueError(f"top_k must be None or an integer >= 0, got {self.top_k!r}")
        if not 0.0 <= self.top_p <= 1.0:
            raise ValueError(f"top_p must lie in [0, 1], got {self.top_p}")
        if not self.repetition_penalty > 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if not isinstance(self.num_beams, int) or self.num_beams < 1:
            raise ValueError(f"num_beams must be an integer >= 1, got {self.num_beams!r}")
        if self.early_stopping not in (True, False, "never"):
            raise ValueError(f"early_stopping must be True, False or 'never', got {self.early_stopping!r}")

    @classmethod
    def from_decoding(cls, cfg: DecodingConfig) -> "SamplingParams":
        """The settings of a single-return `DecodingConfig`."""
        if cfg.num_return_sequences != 1:
            raise ValueError("the batched runtime returns one sequence per prompt")
        return cls(cfg.max_new_tokens, cfg.stop_token, cfg.do_sample, cfg.temperature, cfg.top_k, cfg.top_p,
                   cfg.repetition_penalty, num_beams=cfg.num_beams, length_penalty=cfg.length_penalty,
                   early_stopping=cfg.early_stopping, min_new_tokens=cfg.min_new_tokens)

    @property
    def decoding(self) -> DecodingConfig:
        """The same settings as `decoding.generate` takes them."""
        return _decoding(self)

    @property
    def warpers(self) -> LogitsProcessors:
        """HF's processors after the repetition penalty (temperature, top-k, top-p; none when greedy)."""
        return _warpers(self)


@lru_cache(maxsize=256)        # bounded: a server sees requests of many settings
def _decoding(params: SamplingParams) -> DecodingConfig:
    return DecodingConfig(max_new_tokens=params.max_new_tokens, stop_token=params.stop_token,
                          do_sample=params.do_sample, num_beams=params.num_beams, temperature=params.temperature,
                          top_k=params.top_k, top_p=params.top_p, repetition_penalty=params.repetition_penalty,
                          length_penalty=params.length_penalty, early_stopping=params.early_stopping,
                          min_new_tokens=params.min_new_tokens)


@lru_cache(maxsize=256)
def _warpers(params: SamplingParams) -> LogitsProcessors:
    """The runtime applies the repetition penalty itself (from the slots' seen ids)."""
    return logits_processors(replace(params.decoding, repetition_penalty=1.0))


class SequenceStatus(Enum):
    WAITING = auto()
    RUNNING = auto()
    FINISHED = auto()


class Sequence:
    """A prompt row without padding, (S, D) embeddings and (S,) ids, and what has been generated after it."""

    _next_id = itertools.count()

    def __init__(self, embeds: torch.Tensor, input_ids: torch.Tensor, params: SamplingParams,
                 generator: torch.Generator | None = None, seed: int | None = None):
        if embeds.ndim != 2 or input_ids.ndim != 1 or embeds.shape[0] != input_ids.shape[0] or embeds.shape[0] < 1:
            raise ValueError(f"a sequence prompt is (S, dim) embeddings with (S,) ids, got "
                             f"{tuple(embeds.shape)} and {tuple(input_ids.shape)}")
        if generator is not None and seed is not None:
            raise ValueError("give a sequence a generator or a seed, not both")
        self.id = next(Sequence._next_id)
        self.embeds, self.input_ids, self.params = embeds, input_ids, params
        self.generator, self.seed = generator, seed
        self.tokens: list[int] = []
        self.ahead = 0          # codes decoded on the device that the host has not read yet (`DecodeEngine` overlap)
        self.beams = BeamSearch(params.decoding) if params.num_beams > 1 else None
        self.status = SequenceStatus.WAITING
        self.slots: list[int] = []        # one cache slot per beam while running
        self.error: BaseException | None = None     # why it was dropped unfinished (a failed engine step)
        # leading prompt rows shared with other sequences (one voice's conditioning), one tensor for all
        # of them: the cache computes their keys/values once and copies them into each such slot
        self.prefix: torch.Tensor | None = None

    @property
    def prompt_len(self) -> int:
        return self.embeds.shape[0]

    @property
    def num_rows(self) -> int:
        """Cache slots (batch rows) the sequence decodes in: one per beam."""
        return self.params.num_beams

    @property
    def generated(self) -> int:
        return self.beams.generated if self.beams is not None else len(self.tokens) + self.ahead

    @property
    def last_tokens(self) -> list[int]:
        """The code each of its rows feeds next (one per beam; 0 while the host has not read it: the engine feeds
        it from the device)."""
        if self.ahead:
            return [0]
        return [codes[-1] for codes in self.beams.tokens] if self.beams is not None else self.tokens[-1:]

    @property
    def cached_len(self) -> int:
        """Positions whose keys/values are in the cache: the prompt and every code but the last."""
        return self.prompt_len + max(self.generated - 1, 0)

    @property
    def is_finished(self) -> bool:
        return self.status is SequenceStatus.FINISHED

    def append(self, token: int) -> None:
        """Record the next code; the sequence finishes on the stop token or at max_new_tokens."""
        self.tokens.append(token)
        if token == self.params.stop_token or len(self.tokens) == self.params.max_new_tokens:
            self.status = SequenceStatus.FINISHED

    def advance_beams(self, top_scores: list[float], top_tokens: list[int], vocab: int) -> list[int]:
        """Take one step's candidates (`decoding.beam_candidates`, as lists); the beam each new beam continues.
        When the search is over, the codes become its best hypothesis (stop token included when it stopped
        early)."""
        sources, _ = self.beams.advance(top_scores, top_tokens, vocab)
        if self.beams.finished:
            self.tokens = self.beams.codes()
            self.status = SequenceStatus.FINISHED
        return sources

    def codes(self) -> torch.Tensor:
        """The generated codes, stop token included when there is one: (T,) long."""
        return torch.tensor(self.tokens, dtype=torch.long)
