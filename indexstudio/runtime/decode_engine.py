"""Continuous-batching decode of mel codes: many segments through one GPT, each as if decoded alone.

`DecodeEngine` owns a slot cache (allocated once), a scheduler and a model
runner; `step()` either prefills newly admitted sequences or decodes one code
for every running one, and finished sequences leave at once so that waiting
ones take their slots.  Each sequence keeps its own generator, so the codes of
a segment do not depend on its batch companions, and with the model's own
weights they are those of `decoding.generate` on that segment alone (up to
float rounding when prompts are packed together).  The prompts of one `stream`
call that start alike (one voice's conditioning rows) share that prefix: its
keys/values are computed once, alone, and copied into each slot.

Beam search runs here too: a sequence of B beams holds B slots, its rows
decode in the same steps as everyone else's, and after each step its beams
move between its slots as `decoding.generate` reorders its cache.

On CUDA the engine overlaps host and device: a decode step of single-beam
sequences is queued with the previous step's codes still on the device (fed
from there), and only then does the host read those codes, append them and
check for stops (`Ahead`).  While the batch stays the same (no sequence
stopped, reached its length or is waiting for a free slot) the device thus
never waits for the host's bookkeeping; a sequence that stops costs one
wasted row-step, whose draw from its generator is taken back.  The codes, and
what is drawn from the generators afterwards, are those of the step-by-step loop (tested on
the CPU; on a GPU that wasted row may change a step's batch size, and with it
the rounding, as batching itself may).

`decode_rows` is the drop-in for engines: the rows of a `MelPrompt` in, one
code tensor per row out (stop token included when produced).  Several return
sequences per row fall back to `decoding.generate`, one row at a time.
"""
from __future__ import annotations

import threading
from collections import Counter
from typing import Sequence as Seq

import torch

from indexstudio.errors import EngineError
from indexstudio.models.gpt2 import CACHE_BLOCK
from indexstudio.models.unified_voice import MelCodeGPT, MelPrompt
from indexstudio.runtime.decoding import DecodingConfig, generate
from indexstudio.runtime.device import HostCopy, device_tensor
from indexstudio.runtime.kv_cache import SlotCache, take_rows
from indexstudio.runtime.model_runner import ModelRunner
from indexstudio.runtime.sampler import next_beams, sample
from indexstudio.runtime.scheduler import Scheduler
from indexstudio.runtime.sequence import SamplingParams, Sequence
from indexstudio.runtime.weights import cache_dtype

PromptRow = tuple[torch.Tensor, torch.Tensor]     # (S, D) embeddings, (S,) ids
MIN_SHARED_PREFIX = 4     # shorter common prefixes are not worth a separate prefill


