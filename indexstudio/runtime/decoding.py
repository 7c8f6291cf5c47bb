"""Autoregressive decoding over an explicit KV cache: greedy, sampling, beam search (and beam sampling).

The semantics are those of HF transformers' `generate` as IndexTTS calls it, so
that codes come out identical:

* logits processors in HF order: repetition penalty (over the whole `input_ids`,
  prompt ids included), the stop token barred before `min_new_tokens` codes,
  then - only when sampling - temperature, top-k, top-p;
* greedy / sampling: finished rows keep receiving the pad token; the loop ends
  when every row produced the stop token or `max_new_tokens` were produced;
* beam search: scores are log-softmax values (the processors act on them), the
  2*num_beams best candidates feed a BeamSearchScorer-equivalent with length
  penalty, `early_stopping` (False / True / "never") and `num_return_sequences`;
  a finished hypothesis is stored without its stop token and gets it back when
  the result is assembled.

The model is reached only through the `StepLM` protocol, so batching layers can
be added on top without touching the search.  One prompt's beams live in a
`BeamSearch`, which the decode runtime uses as well (`beam_candidates` picks a
step's candidates for a batch of prompts at once, as HF draws them).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, Sequence, Union

import torch
from transformers.generation.logits_process import (LogitsProcessor, RepetitionPenaltyLogitsProcessor,
                                                    TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)

from indexstudio.models.gpt2 import KVCache, causal_mask
from indexstudio.models.unified_voice import MelPrompt

EarlyStopping = Union[bool, str]


class StepLM(Protocol):
    def new_cache(self, batch: int, max_len: int) -> KVCache: ...

    def next_logits(self, embeds: torch.Tensor, cache: KVCache, input_pos: torch.Tensor,
                    mask: torch.Tensor | None) -> torch.Tensor: ...

    def embed_generated(self, tokens: torch.Tensor, generated: int) -> torch.Tensor: ...


@dataclass
class DecodingConfig:
    """Search settings; defaults are HF GenerationConfig's."""
    max_new_tokens: int
    stop_token: int
    pad_token: int | None = None            # defaults to stop_token (as IndexTTS passes it)
    do_sample: bool = False
    num_beams: int = 1
    num_return_sequences: int = 1
    temperature: float = 1.0
    top_k: int | None = 50
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    length_penalty: float = 1.0
    early_stopping: EarlyStopping = False
    min_new_tokens: int = 0                 # the stop token cannot be chosen before this many codes

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError(f"min_new_tokens must lie in [0, max_new_tokens], got {self.min_new_tokens}")
        if self.num_beams < 1 or self.num_return_sequences < 1:
            raise ValueError("num_beams and num_return_sequences must be >= 1")
        if self.num_return_sequences > self.num_beams > 1:
            raise ValueError(f"num_return_sequences ({self.num_return_sequences}) > num_beams ({self.num_beams})")
        if self.do_sample and self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {self.temperature}")
        if not 0.0 <= self.top_p <= 1.0:
            raise ValueError(f"top_p must lie in [0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if self.early_stopping not in (True, False, "never"):
            raise ValueError(f"early_stopping must be True, False or 'never', got {self.early_stopping!r}")

    @property
    def pad(self) -> int:
        return self.stop_token if self.pad_token is None else self.pad_token


class LogitsProcessors(tuple[LogitsProcessor, ...]):
    """HF logits processors applied in turn, as HF's `LogitsProcessorList` applies them, minus its
    inspection of every processor's signature on every call (~0.05 ms each; with three warpers a
    quarter of the host's work in a decode step, which a GPU step waits for)."""

    def __call__(self, input_ids: torch.Tensor | None, scores: torch.Tensor) -> torch.Tensor:
        for processor in self:
            scores = processor(input_ids, scores)
        return scores


def logits_processors(cfg: DecodingConfig) -> LogitsProcessors:
    """The processors HF generate would build for these settings, in its order."""
    procs: list[LogitsProcessor] = []
    if cfg.repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(cfg.repetition_penalty))
    if cfg.do_sample:
        keep = 2 if cfg.num_beams > 1 else 1     # beams keep one non-stop candidate besides the stop token
        if cfg.temperature != 1.0:
            procs.append(TemperatureLogitsWarper(cfg.temperature))
        if cfg.top_k:
            procs.append(TopKLogitsWarper(top_k=cfg.top_k, min_tokens_to_keep=keep))
        if cfg.top_p < 1.0:
            procs.append(TopPLogitsWarper(top_p=cfg.top_p, min_tokens_to_keep=keep))
    return LogitsProcessors(procs)


