"""GPT-2 decoder stack with an explicit, preallocated key/value cache (gpt-fast style).

IndexTTS uses the GPT-2 blocks of HF transformers without their token and
position embeddings (UnifiedVoice adds its own learned position embeddings), so
only `h.N.*` and `ln_f` exist.  Module and parameter names match the official
checkpoints (`gpt.h.N.attn.c_attn.weight`, ...); the projections keep GPT-2's
"Conv1D" shapes, (in, out), though the loaders store them (out, in) (`Conv1D`).

`GPT2Transformer.forward(x, cache, input_pos, mask)` is a pure function of the
input embeddings, their positions and the cache: it writes the new keys/values
at `input_pos` and attends over cache slots [0, kv_len).  Search logic lives in
`indexstudio.runtime.decoding`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

LAYER_NORM_EPS = 1e-5


@dataclass(frozen=True)
class GPT2Config:
    layers: int
    dim: int
    heads: int
    activation: str = "gelu_new"

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads


CACHE_BLOCK = 256      # positions per growth step of a KV cache's capacity


class KVCache:
    """Per-layer keys and values, one tensor per layer: (batch, 2, heads, capacity, head_dim), the keys at
    [:, 0] and the values at [:, 1], so that writing a step's keys and values, or copying a row's, is one
    operation per layer (on a GPU one kernel, not two).

    The capacity grows by whole blocks (never past `max_len`) as the sequences
    get longer, so memory follows what is decoded, not the `max_len` a search
    might reach (a full-size IndexTTS-2 cache for 3 beams and every possible
    mel code would be ~1.4 GB of float32).  Growing replaces one layer at a time,
    so it never holds two copies of the whole cache; should it fail part way (out
    of memory), the cache stays usable at the old capacity and the next `reserve`
    grows the rest.  `version` counts replaced layer tensors (CUDA graphs
    captured on the old ones must be captured again).
    """

    def __init__(self, layers: list[torch.Tensor], max_len: int | None = None, block: int = CACHE_BLOCK):
        self.layers = layers
        self.max_len = self.capacity if max_len is None else max_len
        self.block = block
        self.version = 0

    @classmethod
    def allocate(cls, cfg: GPT2Config, batch: int, max_len: int, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu", block: int = CACHE_BLOCK) -> "KVCache":
        """An empty cache for up to `max_len` positions (it takes room as positions are written)."""
        shape = (batch, 2, cfg.heads, 0, cfg.head_dim)
        return cls([torch.zeros(shape, dtype=dtype, device=device) for _ in range(cfg.layers)], max_len, block)

    @property
    def batch_size(self) -> int:
        return self.layers[0].shape[0]

    @property
    def capacity(self) -> int:
        """Positions every layer has room for."""
        return min(layer.shape[3] for layer in self.layers)

    def reserve(self, length: int) -> bool:
        """Room for positions [0, length); True when the capacity grew (new tensors)."""
        if length <= self.capacity:
            return False
        if length > self.max_len:
            raise ValueError(f"sequence of {length} positions exceeds the KV cache's max_len ({self.max_len})")
        capacity = min(self.max_len, -(-length // self.block) * self.block)
        for i, old in enumerate(self.layers):       # one layer at a time: the old copy goes as the new one comes
            if old.shape[3] >= capacity:            # grown by a growth that failed part way
                continue
            # zeros, not empty: attention reads (masked) positions past a row's length, and 0 * NaN is NaN
            grown = old.new_zeros(*old.shape[:3], capacity, old.shape[4])
            grown[:, :, :, :old.shape[3]] = old
            self.layers[i] = grown
            self.version += 1
        return True

    def select(self, rows: torch.Tensor, filled: int | None = None) -> None:
        """Reorder batch rows (beam search bookkeeping): row i becomes old row rows[i].

        With `filled`, only slots [0, filled) are moved, in place (the rest is
        unwritten); otherwise the whole cache is rebuilt, which also allows
        changing the batch size.
        """
        rows = rows.to(self.layers[0].device)
        if filled is None or rows.shape[0] != self.batch_size:
            self.layers = [layer.index_select(0, rows) for layer in self.layers]
            self.version += 1
            return
        self.copy_rows(rows, slice(None), filled)

    def copy_rows(self, src: torch.Tensor | list[int] | int, dst: torch.Tensor | list[int] | int | slice,
                  filled: int, start: int = 0) -> None:
        """Rows `dst` get positions [start, filled) of rows `src` (all read before any is written: rows may
        swap)."""
        for layer in self.layers:
            layer[dst, :, :, start:filled] = layer[src, :, :, start:filled]


class Conv1D(nn.Module):
    """GPT-2's linear layer: y = x @ W + b, W of shape (in, out) as the checkpoints hold it.

    The loaders keep W's values in (out, in) memory order (`store_out_in`: W is then a transposed view, the
    layout of nn.Linear).  Which CPU kernel multiplies such a weight is `CPU_GEMM`'s choice.  oneDNN's
    linear (the default where torch has it) takes the weight as it lies for any number of rows: on a
    2-core AMD EPYC (Zen 4) a full-size IndexTTS-2 GPT's projections over 1, 8 and 18 rows take 77, 123
    and 161 ms that way against MKL's 120, 196 and 248 ms (`bench/bench_cpu_gemm.py`).  MKL ("mkl") multiplies up to 3 rows
    fastest as x W and a decode batch of 4 to 48 rows as (W^T x^T)^T (on a 2-core AMX Xeon 3 and 16 rows
    took 74 and 125 ms that way; BENCHMARKS.md).  GPUs, other dtypes, autograd, torch.compile (inductor
    chooses its own kernels) and (in, out) weights take the plain product.
    """

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(x.reshape(-1, x.shape[-1])).view(*x.shape[:-1], self.weight.shape[1])

    def project(self, rows: torch.Tensor) -> torch.Tensor:
        """(rows, in) -> (rows, out): the product itself, for callers that keep their rows 2-d (the decode
        runtime, where a step's Python overhead counts)."""
        w = self.weight
        if w.device.type == "cpu" and is_out_in(w):
            if CPU_GEMM == "onednn" and w.dtype in ONEDNN_DTYPES and rows.dtype == w.dtype \
                    and not (w.requires_grad and torch.is_grad_enabled()) and not torch.compiler.is_compiling():
                return ONEDNN_LINEAR(rows, w.t(), self.bias, "none", [], "")
            if CPU_GEMM == "mkl" and MKL and TRANSPOSED_ROWS[0] <= rows.shape[0] <= TRANSPOSED_ROWS[1]:
                return torch.addmm(self.bias.unsqueeze(1), w.t(), rows.t()).t().contiguous()
        return torch.addmm(self.bias, rows, w)


def onednn_linear_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _cpu_gemm() -> str:
    """The CPU kernel of (out, in) Conv1Ds: $INDEXSTUDIO_CPU_GEMM ("onednn" or "mkl") where set, else oneDNN
    where this torch has its linear op, else "mkl": MKL's heuristics below, or the plain product elsewhere."""
    onednn = onednn_linear_available()
    chosen = os.environ.get("INDEXSTUDIO_CPU_GEMM") or ("onednn" if onednn else "mkl")
    if chosen not in ("onednn", "mkl"):
        raise ValueError(f"INDEXSTUDIO_CPU_GEMM must be onednn or mkl; got {chosen!r}")
    if chosen == "onednn" and not onednn:
        raise ValueError("INDEXSTUDIO_CPU_GEMM=onednn, but this torch build has no oneDNN linear op")
    return chosen


CPU_GEMM = _cpu_gemm()
ONEDNN_LINEAR = torch.ops.mkldnn._linear_pointwise if onednn_linear_available() else None
# oneDNN's bfloat16 product needs the CPU's bf16 instructions (AVX-512 BF16 or AMX); without them it fails
ONEDNN_DTYPES = (torch.float32,) + ((torch.bfloat16,) if ONEDNN_LINEAR is not None
                                    and torch.ops.mkldnn._is_mkldnn_bf16_supported() else ())
TRANSPOSED_ROWS = (4, 48)       # MKL computes an (out, in) Conv1D of this many rows as (W^T x^T)^T (Conv1D)
MKL = torch.backends.mkl.is_available()     # where those rows were measured; other BLAS take the plain product


def is_out_in(weight: torch.Tensor) -> bool:
    """Whether a 2-d (in, out) weight is stored (out, in), i.e. is the transpose of a contiguous tensor."""
    return weight.t().is_contiguous() and not weight.is_contiguous()


def store_out_in(module: nn.Module, replaced: Callable[[torch.Tensor], None] | None = None) -> None:
    """Keep every Conv1D weight under `module` in (out, in) memory order (same values, shape and names);
    `replaced` is called with each old weight as its copy takes its place."""
    for conv in module.modules():
        if isinstance(conv, Conv1D) and not is_out_in(conv.weight):
            old = conv.weight
            conv.weight = nn.Parameter(old.detach().t().contiguous().t(), old.requires_grad)
            if replaced is not None:
                replaced(old)


class GPT2Attention(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        if cfg.dim % cfg.heads:
            raise ValueError(f"GPT width {cfg.dim} is not divisible by {cfg.heads} heads")
        self.heads, self.head_dim = cfg.heads, cfg.head_dim
        self.c_attn = Conv1D(cfg.dim, 3 * cfg.dim)
        self.c_proj = Conv1D(cfg.dim, cfg.dim)

    def forward(self, x: torch.Tensor, cache: torch.Tensor | None,
                input_pos: torch.Tensor | None, kv_len: int, mask: torch.Tensor | None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.heads, self.head_dim).transpose(1, 2) for z in self.c_attn(x).split(d, dim=2))
        if cache is not None:               # the layer's (B, 2, heads, capacity, head_dim) keys and values
            cache_k, cache_v = cache.unbind(1)
            cache_k[:, :, input_pos] = k
            cache_v[:, :, input_pos] = v
            k, v = cache_k[:, :, :kv_len], cache_v[:, :, :kv_len]
        causal = mask is None and t > 1
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        return self.c_proj(out.transpose(1, 2).reshape(b, t, d))


class GPT2MLP(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        if cfg.activation not in ("gelu_new", "gelu"):
            raise ValueError(f"unsupported GPT-2 activation {cfg.activation!r}")
        self.approximate = "tanh" if cfg.activation == "gelu_new" else "none"
        self.c_fc = Conv1D(cfg.dim, 4 * cfg.dim)
        self.c_proj = Conv1D(4 * cfg.dim, cfg.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate=self.approximate))


class GPT2Block(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.dim, eps=LAYER_NORM_EPS)
        self.attn = GPT2Attention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.dim, eps=LAYER_NORM_EPS)
        self.mlp = GPT2MLP(cfg)

    def forward(self, x: torch.Tensor, cache: torch.Tensor | None,
                input_pos: torch.Tensor | None, kv_len: int, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, input_pos, kv_len, mask)
        return x + self.mlp(self.ln_2(x))