class DecodeEngine:
    def __init__(self, gpt: MelCodeGPT, max_batch: int = 8, max_len: int = 1024, weights: str = "fp32",
                 cuda_graphs: bool = True, max_prefill_tokens: int = 1024, cache_block: int = CACHE_BLOCK,
                 compile_step: bool = False, overlap: bool | None = None):
        """`overlap`: queue each decode step before reading the previous one's codes (default: on CUDA, where
        it hides the host's work per step; elsewhere the device computes as the host queues, so there is
        nothing to hide)."""
        param = gpt.gpt.ln_f.weight
        self.gpt, self.device = gpt, param.device
        self.cache = SlotCache(gpt.gpt.cfg, max_batch, max_len, gpt.cfg.number_mel_codes,
                               cache_dtype(weights, param.dtype), param.device, cache_block)
        self.scheduler = Scheduler(self.cache, max_prefill_tokens)
        self.runner = ModelRunner(gpt, self.cache, weights, cuda_graphs, compile_step)
        self.overlap = self.device.type == "cuda" if overlap is None else overlap
        self._ahead: Ahead | None = None    # the decode step whose codes the host has not read yet
        self._lock = threading.RLock()      # one step at a time; streams of several threads share the steps

    def add(self, seq: Sequence) -> None:
        """Queue a sequence (checked against the cache and the model's tables; its generator made if missing)."""
        self._check(seq)
        with self._lock:
            self.scheduler.add(seq)

    def abort(self, seq: Sequence) -> None:
        """Drop a sequence that is no longer wanted (its slot is freed at once); a stream that still waits for
        it raises `SequenceAborted` rather than yield its codes so far as if they were all."""
        with self._lock:
            if not seq.is_finished:
                seq.error = SequenceAborted(f"GPT decoding was aborted after {seq.generated} of at most "
                                            f"{seq.params.max_new_tokens} codes")
            self.scheduler.abort(seq)
            self._drop_wasted_step()

    def _check(self, seq: Sequence) -> None:
        params, cfg = seq.params, self.gpt.cfg
        if seq.num_rows > self.cache.num_slots:
            raise ValueError(f"{params.num_beams} beams need as many KV slots; the engine has {self.cache.num_slots}")
        if seq.embeds.shape[1] != cfg.model_dim:
            raise ValueError(f"prompt embeddings are {seq.embeds.shape[1]} wide; the GPT is {cfg.model_dim}")
        if seq.prompt_len + params.max_new_tokens > self.cache.max_len:
            raise ValueError(f"prompt of {seq.prompt_len} positions + max_new_tokens {params.max_new_tokens} "
                             f"exceed the engine's max_len ({self.cache.max_len})")
        positions = self.gpt.mel_pos_embedding.emb.num_embeddings
        if params.max_new_tokens - 1 + self.gpt.generated_position_offset >= positions:
            raise ValueError(f"max_new_tokens {params.max_new_tokens} exceeds the model's {positions} mel positions")
        if params.stop_token >= cfg.number_mel_codes:
            raise ValueError(f"stop_token {params.stop_token} is not a mel code (< {cfg.number_mel_codes})")
        if seq.generator is None and params.do_sample:
            seq.generator = new_generator(self.device, seq.seed)
        elif seq.generator is not None and seq.generator.device.type != self.device.type:
            raise ValueError(f"sequence generator is on {seq.generator.device}, the GPT on {self.device}")

    @property
    def is_idle(self) -> bool:
        return self.scheduler.is_idle

    @torch.inference_mode()
    def step(self) -> list[Sequence]:
        """One prefill or decode step; the sequences that finished in it.

        Should the step fail (out of memory, say), the running sequences are dropped with the error (a
        failed step may leave their state half-updated) and their streams raise it; the engine goes on
        serving waiting sequences and later requests.
        """
        with self._lock:
            if self.is_idle:
                return []
            try:
                return self._step()
            except BaseException as exc:
                self._ahead = None
                for seq in list(self.scheduler.running):
                    seq.ahead = 0
                    seq.error = exc
                    self.scheduler.abort(seq)
                raise

    def _step(self) -> list[Sequence]:
        if self._ahead is not None:
            return self._step_ahead()
        seqs, is_prefill = self.scheduler.schedule()
        seqs = list(seqs)
        if not is_prefill and self.overlap and all(seq.beams is None for seq in seqs):
            self._ahead = self._queue(seqs)
            return []
        if is_prefill:
            logits = self.runner.prefill(seqs)
            rows = [[i] * seq.num_rows for i, seq in enumerate(seqs)]     # all beams start from the prompt
        else:                                   # row i is slot i
            logits = self.runner.decode(seqs)
            rows = [seq.slots for seq in seqs]
        single = [i for i, seq in enumerate(seqs) if seq.beams is None]
        if single:
            slots = [seqs[i].slots[0] for i in single]
            tokens = sample(take_rows(logits, [rows[i][0] for i in single]), [seqs[i] for i in single],
                            take_rows(self.cache.seen, slots))
            self.cache.mark_seen(slots, tokens)
            for i, token in zip(single, tokens.tolist()):
                seqs[i].append(token)
        beams = [i for i, seq in enumerate(seqs) if seq.beams is not None]
        if beams:
            self._advance_beams([seqs[i] for i in beams], take_rows(logits, [r for i in beams for r in rows[i]]))
        finished = [seq for seq in seqs if seq.is_finished]
        for seq in finished:
            self.scheduler.finish(seq)
        return finished

    def _queue(self, seqs: list[Sequence], tokens: torch.Tensor | None = None) -> Ahead:
        """Queue a decode step of single-beam sequences in slots [0, n) (`tokens`: the codes to feed, still on
        the device) and its sampling; the host reads the codes later."""
        seqs = sorted(seqs, key=lambda seq: seq.slots[0])         # row i is slot i
        logits = self.runner.decode(seqs, tokens)
        slots = list(range(len(seqs)))
        # a generator two rows share keeps its draws (taking one row's back would take the other's too)
        owners = Counter(id(seq.generator) for seq in seqs)
        states = [seq.generator.get_state() if seq.generator is not None and owners[id(seq.generator)] == 1 else None
                  for seq in seqs]
        codes = sample(logits, seqs, self.cache.seen[:len(seqs)])
        self.cache.mark_seen(slots, codes)
        for seq in seqs:
            seq.ahead += 1
        return Ahead(seqs, codes, HostCopy(codes), states)

    def _step_ahead(self) -> list[Sequence]:
        """Queue the next decode step from the codes in flight when the batch stays the same, then read those
        codes; the sequences that finished with them."""
        ahead, self._ahead = self._ahead, None
        seqs = ahead.seqs
        if (len(self.scheduler.running) == len(seqs) and not self.scheduler.can_admit
                and all(not seq.is_finished and seq.generated < seq.params.max_new_tokens for seq in seqs)):
            self._ahead = self._queue(seqs, ahead.codes)
        finished = ahead.settle()
        for seq in finished:
            self.scheduler.finish(seq)
        self._drop_wasted_step()
        return finished

    def _drop_wasted_step(self) -> None:
        """Settle the step in flight now when none of its sequences wants its codes any more, rather than keep
        it (and them) until the next step."""
        if self._ahead is not None and all(seq.is_finished for seq in self._ahead.seqs):
            self._ahead.settle()
            self._ahead = None

    def _advance_beams(self, seqs: list[Sequence], logits: torch.Tensor) -> None:
        """One beam-search step of `seqs` (logits: their rows in turn).  A new beam that continues another
        beam takes over that beam's slot contents (keys/values, seen ids), then its code joins its slot's
        seen ids.  All moves are one copy, of the positions where some moved pair differs: two beams hold
        the same keys/values up to where their codes part (beams mostly share a long history, so this is
        a few positions, not the whole sequence), and past the longest such sequence nothing is attended."""
        slots = [slot for seq in seqs for slot in seq.slots]
        before = [seq.beams.shared for seq in seqs]     # common codes of the beams whose keys/values the slots hold
        sources = next_beams(logits, seqs, take_rows(self.cache.seen, slots))
        src, dst, starts, length = [], [], [], 0
        live = [(seq, seq_sources, shared) for seq, seq_sources, shared in zip(seqs, sources, before)
                if not seq.is_finished]
        for seq, seq_sources, shared in live:
            for row, source in enumerate(seq_sources):
                if source != row:
                    src.append(seq.slots[source])
                    dst.append(seq.slots[row])
                    starts.append(seq.prompt_len + shared[source][row])
                    length = max(length, seq.cached_len)
        self.cache.copy(src, dst, length, min(starts, default=0))
        if live:
            self.cache.mark_seen([slot for seq, _, _ in live for slot in seq.slots],
                                 [seq_codes[-1] for seq, _, _ in live for seq_codes in seq.beams.tokens])

    def stream(self, prompts: Seq[PromptRow], params: SamplingParams | Seq[SamplingParams],
               seeds: Seq[int | None] | None = None,
               generators: Seq[torch.Generator | None] | None = None) -> Stream:
        """Queue the prompts (all checked first); the iterator yields (index, codes) for each as soon as it
        finishes, stepping the engine (its steps also advance other streams' sequences)."""
        n = len(prompts)
        params = [params] * n if isinstance(params, SamplingParams) else list(params)
        seeds, generators = list(seeds or [None] * n), list(generators or [None] * n)
        if not len(params) == len(seeds) == len(generators) == n:
            raise ValueError(f"{n} prompts need as many params, seeds and generators")
        seqs = [Sequence(embeds, ids, p, gen, seed)
                for (embeds, ids), p, seed, gen in zip(prompts, params, seeds, generators)]
        prefix_len = shared_prefix(prompts)
        prefix = prompts[0][0][:prefix_len] if prefix_len else None
        for seq in seqs:            # all checked before any is queued
            self._check(seq)
            seq.prefix = prefix
        with self._lock:
            for seq in seqs:
                self.scheduler.add(seq)
        return Stream(self, seqs)

    def generate(self, prompts: Seq[PromptRow], params: SamplingParams | Seq[SamplingParams],
                 seeds: Seq[int | None] | None = None,
                 generators: Seq[torch.Generator | None] | None = None) -> list[torch.Tensor]:
        """Codes of every prompt, in order (each (T,) with the stop token when it was produced)."""
        out: list[torch.Tensor] = [torch.empty(0)] * len(prompts)
        for i, codes in self.stream(prompts, params, seeds, generators):
            out[i] = codes
        return out