def bar_stop(scores: torch.Tensor, stop_token: int) -> torch.Tensor:
    """The scores with the stop token's at -inf (HF's MinNewTokensLengthLogitsProcessor, before enough codes)."""
    return scores.index_fill(1, _index(stop_token, scores.device), float("-inf"))


@lru_cache(maxsize=64)
def _index(value: int, device: torch.device) -> torch.Tensor:
    """A one-element index tensor, made once per device: made per step, its copy to a GPU would make the host
    wait for the device's queued work (see `runtime.device.host_to_device`)."""
    with torch.inference_mode(False):       # a normal tensor, usable outside inference mode too
        return torch.tensor([value], device=device)


@torch.no_grad()
def generate(lm: StepLM, prompt: MelPrompt, cfg: DecodingConfig,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Decode after `prompt`; returns the new tokens only, (B * num_return_sequences, T_new).

    Rows that stopped early are filled with the pad token after their stop token.
    """
    if cfg.num_beams > 1:
        return _beam_search(lm, prompt, cfg, generator)
    return _sample_or_greedy(lm, prompt, cfg, generator)


class _Prefix:
    """The prompt expanded to the search's rows, with its cache and masks."""

    def __init__(self, lm: StepLM, prompt: MelPrompt, copies: int, max_new: int):
        rows = torch.arange(prompt.input_ids.shape[0], device=prompt.input_ids.device).repeat_interleave(copies)
        self.input_ids = prompt.input_ids.index_select(0, rows)
        embeds = prompt.embeds.index_select(0, rows)
        attention = prompt.attention_mask.index_select(0, rows).bool()
        self.length = embeds.shape[1]
        self.cache = lm.new_cache(embeds.shape[0], self.length + max_new)
        # key validity over every cache slot; generated slots are always valid
        self.key_valid = None
        if not bool(attention.all()):
            tail = attention.new_ones(attention.shape[0], max_new)
            self.key_valid = torch.cat((attention, tail), dim=1)
        pos = torch.arange(self.length, device=embeds.device)
        self.first_logits = lm.next_logits(embeds, self.cache, pos, self._mask(pos))

    def _mask(self, pos: torch.Tensor) -> torch.Tensor | None:
        if self.key_valid is None:
            return None
        return causal_mask(pos, int(pos[-1]) + 1, self.key_valid)

    def step(self, lm: StepLM, tokens: torch.Tensor, generated: int) -> torch.Tensor:
        """Feed the `generated`-th new token of every row; logits for the next one."""
        pos = torch.full((1,), self.length + generated - 1, dtype=torch.long, device=tokens.device)
        return lm.next_logits(lm.embed_generated(tokens, generated), self.cache, pos, self._mask(pos))


def _sample_or_greedy(lm: StepLM, prompt: MelPrompt, cfg: DecodingConfig,
                      generator: torch.Generator | None) -> torch.Tensor:
    prefix = _Prefix(lm, prompt, cfg.num_return_sequences, cfg.max_new_tokens)
    procs = logits_processors(cfg)
    input_ids = prefix.input_ids
    running = torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    logits = prefix.first_logits
    for generated in range(1, cfg.max_new_tokens + 1):
        if generated <= cfg.min_new_tokens:
            logits = bar_stop(logits, cfg.stop_token)       # -inf passes the repetition penalty unchanged
        scores = procs(input_ids, logits)
        if cfg.do_sample:
            tokens = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator).squeeze(1)
        else:
            tokens = scores.argmax(dim=-1)
        tokens = torch.where(running, tokens, torch.full_like(tokens, cfg.pad))
        input_ids = torch.cat((input_ids, tokens[:, None]), dim=1)
        running &= tokens != cfg.stop_token
        if not bool(running.any()) or generated == cfg.max_new_tokens:
            break
        logits = prefix.step(lm, tokens, generated)
    return input_ids[:, prefix.length:]


