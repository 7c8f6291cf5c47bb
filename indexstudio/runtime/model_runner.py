"""Runs the mel-code GPT for the runtime's batches against the slot cache.

`prefill(seqs)`: the prompts, unpadded and packed into one row, through the
stack; keys/values go to each sequence's (first) slot and attention stays
within each prompt.  For one prompt these are the operations of
`decoding.generate`'s prefill, so the first logits are the same.  A
beam-search sequence's other slots get copies of its prompt's keys/values.

`decode(seqs)`: one step for every row of the running sequences (one per
beam), row i in slot i.  Each row has its own cache position (prompt length +
generated - 1) and mel position (generated + the model's offset): keys/values
are written with advanced indexing and attention reads slots [0, n) and
positions [0, longest) through slices, with a per-row length mask (none when
all rows have the same length, as for one row - again `generate`'s operations).

On CUDA the decode step is replayed from CUDA graphs captured per (batch
bucket, length bucket) with static input buffers; the CPU path runs eagerly.
With `compile_step` the step goes through torch.compile first (one graph, dynamic
batch and length): on a GPU the graphs then replay fewer, fused kernels; on a CPU
batches of two rows or more take it, one row stays eager (faster there).
"""
from __future__ import annotations

import itertools
from typing import Callable

import torch
import torch.nn.functional as F

from indexstudio.models.unified_voice import MelCodeGPT
from indexstudio.runtime.device import compile_for, device_tensor, host_to_device
from indexstudio.runtime.kv_cache import SlotCache
from indexstudio.runtime.sequence import Sequence
from indexstudio.runtime.weights import decode_layers

Attend = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]    # (queries (N, D), layer cache) -> outputs (N, D)