class SequenceAborted(EngineError):
    """A sequence dropped unfinished by `DecodeEngine.abort`."""


class Stream:
    """The (index, codes) iterator of one `DecodeEngine.stream` call.

    Its sequences still pending when it is closed or dropped - the caller stopped early, failed, or never
    started it - are aborted, so they give their slots back instead of decoding for nobody (a generator's
    `finally` would not run for one never started).  An error ends it the same way.
    """

    def __init__(self, engine: DecodeEngine, seqs: list[Sequence]):
        self.engine = engine
        self.pending = dict(enumerate(seqs))

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> tuple[int, torch.Tensor]:
        try:
            return self._next()
        except BaseException:
            self.close()
            raise

    def _next(self) -> tuple[int, torch.Tensor]:
        while self.pending:
            for i, seq in self.pending.items():
                if seq.is_finished:
                    del self.pending[i]
                    if isinstance(seq.error, SequenceAborted):
                        raise SequenceAborted(str(seq.error))
                    if seq.error is not None:
                        raise EngineError(f"GPT decoding failed in a step shared with other requests: "
                                          f"{type(seq.error).__name__}: {seq.error}") from seq.error
                    return i, device_tensor(seq.codes(), self.engine.device)
            if self.engine.is_idle:
                raise RuntimeError("decode engine went idle with sequences unfinished")
            self.engine.step()
        raise StopIteration

    def close(self) -> None:
        """Abort the sequences not yielded yet."""
        pending, self.pending = self.pending, {}
        for seq in pending.values():
            if not seq.is_finished:
                self.engine.abort(seq)

    def __del__(self) -> None:
        self.close()


