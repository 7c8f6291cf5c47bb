"""Perceiver resampler: a fixed number of learned latents cross-attend to a variable-length context.

IndexTTS uses it to squeeze conformer frames into 32 speaker latents (GPT width)
or one emotion latent (w2v-BERT width).  Each of the two layers attends over the
latents *and* the context together, then applies a GEGLU feed-forward; the
output goes through an RMS norm scaled by sqrt(dim).  Checkpoint layout:
`latents`, `proj_context`, `layers.N.0.{to_q,to_kv,to_out}`, `layers.N.1.{0,2}`, `norm.gamma`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

HEAD_DIM = 64
DEPTH = 2


class GEGLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = x.chunk(2, dim=-1)
        return F.gelu(gate) * value


def geglu_feed_forward(dim: int, mult: float) -> nn.Sequential:
    inner = int(dim * mult * 2 / 3)
    return nn.Sequential(nn.Linear(dim, inner * 2), GEGLU(), nn.Linear(inner, dim))


class LatentAttention(nn.Module):
    """Latents attend to [latents; context]; keys of padded context frames are masked out."""

    def __init__(self, dim: int, heads: int, head_dim: int = HEAD_DIM):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, latents: torch.Tensor, context: torch.Tensor, key_valid: torch.Tensor | None) -> torch.Tensor:
        keys_from = torch.cat((latents, context), dim=1)
        q = self._heads(self.to_q(latents))
        k, v = (self._heads(t) for t in self.to_kv(keys_from).chunk(2, dim=-1))
        sim = torch.matmul(q, k.transpose(-2, -1)) * self.head_dim ** -0.5
        if key_valid is not None:
            sim = sim.masked_fill(~key_valid[:, None, None, :], -torch.finfo(sim.dtype).max)
        out = torch.matmul(sim.softmax(dim=-1), v)
        b, _, n, _ = out.shape
        return self.to_out(out.transpose(1, 2).reshape(b, n, self.heads * self.head_dim))


class RMSNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.scale = dim ** 0.5
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) * self.scale * self.gamma


class PerceiverResampler(nn.Module):
    def __init__(self, dim: int, context_dim: int, num_latents: int, heads: int, ff_mult: float, depth: int = DEPTH):
        super().__init__()
        self.proj_context = nn.Linear(context_dim, dim) if context_dim != dim else nn.Identity()
        self.latents = nn.Parameter(torch.zeros(num_latents, dim))
        self.layers = nn.ModuleList(
            nn.ModuleList([LatentAttention(dim, heads), geglu_feed_forward(dim, ff_mult)]) for _ in range(depth)
        )
        self.norm = RMSNorm(dim)

    def forward(self, context: torch.Tensor, context_valid: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, context_dim) and optional (B, T) validity -> (B, num_latents, dim)."""
        context = self.proj_context(context)
        latents = self.latents.unsqueeze(0).expand(context.shape[0], -1, -1)
        key_valid = None
        if context_valid is not None:
            always = torch.ones(context.shape[0], latents.shape[1], dtype=torch.bool, device=context.device)
            key_valid = torch.cat((always, context_valid.bool()), dim=1)
        for attn, ff in self.layers:
            latents = attn(latents, context, key_valid) + latents
            latents = ff(latents) + latents
        return self.norm(latents)