class GPT2Transformer(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.cfg = cfg
        self.h = nn.ModuleList(GPT2Block(cfg) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(cfg.dim, eps=LAYER_NORM_EPS)

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        p = self.ln_f.weight
        return KVCache.allocate(self.cfg, batch, max_len, dtype=p.dtype, device=p.device)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, input_pos: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, dim) embeddings -> (B, T, dim) hidden states after `ln_f`.

        Without a cache this is plain causal self-attention over x.  With one,
        `input_pos` (T,) are the cache slots of x; queries attend to slots
        [0, kv_len) where kv_len = mask.shape[-1] if a boolean `mask`
        (B or 1, 1, T, kv_len) is given (True = may attend), else input_pos[-1] + 1
        with a causal pattern (which then requires slots to start at 0 when T > 1).
        """
        if cache is None:
            kv_len = x.shape[1]
        else:
            if input_pos is None:
                raise ValueError("a KV cache needs input_pos (the cache slots of the new positions)")
            kv_len = mask.shape[-1] if mask is not None else int(input_pos[-1]) + 1
            if mask is None and x.shape[1] > 1 and kv_len != x.shape[1]:
                mask = causal_mask(input_pos, kv_len)
            cache.reserve(kv_len)
        for i, block in enumerate(self.h):
            layer_cache = cache.layers[i] if cache is not None else None
            x = block(x, layer_cache, input_pos, kv_len, mask)
        return self.ln_f(x)


def causal_mask(input_pos: torch.Tensor, kv_len: int, key_valid: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean (B or 1, 1, T, kv_len) mask: query at slot p sees slots <= p that are valid.

    `key_valid` (B, >= kv_len) marks padding slots False.  A query always sees its
    own slot, so rows of padding never attend to nothing (they stay finite and
    nobody attends to them).
    """
    slots = torch.arange(kv_len, device=input_pos.device)
    allowed = slots.unsqueeze(0) <= input_pos.unsqueeze(1)                  # (T, kv_len)
    if key_valid is None:
        return allowed[None, None]
    allowed = allowed.unsqueeze(0) & key_valid[:, None, :kv_len].bool()     # (B, T, kv_len)
    allowed = allowed | (slots.unsqueeze(0) == input_pos.unsqueeze(1)).unsqueeze(0)
    return allowed.unsqueeze(1)
