"""Runs the mel-code GPT for the runtime's batches against the slot cache.

`prefill(seqs)`: the prompts, unpadded and packed into one row, through the
stack; keys/values go to each sequence's slot and attention stays within each
prompt.  For one prompt these are the operations of `decoding.generate`'s
prefill, so the first logits are the same.

`decode(seqs)`: one step for every running sequence, row i in slot i.  Each row
has its own cache position (prompt length + generated - 1) and mel position
(generated + the model's offset): keys/values are written with advanced
indexing and attention reads slots [0, n) and positions [0, longest) through
slices, with a per-row length mask (none when all rows have the same length,
as for one row - again `generate`'s operations).

On CUDA the decode step is replayed from CUDA graphs captured per (batch
bucket, length bucket) with static input buffers; the CPU path runs eagerly.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from indexstudio.models.unified_voice import MelCodeGPT
from indexstudio.runtime.kv_cache import SlotCache
from indexstudio.runtime.sequence import Sequence
from indexstudio.runtime.weights import decode_layers

Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]    # (q, layer keys, layer values) -> out


class ModelRunner:
    def __init__(self, gpt: MelCodeGPT, cache: SlotCache, weights: str = "fp32", cuda_graphs: bool = True):
        self.gpt, self.cache = gpt, cache
        self.layers = decode_layers(gpt.gpt, weights)
        param = gpt.gpt.ln_f.weight
        self.device, self.dtype = param.device, param.dtype
        self.rows = torch.arange(cache.num_slots, device=self.device).unsqueeze(1)     # (slots, 1) row index
        self.graphs = DecodeGraphs(self) if cuda_graphs and self.device.type == "cuda" else None

    @torch.inference_mode()
    def prefill(self, seqs: list[Sequence]) -> torch.Tensor:
        """Logits (n, V) after each sequence's prompt.

        The prompts are packed into one row (no padding): the projections run
        over all their positions at once, attention runs per prompt over its own
        slot.  A shared prefix (`Sequence.prefix_len`) is computed alone the
        first time, kept by the cache and copied into each slot that starts with
        it, so only the rest of such a prompt runs here.  A single prompt
        without a shared prefix goes through exactly `generate`'s prefill.
        """
        if self.cache.reserve(max(s.prompt_len for s in seqs)) and self.graphs is not None:
            self.graphs.reset()
        for s in seqs:
            prefix = s.embeds[:s.prefix_len]
            if s.prefix_len and not self.cache.has_prefix(prefix):
                self._prefill([(s.slot, prefix, 0)])
                self.cache.keep_prefix(s.slot, prefix)
        starts = [s.prefix_len if s.prefix_len and self.cache.restore_prefix(s.slot, s.embeds[:s.prefix_len]) else 0
                  for s in seqs]
        return self.logits(self._prefill([(s.slot, s.embeds[a:], a) for s, a in zip(seqs, starts)]))

    def _prefill(self, parts: list[tuple[int, torch.Tensor, int]]) -> torch.Tensor:
        """(slot, prompt rows, first position) packed into one row -> each part's last hidden state (n, D)."""
        x = torch.cat([rows for _, rows, _ in parts]).to(self.device, self.dtype).unsqueeze(0)
        sizes = torch.tensor([rows.shape[0] for _, rows, _ in parts], device=self.device)
        slots = torch.tensor([slot for slot, _, _ in parts], device=self.device)
        firsts = torch.tensor([first for _, _, first in parts], device=self.device)
        row_index = slots.repeat_interleave(sizes).unsqueeze(0)
        offsets = torch.cumsum(sizes, 0) - sizes
        positions = (torch.arange(x.shape[1], device=self.device) - offsets.repeat_interleave(sizes)
                     + firsts.repeat_interleave(sizes)).unsqueeze(0)
        spans = [(slot, int(a), rows.shape[0], first) for (slot, rows, first), a in zip(parts, offsets)]

        def attend(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
            return torch.cat([F.scaled_dot_product_attention(
                q[:, :, a:a + n], keys[slot:slot + 1, :, :first + n], values[slot:slot + 1, :, :first + n],
                attn_mask=None if first == 0 else causal_after(first, n, q.device),
                is_causal=first == 0 and n > 1) for slot, a, n, first in spans], dim=2)
        return self.forward(x, row_index, positions, attend)[0, offsets + sizes - 1]

    @torch.inference_mode()
    def decode(self, seqs: list[Sequence]) -> torch.Tensor:
        """Logits (B, V) after feeding every sequence's last code; seqs[i] must hold slot i."""
        generated = [len(s.tokens) for s in seqs]
        cache_pos = [s.prompt_len + g - 1 for s, g in zip(seqs, generated)]
        tokens = torch.tensor([s.tokens[-1] for s in seqs], device=self.device)
        mel_pos = torch.tensor(generated, device=self.device) + self.gpt.generated_position_offset
        pos = torch.tensor(cache_pos, device=self.device)
        kv_len = max(cache_pos) + 1
        if self.cache.reserve(kv_len) and self.graphs is not None:
            self.graphs.reset()                 # the captured graphs point at the old cache tensors
        if self.graphs is not None:
            return self.graphs.run(tokens, mel_pos, pos, kv_len)
        mask = None if min(cache_pos) + 1 == kv_len else attention_mask(pos, kv_len)
        return self.step(tokens, mel_pos, pos, kv_len, mask)

    def step(self, tokens: torch.Tensor, mel_pos: torch.Tensor, pos: torch.Tensor, kv_len: int,
             mask: torch.Tensor | None) -> torch.Tensor:
        """The decode step on slots [0, len(tokens)) (also what CUDA graphs capture)."""
        gpt = self.gpt
        n = tokens.shape[0]
        x = (gpt.mel_embedding(tokens) + gpt.mel_pos_embedding.emb(mel_pos)).unsqueeze(1)

        def attend(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
            return F.scaled_dot_product_attention(q, keys[:n, :, :kv_len], values[:n, :, :kv_len], attn_mask=mask)
        return self.logits(self.forward(x, self.rows[:n], pos.unsqueeze(1), attend)[:, -1])

    def forward(self, x: torch.Tensor, row_index: torch.Tensor, positions: torch.Tensor,
                attend: Attend) -> torch.Tensor:
        """(B, T, D) inputs -> (B, T, D) hidden states before `ln_f`.

        Keys/values of input (b, t) go to cache slot row_index[b, 0 or t], position
        positions[b, t]; `attend(q, keys, values)` reads the per-layer cache.
        """
        b, t, d = x.shape
        heads = self.gpt.cfg.heads
        head_dim = d // heads
        for layer, keys, values in zip(self.layers, self.cache.keys, self.cache.values):
            q, k, v = layer.qkv(layer.ln_1(x)).split(d, dim=2)
            keys[row_index, :, positions] = k.view(b, t, heads, head_dim)
            values[row_index, :, positions] = v.view(b, t, heads, head_dim)
            out = attend(q.view(b, t, heads, head_dim).transpose(1, 2), keys, values)
            x = x + layer.proj(out.transpose(1, 2).reshape(b, t, d))
            x = x + layer.fc_out(F.gelu(layer.fc(layer.ln_2(x)), approximate=layer.approximate))
        return x

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Final hidden states (B, D) -> float mel logits (B, V)."""
        return self.gpt.mel_head(self.gpt.final_norm(self.gpt.gpt.ln_f(x))).float()


def causal_after(first: int, n: int, device: torch.device) -> torch.Tensor:
    """(n, first + n) boolean: query i (position first + i) sees positions <= first + i."""
    return torch.arange(first + n, device=device) <= torch.arange(first, first + n, device=device).unsqueeze(1)


def attention_mask(pos: torch.Tensor, kv_len: int) -> torch.Tensor:
    """(B, 1, 1, kv_len) boolean: row b sees cache positions <= pos[b]."""
    return (torch.arange(kv_len, device=pos.device) <= pos.unsqueeze(1))[:, None, None]


class DecodeGraphs:
    """CUDA graphs of `ModelRunner.step`, captured on first use per (batch bucket, kv-length bucket).

    Batches are padded up to the bucket with code 0 at position 0 of the free
    slots above the running ones (harmless: a prefill overwrites them); the
    kv length is rounded up to a multiple of LENGTH_BUCKET (within the cache's
    capacity) so that attention reads a bounded part of the cache.  All graphs
    share one memory pool; they are dropped when the cache grows.
    """
    LENGTH_BUCKET = 256

    def __init__(self, runner: ModelRunner):
        self.runner = runner
        slots = runner.cache.num_slots
        self.batch_buckets = sorted({min(1 << i, slots) for i in range(slots.bit_length() + 1)})
        self.tokens, self.mel_pos, self.pos = (torch.zeros(slots, dtype=torch.long, device=runner.device)
                                               for _ in range(3))
        self.reset()

    def reset(self) -> None:
        self.graphs: dict[tuple[int, int], torch.cuda.CUDAGraph] = {}
        self.outputs: dict[tuple[int, int], torch.Tensor] = {}
        self.pool = None

    def run(self, tokens: torch.Tensor, mel_pos: torch.Tensor, pos: torch.Tensor, kv_len: int) -> torch.Tensor:
        n = tokens.shape[0]
        batch = next(b for b in self.batch_buckets if b >= n)
        length = min(-(-kv_len // self.LENGTH_BUCKET) * self.LENGTH_BUCKET, self.runner.cache.capacity)
        for buffer, values in ((self.tokens, tokens), (self.mel_pos, mel_pos), (self.pos, pos)):
            buffer.zero_()
            buffer[:n] = values
        key = (batch, length)
        if key not in self.graphs:
            self._capture(key)
        self.graphs[key].replay()
        return self.outputs[key][:n]

    def _step(self, batch: int, length: int) -> torch.Tensor:
        pos = self.pos[:batch]
        return self.runner.step(self.tokens[:batch], self.mel_pos[:batch], pos, length, attention_mask(pos, length))

    def _capture(self, key: tuple[int, int]) -> None:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            self._step(*key)                    # warm-up outside the graph (lazy inits, allocator)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            self.outputs[key] = self._step(*key)
        self.pool = graph.pool()
        self.graphs[key] = graph