class _Hypotheses:
    """The n best finished sequences of one prompt (HF BeamHypotheses semantics)."""

    def __init__(self, size: int, length_penalty: float, early_stopping: EarlyStopping, max_new: int):
        self.size, self.length_penalty, self.early_stopping, self.max_new = size, length_penalty, early_stopping, max_new
        self.items: list[tuple[float, list[int]]] = []
        self.worst = 1e9

    def add(self, tokens: list[int], sum_logprobs: float, generated_len: int) -> None:
        score = sum_logprobs / (generated_len ** self.length_penalty)
        if len(self.items) < self.size or score > self.worst:
            self.items.append((score, tokens))
            if len(self.items) > self.size:
                ranked = sorted((s, i) for i, (s, _) in enumerate(self.items))
                del self.items[ranked[0][1]]
                self.worst = ranked[1][0]
            else:
                self.worst = min(score, self.worst)

    def is_done(self, best_sum_logprobs: float, generated_len: int) -> bool:
        if len(self.items) < self.size:
            return False
        if self.early_stopping is True:
            return True
        if self.early_stopping == "never" and self.length_penalty > 0.0:
            best = best_sum_logprobs / self.max_new ** self.length_penalty
        else:
            best = best_sum_logprobs / generated_len ** self.length_penalty
        return self.worst >= best


def multinomial_rows(probs: torch.Tensor, num_samples: int,
                     generators: Sequence[torch.Generator | None]) -> torch.Tensor:
    """For each row i of (n, V) `probs`, what `torch.multinomial(probs[i:i + 1], num_samples,
    generator=generators[i])` draws (no replacement), leaving each generator where that call leaves it.

    That call draws q ~ Exp(1) per entry from the generator and takes the argmax (top-k) of probs / q
    (torch's algorithm for one sample or none replaced).  Here only the draws are per row, so n rows
    cost n small launches instead of n whole samplings (tests/runtime check the equality).
    """
    if len(generators) != probs.shape[0]:
        raise ValueError(f"{probs.shape[0]} rows need as many generators, got {len(generators)}")
    race = torch.empty(probs.shape, dtype=probs.dtype, device=probs.device)     # rows contiguous, as each call's
    for row, generator in zip(race, generators):
        row.exponential_(generator=generator)
    race = torch.div(probs, race, out=race)
    return race.argmax(dim=-1, keepdim=True) if num_samples == 1 else race.topk(num_samples, dim=-1).indices


