"""The GPT-2 layers the decode runtime runs: the model's own modules, or bf16 / int8 weight-only copies.

"fp32" uses the model's modules untouched (whatever dtype the model is in), so
its results are those of `decoding.generate`.  "bf16" and "int8" keep copies
of the four projections of every block in (out, in) layout - bfloat16, or int8
with one symmetric scale per output channel - and compute them in bfloat16,
and keep the KV cache in bfloat16 too (`cache_dtype`); the residual stream
and layer norms stay in the model's dtype.  The copies are made once per model and weight mode and live as long as
the model (every decode engine of that model shares them); the model's own
modules are not changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from indexstudio.models.gpt2 import ONEDNN_DTYPES, ONEDNN_LINEAR, Conv1D, GPT2Transformer

WEIGHT_MODES = ("fp32", "bf16", "int8")

class Projection(Protocol):
    """What the runtime calls a block's linear layer with: 2-d rows (N, in) -> (N, out)."""

    def project(self, rows: torch.Tensor) -> torch.Tensor: ...


class BF16Linear:
    """A bfloat16 (out, in) copy of a Conv1D.

    With `packed` (CPUs whose oneDNN does bfloat16) the copy is reordered once into oneDNN's blocked layout,
    which its linear reads faster than the plain one, with the same results: on a 2-core AMD EPYC (Zen 4)
    the 96 full-size projections take 42 / 42 / 60 ms at 1 / 8 / 18 rows against 51 / 59 / 78 ms
    (BENCHMARKS.md).  The packed copy replaces the plain one: no extra memory.
    """

    def __init__(self, conv: Conv1D, packed: bool = False):
        weight = conv.weight.detach().t().to(torch.bfloat16).contiguous()
        packed = packed and weight.device.type == "cpu" and onednn_bf16_available()
        self.weight = torch.ops.mkldnn._reorder_linear_weight(weight, 1) if packed else weight
        self.bias = conv.bias.detach().to(torch.bfloat16)

    def project(self, rows: torch.Tensor) -> torch.Tensor:
        flat = rows.to(torch.bfloat16)
        if self.weight.is_mkldnn:
            return ONEDNN_LINEAR(flat, self.weight, self.bias, "none", [], "").to(rows.dtype)
        return F.linear(flat, self.weight, self.bias).to(rows.dtype)


def onednn_bf16_available() -> bool:
    return torch.bfloat16 in ONEDNN_DTYPES


class Int8Linear:
    """Weight-only int8 with per-output-channel scales.

    Up to PACKED_ROWS rows, `_weight_int8pack_mm` dequantises on the fly (reads a
    quarter of the fp32 bytes); its cost grows with the rows (on an AMX Xeon it
    beats the bf16 copies up to ~4 rows and takes 3x their time at 16), so
    larger inputs (prefill) dequantise the weight once and run one bf16 GEMM.
    """
    PACKED_ROWS = 16

    def __init__(self, conv: Conv1D):
        w = conv.weight.detach().t().float()
        scales = w.abs().amax(dim=1).clamp(min=1e-12) / 127
        self.weight = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
        self.scales = scales.to(torch.bfloat16)
        self.bias = conv.bias.detach().to(torch.bfloat16)

    def project(self, rows: torch.Tensor) -> torch.Tensor:
        flat = rows.to(torch.bfloat16)
        if flat.shape[0] <= self.PACKED_ROWS:
            y = torch._weight_int8pack_mm(flat, self.weight, self.scales) + self.bias
        else:
            y = F.linear(flat, self.weight.to(torch.bfloat16) * self.scales[:, None], self.bias)
        return y.to(rows.dtype)


def cache_dtype(weights: str, model_dtype: torch.dtype) -> torch.dtype:
    """The KV cache's dtype: the model's, but bfloat16 for a float32 model in the bf16 / int8 modes.  At a
    book segment's lengths a step reads more cache than weights (18 rows after 600 codes: 2.8 GiB of float32
    keys and values, against 0.95 GB of bf16 weights), so the approximate modes halve that too."""
    return torch.bfloat16 if weights != "fp32" and model_dtype == torch.float32 else model_dtype


@dataclass
class DecodeLayer:
    ln_1: nn.LayerNorm
    qkv: Projection
    proj: Projection
    ln_2: nn.LayerNorm
    fc: Projection
    fc_out: Projection
    approximate: str


def decode_layers(gpt: GPT2Transformer, weights: str = "fp32", compiled: bool = False) -> list[DecodeLayer]:
    """The layers of a weight mode, built on first use; `compiled` (a torch.compile'd step): bf16 copies in the
    plain layout, kept apart as "bf16 compiled"."""
    if weights not in WEIGHT_MODES:
        raise ValueError(f"weights must be one of {', '.join(WEIGHT_MODES)}; got {weights!r}")
    key = f"{weights} compiled" if weights == "bf16" and compiled else weights
    built = gpt.__dict__.setdefault("_decode_layers", {})     # a plain attribute: not in the state dict
    if key not in built:
        wrap = {"fp32": lambda conv: conv, "bf16": lambda conv: BF16Linear(conv, packed=not compiled),
                "int8": Int8Linear}[weights]
        built[key] = [DecodeLayer(b.ln_1, wrap(b.attn.c_attn), wrap(b.attn.c_proj), b.ln_2, wrap(b.mlp.c_fc),
                                  wrap(b.mlp.c_proj), b.mlp.approximate) for b in gpt.h]
    return built[key]