class Ahead:
    """A queued decode step: its sequences (row i in slot i) and their next codes, on the device and on their
    way to the host; each sequence's generator state from before the step's sampling."""

    def __init__(self, seqs: list[Sequence], codes: torch.Tensor, host: HostCopy,
                 states: list[torch.Tensor | None]):
        self.seqs, self.codes, self.host, self.states = seqs, codes, host, states

    def settle(self) -> list[Sequence]:
        """Give each sequence its code (waiting for it); those that finished with it.  A sequence that finished
        before (stopped a step earlier, or aborted) drops its code: that row was wasted, and its generator
        goes back to where it was before the row's draw, so what the caller draws from it next (a segment's
        flow-matching noise, the next segment's codes) is what it would be without overlap.  (Reading a
        CUDA generator's state, seed and offset, waits for nothing.)"""
        finished = []
        for seq, code, state in zip(self.seqs, self.host.tolist(), self.states):
            seq.ahead -= 1
            if not seq.is_finished:
                seq.append(code)
                if seq.is_finished:
                    finished.append(seq)
            elif state is not None:
                seq.generator.set_state(state)
        return finished


def shared_prefix(prompts: Seq[PromptRow], least: int = MIN_SHARED_PREFIX) -> int:
    """Leading positions every prompt has in common (one voice's conditioning rows), if at least `least`.

    At least one position of every prompt stays unshared: its logits start the decoding.
    """
    if len(prompts) < 2:
        return 0
    first_embeds, first_ids = prompts[0]
    n = min(embeds.shape[0] for embeds, _ in prompts) - 1
    same = torch.ones(max(n, 0), dtype=torch.bool, device=first_embeds.device)
    for embeds, ids in prompts[1:]:
        same &= (embeds[:n] == first_embeds[:n]).all(dim=1) & (ids[:n] == first_ids[:n])
    length = int(same.int().cumprod(0).sum()) if n > 0 else 0
    return length if length >= least else 0


def new_generator(device: torch.device, seed: int | None = None) -> torch.Generator:
    """A generator on `device` seeded with `seed`, or with a seed drawn from torch's global generator."""
    if seed is None:
        seed = int(torch.randint(0, 2**62, ()))
    return torch.Generator(device=device).manual_seed(seed)


