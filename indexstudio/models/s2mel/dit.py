"""The S2Mel flow-matching estimator: a diffusion transformer with a WaveNet post-net.

Per frame, the noisy mel, the prompt mel (zero outside the prompt), the
semantic condition and the 192-d speaker style are concatenated and merged
into the model width.  A gpt-fast style transformer follows: pre-norm blocks
whose RMSNorm gain and bias come from the time embedding (adaptive RMSNorm),
rotary self-attention, SwiGLU feed-forward, and U-ViT skips (the first half of
the blocks hands its outputs, last first, to the blocks after the middle one).
A long skip re-injects the noisy mel, then a WaveNet conditioned on a second
time embedding and an adaLN-modulated output layer predict the velocity
d(phi)/dt of the mel.  Attribute names follow the official checkpoint.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from indexstudio.models.s2mel.length_regulator import length_mask
from indexstudio.models.s2mel.wavenet import WaveNet


@dataclass(frozen=True)
class DiTConfig:
    mel_channels: int          # DiT.in_channels (80 mel bins)
    hidden: int                # DiT.hidden_dim
    heads: int
    depth: int
    ffn_hidden: int            # SwiGLU width (the checkpoint's feed_forward.w1 rows)
    content_dim: int           # width of the semantic condition (DiT.content_dim)
    style_dim: int             # style_encoder.dim (CAMPPlus, 192)
    style_condition: bool
    uvit_skip: bool
    long_skip: bool
    wavenet_hidden: int
    wavenet_layers: int
    wavenet_kernel: int
    wavenet_dilation_rate: int
    time_freq_dim: int = 256   # sinusoid width fed to the time MLPs
    rope_base: float = 10000.0
    norm_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.eps) * self.weight


class AdaptiveRMSNorm(nn.Module):
    """RMSNorm whose per-channel gain and bias are projected from a conditioning vector."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.norm = RMSNorm(dim, eps)
        self.project_layer = nn.Linear(dim, 2 * dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gain, bias = self.project_layer(cond).chunk(2, dim=-1)
        return gain * self.norm(x) + bias


def rotary_table(n_positions: int, head_dim: int, base: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, each (n_positions, head_dim // 2), of the rotary angles pos * base^(-2i/head_dim)."""
    exponents = torch.arange(0, head_dim, 2, device=device)[: head_dim // 2].float() / head_dim
    inv_freq = 1.0 / (base ** exponents)
    angles = torch.outer(torch.arange(n_positions, device=device), inv_freq)
    unit = torch.polar(torch.ones_like(angles), angles)
    return unit.real, unit.imag


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive channel pairs (2i, 2i+1) of x (B, T, H, D) by the per-position angles."""
    pairs = x.float().unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    cos = cos[None, :, None, :]
    sin = sin[None, :, None, :]
    rotated = torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1)
    return rotated.flatten(3).type_as(x)


class Attention(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.heads = cfg.heads
        self.head_dim = cfg.head_dim
        self.wqkv = nn.Linear(cfg.hidden, 3 * cfg.heads * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.heads * cfg.head_dim, cfg.hidden, bias=False)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], key_mask: torch.Tensor | None) -> torch.Tensor:
        batch, frames, _ = x.shape
        q, k, v = (t.view(batch, frames, self.heads, self.head_dim) for t in self.wqkv(x).chunk(3, dim=-1))
        q = apply_rotary(q, *rope).transpose(1, 2)
        k = apply_rotary(k, *rope).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v.transpose(1, 2), attn_mask=key_mask)
        return self.wo(y.transpose(1, 2).reshape(batch, frames, self.heads * self.head_dim))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.attention = Attention(cfg)
        self.feed_forward = FeedForward(cfg.hidden, cfg.ffn_hidden)
        self.attention_norm = AdaptiveRMSNorm(cfg.hidden, cfg.norm_eps)
        self.ffn_norm = AdaptiveRMSNorm(cfg.hidden, cfg.norm_eps)
        # every block owns a skip merge when U-ViT skips are on, though only the late ones use it
        self.skip_in_linear = nn.Linear(2 * cfg.hidden, cfg.hidden) if cfg.uvit_skip else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
                key_mask: torch.Tensor | None, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = self.skip_in_linear(torch.cat([x, skip], dim=-1))
        h = x + self.attention(self.attention_norm(x, cond), rope, key_mask)
        return h + self.feed_forward(self.ffn_norm(h, cond))


class Transformer(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.depth))
        self.norm = AdaptiveRMSNorm(cfg.hidden, cfg.norm_eps)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        rope = rotary_table(x.shape[1], self.cfg.head_dim, self.cfg.rope_base, x.device)
        middle = self.cfg.depth // 2
        pending: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            skip = pending.pop() if self.cfg.uvit_skip and i > middle else None
            x = layer(x, cond, rope, key_mask, skip)
            if self.cfg.uvit_skip and i < middle:
                pending.append(x)
        return self.norm(x, cond)


class TimestepEmbedder(nn.Module):
    """Flow time t in [0, 1] -> sinusoids of 1000 t -> two-layer SiLU MLP."""

    def __init__(self, hidden: int, freq_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        half = freq_dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        phase = 1000 * t[:, None].float() * self.freqs[None]
        sinusoids = torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)
        if self.mlp[0].in_features % 2:
            sinusoids = F.pad(sinusoids, (0, 1))
        return self.mlp(sinusoids)


class FinalLayer(nn.Module):
    """LayerNorm without affine, shifted and scaled by the time embedding (adaLN), then a linear map."""

    def __init__(self, dim: int, cond_dim: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 2 * dim))
        self.linear = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(cond).chunk(2, dim=1)
        return self.linear(self.norm_final(x) * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1))


class DiT(nn.Module):
    """Velocity estimator v(x_t, t | prompt mel, semantic condition, style)."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        merged = cfg.hidden + 2 * cfg.mel_channels + (cfg.style_dim if cfg.style_condition else 0)
        self.cond_projection = nn.Linear(cfg.content_dim, cfg.hidden)
        self.cond_x_merge_linear = nn.Linear(merged, cfg.hidden)
        self.t_embedder = TimestepEmbedder(cfg.hidden, cfg.time_freq_dim)
        self.transformer = Transformer(cfg)
        # present in every checkpoint; applied only with long_skip_connection
        self.skip_linear = nn.Linear(cfg.hidden + cfg.mel_channels, cfg.hidden)
        self.conv1 = nn.Linear(cfg.hidden, cfg.wavenet_hidden)
        self.t_embedder2 = TimestepEmbedder(cfg.wavenet_hidden, cfg.time_freq_dim)
        self.wavenet = WaveNet(cfg.wavenet_hidden, cfg.wavenet_kernel, cfg.wavenet_dilation_rate,
                               cfg.wavenet_layers, cond_channels=cfg.wavenet_hidden)
        self.res_projection = nn.Linear(cfg.hidden, cfg.wavenet_hidden)
        self.final_layer = FinalLayer(cfg.wavenet_hidden, cfg.hidden)
        self.conv2 = nn.Conv1d(cfg.wavenet_hidden, cfg.mel_channels, 1)

    def forward(self, x: torch.Tensor, prompt_x: torch.Tensor, x_lens: torch.Tensor | None, t: torch.Tensor,
                style: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x, prompt_x (B, mel, T); x_lens (B,) or (1,) valid frames, None = all; t (B,);
        style (B, style_dim); cond (B, T, content_dim)  ->  velocity (B, mel, T).

        Frames at or after x_lens[b] are masked out of attention and WaveNet,
        so they never influence the valid frames of item b.  Nothing here reads
        a tensor back to the host, so a compiled estimator is one graph.
        """
        batch, _, frames = x.shape
        t_emb = self.t_embedder(t)
        noisy = x.transpose(1, 2)
        parts = [noisy, prompt_x.transpose(1, 2), self.cond_projection(cond)]
        if self.cfg.style_condition:
            parts.append(style.unsqueeze(1).expand(-1, frames, -1))
        h = self.cond_x_merge_linear(torch.cat(parts, dim=-1))

        if x_lens is None:         # no padding: the unmasked attention, and no per-step host sync
            key_mask, frame_mask, lengths = None, x.new_ones(1, 1, frames), None
        else:
            valid = length_mask(x_lens.to(x.device), frames)                     # (B or 1, T)
            key_mask, frame_mask = valid[:, None, None, :], valid.unsqueeze(1).to(x.dtype)
            lengths = x_lens.expand(batch)
        h = self.transformer(h, t_emb.unsqueeze(1), key_mask)

        if self.cfg.long_skip:
            h = self.skip_linear(torch.cat([h, noisy], dim=-1))
        post = self.wavenet(self.conv1(h).transpose(1, 2), frame_mask, self.t_embedder2(t).unsqueeze(2), lengths)
        post = post.transpose(1, 2) + self.res_projection(h)
        return self.conv2(self.final_layer(post, t_emb).transpose(1, 2))