def beam_candidates(scores: torch.Tensor, cfg: DecodingConfig,
                    generator: torch.Generator | Sequence[torch.Generator | None] | None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, beams * V) running scores -> the 2 * beams best (or, when sampling, drawn) candidates of
    every row, best first: their scores and flat (beam * V + code) indices, each (batch, 2 * beams).
    A sampling search draws from one generator for the whole batch (`generate`) or one per row (the
    runtime's sequences, `multinomial_rows`)."""
    keep = 2 * cfg.num_beams
    if cfg.do_sample:
        probs = torch.softmax(scores, dim=-1)
        if isinstance(generator, torch.Generator) or generator is None:
            picked = torch.multinomial(probs, keep, generator=generator)
        else:
            picked = multinomial_rows(probs, keep, generator)
        top_scores, order = torch.sort(torch.gather(scores, -1, picked), descending=True, dim=1)
        return top_scores, torch.gather(picked, -1, order)
    return torch.topk(scores, keep, dim=1, largest=True, sorted=True)


class BeamSearch:
    """The beams of one prompt (HF BeamSearchScorer semantics): running scores and codes, finished hypotheses.

    `advance` takes the prompt's candidates of one step and returns, for each
    new beam, the beam it continues (the caller reorders its cache rows the
    same way) and its code.  A hypothesis is stored without its stop token;
    `codes` gives it back when the result is shorter than `max_new_tokens`.
    The state is plain Python (scores are float32 values, codes lists): a
    step costs no tensor operations, which a decode step on a GPU would wait
    for.  `shared[i][j]` is how many leading codes beams i and j have in
    common (their keys/values agree up to there).
    """

    def __init__(self, cfg: DecodingConfig):
        self.cfg = cfg
        beams = cfg.num_beams
        self.scores = [0.0] + [-1e9] * (beams - 1)     # the beams start equal: only the first one's candidates count
        self.tokens: list[list[int]] = [[] for _ in range(beams)]
        self.shared = [[0] * beams for _ in range(beams)]
        self.hyps = _Hypotheses(beams, cfg.length_penalty, cfg.early_stopping, cfg.max_new_tokens)
        self.done = False

    @property
    def generated(self) -> int:
        return len(self.tokens[0])

    @property
    def finished(self) -> bool:
        return self.done or self.generated == self.cfg.max_new_tokens

    def advance(self, top_scores: list[float], top_tokens: list[int], vocab: int) -> tuple[list[int], list[int]]:
        """One row of `beam_candidates` (as lists) -> (source beam, code) of each new beam."""
        beams, stop = self.cfg.num_beams, self.cfg.stop_token
        before = self.generated
        scores, sources, tokens = [], [], []
        for rank, (score, flat) in enumerate(zip(top_scores, top_tokens)):
            source, token = divmod(flat, vocab)
            if token == stop:
                if rank < beams:
                    self.hyps.add(self.tokens[source], score, before + 1)
            else:
                scores.append(score)
                sources.append(source)
                tokens.append(token)
            if len(tokens) == beams:
                break
        self.done = self.hyps.is_done(max(top_scores), before + 1)
        self.scores = scores        # float32 values: they came from the candidates' tensor
        self.shared = [[before + 1 if i == j else self._shared_after(si, sj, ci, cj, before)
                        for j, (sj, cj) in enumerate(zip(sources, tokens))]
                       for i, (si, ci) in enumerate(zip(sources, tokens))]
        self.tokens = [self.tokens[source] + [token] for source, token in zip(sources, tokens)]   # new lists:
        return sources, tokens                                     # a stored hypothesis never changes

    def _shared_after(self, source_a: int, source_b: int, code_a: int, code_b: int, before: int) -> int:
        """Leading codes two new beams share: what their sources shared, plus one when the sources' codes
        were all the same and the two new codes are too."""
        common = before if source_a == source_b else self.shared[source_a][source_b]
        return common + (common == before and code_a == code_b)

    def best(self, n: int = 1) -> list[list[int]]:
        """The n best hypotheses, best first (running beams count when the search was not done)."""
        if not self.done:
            for beam in range(self.cfg.num_beams):
                self.hyps.add(self.tokens[beam], self.scores[beam], self.generated)
        ranked = sorted(self.hyps.items, key=lambda item: item[0])
        return [ranked.pop()[1] for _ in range(n)]

    def codes(self) -> list[int]:
        """The best hypothesis, with its stop token when it stopped before `max_new_tokens`."""
        best = self.best()[0]
        return best + [self.cfg.stop_token] if len(best) < self.cfg.max_new_tokens else best


def _beam_search(lm: StepLM, prompt: MelPrompt, cfg: DecodingConfig,
                 generator: torch.Generator | None) -> torch.Tensor:
    beams = cfg.num_beams
    batch = prompt.input_ids.shape[0]
    prefix = _Prefix(lm, prompt, beams, cfg.max_new_tokens)
    procs = logits_processors(cfg)
    device = prefix.input_ids.device
    input_ids = prefix.input_ids
    searches = [BeamSearch(cfg) for _ in range(batch)]
    logits = prefix.first_logits
    while True:
        scores = torch.log_softmax(logits, dim=-1)
        if max(search.generated for search in searches) < cfg.min_new_tokens:
            scores = bar_stop(scores, cfg.stop_token)
        scores = procs(input_ids, scores)
        vocab = scores.shape[-1]
        running = torch.tensor([search.scores for search in searches], dtype=torch.float32, device=device)
        top_scores, top_tokens = beam_candidates((scores.view(batch, beams, vocab) + running[:, :, None])
                                                 .view(batch, beams * vocab), cfg, generator)
        top_scores, top_tokens = top_scores.tolist(), top_tokens.tolist()
        rows, tokens = [], []
        for b, search in enumerate(searches):
            if search.done:             # a finished prompt's rows run on with the pad token
                sources, codes = [0] * beams, [cfg.pad] * beams
            else:
                sources, codes = search.advance(top_scores[b], top_tokens[b], vocab)
            rows += [b * beams + source for source in sources]
            tokens += codes
        generated = max(search.generated for search in searches)
        rows, tokens = torch.tensor(rows, device=device), torch.tensor(tokens, device=device)
        input_ids = torch.cat((input_ids.index_select(0, rows), tokens[:, None]), dim=1)
        prefix.cache.select(rows, filled=prefix.length + generated - 1)
        if all(search.finished for search in searches):
            break
        logits = prefix.step(lm, tokens, generated)

    best = [tokens for search in searches for tokens in search.best(cfg.num_return_sequences)]
    width = min(max(len(t) for t in best) + 1, cfg.max_new_tokens)
    out = torch.full((len(best), width), cfg.pad, dtype=torch.long, device=device)
    for i, seq in enumerate(best):
        out[i, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        if len(seq) < width:
            out[i, len(seq)] = cfg.stop_token
    return out
