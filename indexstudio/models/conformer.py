"""Conformer encoder (WeNet flavour) that turns prompt features into conditioning frames.

IndexTTS feeds it w2v-BERT features (2.x) or log-mels (1.5).  The layout is
fixed by the checkpoints: a 2x conv2d subsampling front end with a sinusoidal
table (`embed.pos_enc.pe`, stored in the state dict), then pre-norm blocks of
relative-position self-attention -> depthwise-conv module -> SiLU feed-forward,
each block closed by its own LayerNorm, and a final `after_norm`.

The relative-position attention is WeNet's variant *without* the rel-shift:
the position term is simply `(q + pos_bias_v) . linear_pos(pe[:T])`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

POSITION_TABLE_LEN = 5000
CONV_KERNEL = 15


@dataclass(frozen=True)
class ConformerConfig:
    input_size: int
    output_size: int
    attention_heads: int
    linear_units: int
    num_blocks: int
    input_layer: str = "conv2d2"

    @classmethod
    def from_module_config(cls, input_size: int, cfg: dict) -> "ConformerConfig":
        """From a config.yaml `condition_module` block; `input_size` is the feature width."""
        return cls(
            input_size=input_size,
            output_size=int(cfg["output_size"]),
            attention_heads=int(cfg["attention_heads"]),
            linear_units=int(cfg["linear_units"]),
            num_blocks=int(cfg["num_blocks"]),
            input_layer=str(cfg.get("input_layer", "conv2d2")),
        )


def sinusoid_table(length: int, dim: int) -> torch.Tensor:
    """(1, length, dim) table with sin on even and cos on odd channels."""
    pos = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table.unsqueeze(0)


class RelPositionalEncoding(nn.Module):
    """Scales the input by sqrt(d) and hands out the first T rows of the table."""

    def __init__(self, dim: int, length: int = POSITION_TABLE_LEN):
        super().__init__()
        self.scale = math.sqrt(dim)
        self.register_buffer("pe", sinusoid_table(length, dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] >= self.pe.shape[1]:
            raise ValueError(f"conformer input of {x.shape[1]} frames exceeds the position table ({self.pe.shape[1]})")
        return x * self.scale, self.pe[:, : x.shape[1]]


class Conv2dSubsampling2(nn.Module):
    """3x3 stride-2 conv over (time, feature), flattened and projected; halves the frame rate."""

    def __init__(self, idim: int, odim: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, odim, 3, 2), nn.ReLU())
        self.out = nn.Sequential(nn.Linear(odim * ((idim - 1) // 2), odim))
        self.pos_enc = RelPositionalEncoding(odim)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.conv(x.unsqueeze(1))                       # (B, C, T', F')
        b, c, t, f = h.shape
        h = self.out(h.transpose(1, 2).reshape(b, t, c * f))
        h, pos = self.pos_enc(h)
        return h, pos, valid[:, :, 2::2]


class RelPositionAttention(nn.Module):
    """Multi-head self-attention with learned content/position biases (Transformer-XL style, no shift)."""

    def __init__(self, heads: int, dim: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads")
        self.heads, self.head_dim = heads, dim // heads
        self.linear_q = nn.Linear(dim, dim)
        self.linear_k = nn.Linear(dim, dim)
        self.linear_v = nn.Linear(dim, dim)
        self.linear_out = nn.Linear(dim, dim)
        self.linear_pos = nn.Linear(dim, dim, bias=False)
        self.pos_bias_u = nn.Parameter(torch.zeros(heads, self.head_dim))
        self.pos_bias_v = nn.Parameter(torch.zeros(heads, self.head_dim))

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], -1, self.heads, self.head_dim)

    def forward(self, x: torch.Tensor, valid: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        q = self._split(self.linear_q(x))                   # (B, T, H, Dh)
        k = self._split(self.linear_k(x)).transpose(1, 2)   # (B, H, T, Dh)
        v = self._split(self.linear_v(x)).transpose(1, 2)
        p = self._split(self.linear_pos(pos)).transpose(1, 2)
        content = torch.matmul((q + self.pos_bias_u).transpose(1, 2), k.transpose(-2, -1))
        position = torch.matmul((q + self.pos_bias_v).transpose(1, 2), p.transpose(-2, -1))
        scores = (content + position) / math.sqrt(self.head_dim)
        padded = ~valid.unsqueeze(1)                        # (B, 1, 1, T) True at padding keys
        weights = torch.softmax(scores.masked_fill(padded, float("-inf")), dim=-1).masked_fill(padded, 0.0)
        out = torch.matmul(weights, v).transpose(1, 2).reshape(b, -1, self.heads * self.head_dim)
        return self.linear_out(out)


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w_1 = nn.Linear(dim, hidden)
        self.w_2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(F.silu(self.w_1(x)))


class ConvModule(nn.Module):
    """Pointwise conv + GLU, depthwise conv, LayerNorm, SiLU, pointwise conv; padding frames zeroed."""

    def __init__(self, channels: int, kernel: int = CONV_KERNEL):
        super().__init__()
        self.pointwise_conv1 = nn.Conv1d(channels, 2 * channels, 1)
        self.depthwise_conv = nn.Conv1d(channels, channels, kernel, padding=(kernel - 1) // 2, groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.pointwise_conv2 = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2).masked_fill(~valid, 0.0)      # (B, C, T)
        h = F.glu(self.pointwise_conv1(h), dim=1)
        h = self.depthwise_conv(h)
        h = F.silu(self.norm(h.transpose(1, 2))).transpose(1, 2)
        h = self.pointwise_conv2(h).masked_fill(~valid, 0.0)
        return h.transpose(1, 2)


class ConformerBlock(nn.Module):
    def __init__(self, cfg: ConformerConfig):
        super().__init__()
        d = cfg.output_size
        self.self_attn = RelPositionAttention(cfg.attention_heads, d)
        self.feed_forward = FeedForward(d, cfg.linear_units)
        self.conv_module = ConvModule(d)
        self.norm_ff = nn.LayerNorm(d)
        self.norm_mha = nn.LayerNorm(d)
        self.norm_conv = nn.LayerNorm(d)
        self.norm_final = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, valid: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.norm_mha(x), valid, pos)
        x = x + self.conv_module(self.norm_conv(x), valid)
        x = x + self.feed_forward(self.norm_ff(x))
        return self.norm_final(x)


class ConformerEncoder(nn.Module):
    def __init__(self, cfg: ConformerConfig):
        super().__init__()
        if cfg.input_layer != "conv2d2":
            raise ValueError(f"unsupported conformer input_layer {cfg.input_layer!r} (IndexTTS uses 'conv2d2')")
        self.cfg = cfg
        self.embed = Conv2dSubsampling2(cfg.input_size, cfg.output_size)
        self.encoders = nn.ModuleList(ConformerBlock(cfg) for _ in range(cfg.num_blocks))
        self.after_norm = nn.LayerNorm(cfg.output_size)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, input_size) features and (B,) valid lengths -> (B, T', output_size) frames, (B, T') validity.

        Lengths larger than T (IndexTTS-2 passes the feature width) simply mean "all valid".
        """
        if feats.ndim != 3 or feats.shape[-1] != self.cfg.input_size:
            raise ValueError(f"conformer expects (batch, frames, {self.cfg.input_size}) features, got {tuple(feats.shape)}")
        steps = torch.arange(feats.shape[1], device=feats.device)
        valid = (steps.unsqueeze(0) < lengths.to(feats.device).unsqueeze(1)).unsqueeze(1)   # (B, 1, T)
        x, pos, valid = self.embed(feats, valid)
        for block in self.encoders:
            x = block(x, valid, pos)
        return self.after_norm(x), valid.squeeze(1)