def prompt_rows(prompt: MelPrompt) -> list[PromptRow]:
    """The rows of a left-padded prompt without their padding."""
    keep = prompt.attention_mask.bool()
    return [(prompt.embeds[i][keep[i]], prompt.input_ids[i][keep[i]]) for i in range(keep.shape[0])]


def decode_rows(gpt: MelCodeGPT, prompt: MelPrompt, cfg: DecodingConfig,
                generators: Seq[torch.Generator | None] | None = None, seeds: Seq[int | None] | None = None,
                max_batch: int = 16, weights: str = "fp32", compiled: bool = False) -> list[torch.Tensor]:
    """Codes for every prompt row (num_return_sequences per row), each decoded with its own generator / seed;
    `max_batch` rows (a beam-search prompt takes one per beam) decode together."""
    rows = prompt_rows(prompt)
    if generators is not None and seeds is not None:
        raise ValueError("give generators or seeds, not both")
    if cfg.num_return_sequences > 1:
        gens = list(generators or [None if s is None else new_generator(gpt.gpt.ln_f.weight.device, s)
                                   for s in (seeds or [None] * len(rows))])
        if len(gens) != len(rows):
            raise ValueError(f"{len(rows)} prompt rows need as many generators / seeds")
        out = []
        for (embeds, ids), gen in zip(rows, gens):
            raw = generate(gpt, MelPrompt(embeds[None], ids[None], torch.ones_like(ids)[None]), cfg, gen)
            out.extend(_trim(r, cfg.stop_token) for r in raw)
        return out
    longest = max(embeds.shape[0] for embeds, _ in rows)
    engine = engine_for(gpt, max(max_batch, cfg.num_beams), longest + cfg.max_new_tokens, weights,
                        len(rows) * cfg.num_beams, compiled=compiled)
    return engine.generate(rows, SamplingParams.from_decoding(cfg), seeds, generators)


_engines_lock = threading.Lock()


def engine_for(gpt: MelCodeGPT, max_batch: int, max_len: int, weights: str = "fp32",
               sequences: int | None = None, keep: bool | None = None, compiled: bool = False) -> DecodeEngine:
    """A decode engine of the model for `sequences` rows, at most `max_batch` at a time, up to `max_len`.

    On CUDA one engine per model and weight mode lives as long as the model and
    serves every request: its CUDA graphs stay captured, and the sequences of
    overlapping requests decode together.  It has `max_batch` slots (their
    memory grows only with the positions in use); a request that needs more
    slots or length replaces it with one large enough for both (requests
    already in flight finish on the old one).  `compiled`: the decode step goes
    through torch.compile (`ModelRunner`).  Elsewhere each call gets a fresh
    engine with no more slots than sequences: nothing to keep warm, and its
    cache goes with the request.  `keep` overrides the choice.
    """
    if not (keep if keep is not None else gpt.gpt.ln_f.weight.device.type == "cuda"):
        return DecodeEngine(gpt, min(max_batch, sequences or max_batch), max_len, weights, compile_step=compiled)
    # (weights, compiled) -> engine; a plain attribute, not in the state dict
    engines: dict[tuple[str, bool], DecodeEngine] = gpt.__dict__.setdefault("_decode_engines", {})
    with _engines_lock:
        engine = engines.get((weights, compiled))
        if engine is None or engine.cache.num_slots < max_batch or engine.cache.max_len < max_len:
            if engine is not None:
                max_batch, max_len = max(max_batch, engine.cache.num_slots), max(max_len, engine.cache.max_len)
            engine = engines[weights, compiled] = DecodeEngine(gpt, max_batch, max_len, weights, compile_step=compiled)
        return engine


def forget_engines(gpt: MelCodeGPT) -> None:
    """Drop the model's kept engines (say, to build a smaller one after running out of memory); requests in
    flight finish on theirs, whose memory goes with them."""
    with _engines_lock:
        gpt.__dict__.pop("_decode_engines", None)


def _trim(row: torch.Tensor, stop: int) -> torch.Tensor:
    """A padded result row up to and including its first stop token."""
    hits = (row == stop).nonzero()
    return row if hits.numel() == 0 else row[:int(hits[0]) + 1]