class ModelRunner:
    def __init__(self, gpt: MelCodeGPT, cache: SlotCache, weights: str = "fp32", cuda_graphs: bool = True,
                 compile_step: bool = False):
        self.gpt, self.cache = gpt, cache
        self.layers = decode_layers(gpt.gpt, weights, compiled=compile_step)
        param = gpt.gpt.ln_f.weight
        self.device, self.dtype = param.device, param.dtype
        self.rows = torch.arange(cache.num_slots, device=self.device)      # decode row i -> cache slot i
        # called with the runner (a method bound to it and kept on it would be a reference cycle: the cache
        # would wait for the garbage collector instead of going with its request); on CUDA `DecodeGraphs`
        # captures the compiled step itself
        self.decode_step = compile_for(ModelRunner.step, self.device) if compile_step else ModelRunner.step
        self.graphs = DecodeGraphs(cache) if cuda_graphs and self.device.type == "cuda" else None

    @torch.inference_mode()
    def prefill(self, seqs: list[Sequence]) -> torch.Tensor:
        """Logits (n, V) after each sequence's prompt (one row per sequence, whatever its beams).

        The prompts are packed into one row (no padding): the projections run
        over all their positions at once, attention runs per prompt over its own
        slot.  A shared prefix (`Sequence.prefix`, one tensor for all the
        sequences that share it) is computed alone the first time, kept by the
        cache and copied into the slots that start with it, so only the rest of
        such a prompt runs here.  A single prompt without a shared prefix goes
        through exactly `generate`'s prefill.
        """
        self.cache.reserve(max(s.prompt_len for s in seqs))
        groups: dict[int, list[Sequence]] = {}
        for s in seqs:
            if s.prefix is not None:
                groups.setdefault(id(s.prefix), []).append(s)
        start = {}
        for group in groups.values():
            prefix, slots = group[0].prefix, [s.slots[0] for s in group]
            if not self.cache.restore_prefix(slots, prefix):        # first time: compute it in one slot, keep it
                self._prefill([(slots[0], prefix, 0)])
                self.cache.keep_prefix(slots[0], prefix)
                if len(slots) > 1:
                    self.cache.restore_prefix(slots[1:], prefix)
            start.update((s.id, prefix.shape[0]) for s in group)
        parts = [(s.slots[0], s.embeds[start.get(s.id, 0):], start.get(s.id, 0)) for s in seqs]
        logits = self.logits(self._prefill(parts))
        for s in seqs:
            self.cache.copy(s.slots[:1] * (s.num_rows - 1), s.slots[1:], s.prompt_len)
        return logits

    def _prefill(self, parts: list[tuple[int, torch.Tensor, int]]) -> torch.Tensor:
        """(slot, prompt rows, first position) packed into one row -> each part's last hidden state (n, D).

        One part from position 0 attends causally within its slot (`generate`'s prefill); several
        attend together as one padded batch (`SpanAttention`).
        """
        x = torch.cat([rows for _, rows, _ in parts]).to(self.device, self.dtype)
        sizes = [rows.shape[0] for _, rows, _ in parts]
        slots, firsts = [slot for slot, _, _ in parts], [first for _, _, first in parts]
        row_index = device_tensor([slot for slot, n in zip(slots, sizes) for _ in range(n)], self.device)
        positions = device_tensor([first + i for first, n in zip(firsts, sizes) for i in range(n)], self.device)
        if len(parts) == 1 and firsts[0] == 0:
            slot, n = slots[0], sizes[0]
            heads = self.gpt.cfg.heads

            def attend(q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
                q = q.view(n, heads, -1).transpose(0, 1).unsqueeze(0)              # (1, H, n, hd)
                out = F.scaled_dot_product_attention(q, kv[slot:slot + 1, 0, :, :n], kv[slot:slot + 1, 1, :, :n],
                                                     is_causal=n > 1)
                return out[0].transpose(0, 1).reshape(n, -1)
        else:
            attend = SpanAttention(slots, sizes, firsts, self.device)
        last = device_tensor(list(itertools.accumulate(sizes)), self.device) - 1
        return self.forward(x, row_index, positions, attend, self.cache.layers)[last]

    @torch.inference_mode()
    def decode(self, seqs: list[Sequence], tokens: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (n, V) after feeding every row's last code, row i from slot i; the sequences' slots must be
        [0, n).  `tokens`: the codes to feed, (n,) on the device in slot order, when the host has not read
        them yet (`DecodeEngine`'s overlap)."""
        inputs = self.decode_inputs(seqs)
        cache_pos = inputs[2]
        kv_len = max(cache_pos) + 1
        self.cache.reserve(kv_len)
        if self.graphs is not None:
            return self.graphs.run(self, inputs, kv_len, tokens)
        fed, mel_pos, pos = device_tensor(inputs, self.device)
        fed = fed if tokens is None else tokens
        shared = self.shared_prefix_attention(seqs, cache_pos, kv_len)
        mask = None if shared is not None or min(cache_pos) + 1 == kv_len else attention_mask(pos, kv_len)
        # one row decodes eagerly on CPUs: inductor compiles a graph of its own for it (it specialises size 1)
        # and packs that graph's weights for MKL, which a 2-core AMD EPYC ran at 0.68x (fp32) and 0.7x (bf16)
        # the eager step's codes/s; so a lone segment also waits for no compile
        step = ModelRunner.step if self.device.type == "cpu" and len(cache_pos) == 1 else self.decode_step
        return step(self, fed, mel_pos, pos, kv_len, mask, self.cache.layers, shared)

    def shared_prefix_attention(self, seqs: list[Sequence], cache_pos: list[int],
                                kv_len: int) -> SharedPrefixAttention | None:
        """Attention that reads the keys/values a beam search's beams hold alike once for all its beams
        (`SharedPrefixAttention`), when every row has at least SHARED_PREFIX_MIN such positions; else None.
        Eager float32 CPU steps only: there the reads are what the step waits for (a bfloat16 cache gained
        nothing), and CUDA graphs and compiled steps keep one attention call."""
        if self.device.type != "cpu" or self.decode_step is not ModelRunner.step or self.cache.layers[0].dtype != torch.float32 \
                or all(s.beams is None for s in seqs):
            return None
        owners, start = [], min(cache_pos)
        for s in seqs:
            if s.beams is not None:     # codes all beams share: their keys/values agree (`BeamSearch.shared`)
                common = min(min(row) for row in s.beams.shared)
                start = min(start, s.prompt_len + common)
            owners.append(s.slots)
        if start < SHARED_PREFIX_MIN:
            return None
        return SharedPrefixAttention(owners, start, cache_pos, kv_len, self.gpt.cfg.heads, self.device)

    def decode_inputs(self, seqs: list[Sequence]) -> list[list[int]]:
        """Per row (slot i = row i): the last code, its mel position and its cache position."""
        n = sum(s.num_rows for s in seqs)
        inputs = [[0] * n for _ in range(3)]
        for s in seqs:
            mel_pos, cached = s.generated + self.gpt.generated_position_offset, s.cached_len
            for slot, token in zip(s.slots, s.last_tokens):
                inputs[0][slot], inputs[1][slot], inputs[2][slot] = token, mel_pos, cached
        return inputs

    def step(self, tokens: torch.Tensor, mel_pos: torch.Tensor, pos: torch.Tensor, kv_len: int,
             mask: torch.Tensor | None, cache_layers: list[torch.Tensor], attend: Attend | None = None) -> torch.Tensor:
        """The decode step on slots [0, len(tokens)) (also what CUDA graphs capture).  The cache tensors come as
        arguments: they are replaced when the cache grows, and a compiled step takes them as inputs.  Attention
        is one call over slots [0, n) and positions [0, kv_len) with `mask`, unless `attend` is given."""
        gpt = self.gpt
        n = tokens.shape[0]
        x = gpt.mel_embedding(tokens) + gpt.mel_pos_embedding.emb(mel_pos)
        heads = gpt.cfg.heads

        def attend_all(q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
            out = F.scaled_dot_product_attention(q.view(n, heads, 1, -1), kv[:n, 0, :, :kv_len],
                                                 kv[:n, 1, :, :kv_len], attn_mask=mask)
            return out.reshape(n, -1)
        return self.logits(self.forward(x, self.rows[:n], pos, attend or attend_all, cache_layers))

    def forward(self, x: torch.Tensor, row_index: torch.Tensor, positions: torch.Tensor, attend: Attend,
                cache_layers: list[torch.Tensor]) -> torch.Tensor:
        """(N, D) input rows -> (N, D) hidden states before `ln_f`.

        Keys and values of row i go, in one write per layer, to cache slot row_index[i], position
        positions[i] of the layer's (slots, 2, heads, capacity, head_dim) cache tensor; `attend(queries,
        that tensor)` reads them, in the cache's dtype (`weights.cache_dtype`).  The rows stay 2-d and the
        layers' functions are called directly (no module calls, no reshapes): a full-size batch-1 step on a
        CPU takes ~2 ms (3 %) less so (BENCHMARKS.md).
        """
        n, d = x.shape
        heads = self.gpt.cfg.heads
        for layer, kv in zip(self.layers, cache_layers):
            ln_1, ln_2 = layer.ln_1, layer.ln_2
            qkv = layer.qkv.project(F.layer_norm(x, ln_1.normalized_shape, ln_1.weight, ln_1.bias, ln_1.eps))
            qkv = qkv.to(kv.dtype)
            kv[row_index, :, :, positions] = qkv[:, d:].view(n, 2, heads, -1)
            x = x + layer.proj.project(attend(qkv[:, :d], kv).to(x.dtype))
            h = layer.fc.project(F.layer_norm(x, ln_2.normalized_shape, ln_2.weight, ln_2.bias, ln_2.eps))
            x = x + layer.fc_out.project(F.gelu(h, approximate=layer.approximate))
        return x

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Final hidden states (B, D) -> float mel logits (B, V)."""
        return self.gpt.mel_head(self.gpt.final_norm(self.gpt.gpt.ln_f(x))).float()


def attention_mask(pos: torch.Tensor, kv_len: int) -> torch.Tensor:
    """(B, 1, 1, kv_len) boolean: row b sees cache positions <= pos[b]."""
    return (torch.arange(kv_len, device=pos.device) <= pos.unsqueeze(1))[:, None, None]


class SpanAttention:
    """Attention of several packed prompt parts, each over its own slot, as one padded batch.

    Part s is n_s query rows at positions first_s.. of slot s; it sees that
    slot's positions up to its own.  The queries are gathered into (S, H, Lq,
    hd) with the longest part's Lq, keys/values are the slots' first kv_len
    positions, and a mask hides what a row must not see (padding rows see
    position 0 only, so they stay finite); the valid rows go back to packed
    order.  The index tensors are built once per prefill, not per layer.
    """

    def __init__(self, slots: list[int], sizes: list[int], firsts: list[int], device: torch.device):
        longest, kv_len = max(sizes), max(f + n for f, n in zip(firsts, sizes))
        offsets = [0, *itertools.accumulate(sizes)][:-1]
        rows = torch.arange(longest)
        valid = rows < torch.tensor(sizes).unsqueeze(1)                                  # (S, Lq)
        query_index = torch.where(valid, rows + torch.tensor(offsets).unsqueeze(1), 0)
        mask = torch.arange(kv_len) <= (torch.tensor(firsts)[:, None, None] + rows[:, None])   # (S, Lq, kv)
        mask = (mask & valid[:, :, None]) | (~valid[:, :, None] & (torch.arange(kv_len) == 0))
        self.kv_len = kv_len
        self.slots = device_tensor(slots, device)
        self.query_index = device_tensor(query_index, device)
        self.mask = device_tensor(mask.unsqueeze(1), device)
        self.valid = device_tensor(valid.flatten().nonzero().squeeze(1), device)

    def __call__(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        """(T, D) packed queries, the layer's cache -> (T, D) outputs."""
        heads = kv.shape[2]
        queries = q.view(q.shape[0], heads, -1)[self.query_index].transpose(1, 2)     # (S, H, Lq, hd)
        kv = kv[self.slots, :, :, :self.kv_len]
        out = F.scaled_dot_product_attention(queries, kv[:, 0], kv[:, 1], attn_mask=self.mask)
        return out.transpose(1, 2).reshape(-1, q.shape[1])[self.valid]


SHARED_PREFIX_MIN = 128     # positions every row must have in a shared prefix before it is read once per owner


class SharedPrefixAttention:
    """Decode attention that reads each beam search's common keys/values once, not once per beam.

    The beams of a sequence hold the same keys/values for the prompt and the codes they all share, in every
    one of their slots.  Attention is split at `start` (at most any row's shared length): positions
    [0, start) of each owner's first slot, with all its rows as queries (a greedy sequence owns its one
    slot), and positions [start, kv_len) of every row's own slot, each up to its own position; the two
    parts are merged by their log-sum-exps, which is what attention over [0, kv_len) computes, up to
    float rounding.  With 3 beams, most of a long segment's keys/values are then read once instead of 3
    times: a full-size step of 6 segments x 3 beams spends ~35 % less in attention at 500 positions
    (BENCHMARKS.md).  Index tensors are built once per step, not per layer.
    """

    def __init__(self, owners: list[list[int]], start: int, cache_pos: list[int], kv_len: int, heads: int,
                 device: torch.device):
        self.owners, self.start, self.kv_len, self.heads = owners, start, kv_len, heads
        order = [slot for slots in owners for slot in slots]            # rows as the owners' parts come out
        self.to_rows = device_tensor(sorted(range(len(order)), key=order.__getitem__), device)
        self.query_rows = [device_tensor(slots, device) for slots in owners]
        own = torch.arange(start, kv_len) <= torch.tensor(cache_pos).unsqueeze(1)         # (n, kv_len - start)
        self.own_mask = device_tensor(torch.zeros(own.shape).masked_fill(~own, float("-inf"))[:, None, None],
                                      device)

    def __call__(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        """(n, D) queries of slots [0, n), the layer's cache -> (n, D) outputs."""
        n, heads, start = q.shape[0], self.heads, self.start
        q = q.view(n, heads, 1, -1)
        outs, lses = [], []
        for slots, rows in zip(self.owners, self.query_rows):
            first = slots[0]
            queries = q.index_select(0, rows).permute(2, 1, 0, 3)                      # (1, H, rows, hd)
            out, lse = _flash(queries, kv[first:first + 1, 0, :, :start], kv[first:first + 1, 1, :, :start])
            outs.append(out[0].transpose(0, 1))                                        # (rows, H, hd)
            lses.append(lse[0].transpose(0, 1))                                        # (rows, H)
        shared_out = torch.cat(outs).index_select(0, self.to_rows)
        shared_lse = torch.cat(lses).index_select(0, self.to_rows)
        own_out, own_lse = _flash(q, kv[:n, 0, :, start:self.kv_len], kv[:n, 1, :, start:self.kv_len],
                                  attn_mask=self.own_mask)
        own_lse = own_lse[..., 0]
        top = torch.maximum(shared_lse, own_lse)
        shared_w, own_w = (shared_lse - top).exp().unsqueeze(2), (own_lse - top).exp().unsqueeze(2)
        out = (shared_out * shared_w + own_out[:, :, 0] * own_w) / (shared_w + own_w)
        return out.reshape(n, -1)


_flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu     # (out, log-sum-exp) of SDPA on CPUs


class DecodeGraphs:
    """CUDA graphs of `ModelRunner.step`, captured on first use per (batch bucket, kv-length bucket).

    Batches are padded up to the bucket with code 0 at position 0 of the free
    slots above the running ones (harmless: a prefill overwrites them); the
    kv length is rounded up to a multiple of LENGTH_BUCKET (within the cache's
    capacity) so that attention reads a bounded part of the cache.  All graphs
    share one memory pool and one static input buffer (codes, mel positions,
    cache positions), filled by one host-to-device copy per step, queued without
    waiting for the device (`device.host_to_device`); they are
    dropped when any cache tensor was replaced (the cache grew), since they
    point at the old ones.  The runner comes with each call (see `ModelRunner`).
    """
    LENGTH_BUCKET = 256

    def __init__(self, cache: SlotCache):
        self.cache = cache
        slots = cache.num_slots
        self.batch_buckets = sorted({min(1 << i, slots) for i in range(slots.bit_length() + 1)})
        self.inputs = torch.zeros(3, slots, dtype=torch.long, device=cache.device)
        self.reset()

    def reset(self) -> None:
        self.cache_version = self.cache.version
        self.graphs: dict[tuple[int, int], torch.cuda.CUDAGraph] = {}
        self.outputs: dict[tuple[int, int], torch.Tensor] = {}
        self.pool = None

    def run(self, runner: ModelRunner, inputs: list[list[int]], kv_len: int,
            tokens: torch.Tensor | None = None) -> torch.Tensor:
        """`inputs`: the batch's codes, mel positions and cache positions -> logits (n, V); `tokens`: the codes
        on the device instead (see `ModelRunner.decode`)."""
        if self.cache.version != self.cache_version:
            self.reset()
        key = self.load(inputs, kv_len)
        if tokens is not None:
            self.inputs[0, :tokens.shape[0]].copy_(tokens)
        if key not in self.graphs:
            self._capture(runner, key)
        self.graphs[key].replay()
        return self.outputs[key][:len(inputs[0])]

    def load(self, inputs: list[list[int]], kv_len: int) -> tuple[int, int]:
        """Fill the static input buffer with the batch padded up to its bucket; the (batch, length) bucket."""
        n = len(inputs[0])
        batch = next(b for b in self.batch_buckets if b >= n)
        length = min(-(-kv_len // self.LENGTH_BUCKET) * self.LENGTH_BUCKET, self.cache.capacity)
        padded = torch.zeros(3, batch, dtype=torch.long)
        padded[:, :n] = torch.tensor(inputs)
        host_to_device(padded, self.inputs[:, :batch])
        return batch, length

    def step(self, runner: ModelRunner, batch: int, length: int) -> torch.Tensor:
        """The step a graph of this bucket holds, on the loaded inputs: logits (batch, V)."""
        tokens, mel_pos, pos = self.inputs[:, :batch]
        return runner.decode_step(runner, tokens, mel_pos, pos, length, attention_mask(pos, length), self.cache.layers)

    def _capture(self, runner: ModelRunner, key: tuple[int, int]) -> None:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            self.step(runner, *key)             # warm-up outside the graph (lazy inits, allocator)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            self.outputs[key] = self.step(runner, *key)
        self.pool = graph.pool()
        self.graphs[key] = graph
