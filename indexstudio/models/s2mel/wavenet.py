"""WaveNet post-net of the S2Mel DiT: gated dilated convolutions conditioned on the time step.

The official layers are EnCodec-style `SConv1d` wrappers that pad with
*reflection* (the conv itself has no padding), stored as
`<layer>.conv.conv.{weight,bias}` after weight-norm folding.  Here the
reflection is taken at each sequence's own end (`lengths`), so a padded batch
gives every item exactly what it would get alone; with full lengths this is
the official reflection at the tensor's end.
"""
from __future__ import annotations

import torch
from torch import nn


def reflect_pad_per_item(x: torch.Tensor, left: int, right: int, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reflection padding of (B, C, T) that mirrors at position lengths[b] - 1 instead of T - 1.

    Matches the official `pad1d(mode='reflect')`, including its rule for
    sequences not longer than the padding (the sequence is first extended with
    zeros to `max(left, right) + 1` frames).  Frames at or after lengths[b]
    read as zeros.
    """
    if left == 0 and right == 0:
        return x
    batch, _, frames = x.shape
    if lengths is None:
        lengths = torch.full((batch,), frames, dtype=torch.long, device=x.device)
    lengths = lengths.to(device=x.device, dtype=torch.long).expand(batch)
    src = torch.arange(-left, frames + right, device=x.device).unsqueeze(0)     # (1, T')
    span = lengths.clamp(min=max(left, right) + 1).unsqueeze(1)                 # (B, 1)
    src = src.abs()
    src = torch.where(src >= span, 2 * (span - 1) - src, src)
    inside = (src >= 0) & (src < lengths.unsqueeze(1))
    src = src.clamp(0, frames - 1)
    gathered = x.gather(2, src.unsqueeze(1).expand(-1, x.shape[1], -1))
    return torch.where(inside.unsqueeze(1), gathered, torch.zeros((), dtype=x.dtype, device=x.device))


class ReflectConv1d(nn.Module):
    """Stride-1 Conv1d with 'same' reflection padding (right side gets the smaller half)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__()
        # the checkpoint nests the conv two levels deep (`conv.conv.weight`), as the official wrappers did
        self.conv = nn.Module()
        self.conv.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)
        total = (kernel_size - 1) * dilation
        self.pad_right = total // 2
        self.pad_left = total - self.pad_right

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv.conv(reflect_pad_per_item(x, self.pad_left, self.pad_right, lengths))


class WaveNet(nn.Module):
    """Non-causal WN stack (VITS style): tanh*sigmoid gates, residual and skip outputs, global condition."""

    def __init__(self, hidden: int, kernel_size: int, dilation_rate: int, n_layers: int, cond_channels: int):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"WaveNet kernel_size must be odd, got {kernel_size}")
        self.hidden = hidden
        self.n_layers = n_layers
        self.cond_layer = ReflectConv1d(cond_channels, 2 * hidden * n_layers, 1)
        self.in_layers = nn.ModuleList(
            ReflectConv1d(hidden, 2 * hidden, kernel_size, dilation=dilation_rate**i) for i in range(n_layers)
        )
        # the last layer only feeds the skip sum, so it emits `hidden` channels instead of 2x
        self.res_skip_layers = nn.ModuleList(
            ReflectConv1d(hidden, 2 * hidden if i < n_layers - 1 else hidden, 1) for i in range(n_layers)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor,
                lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, H, T), mask (B or 1, 1, T), cond (B, cond_channels, 1) -> (B, H, T)."""
        cond = self.cond_layer(cond)
        skip = torch.zeros_like(x)
        for i, (in_layer, res_skip_layer) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            pre = in_layer(x, lengths) + cond[:, 2 * self.hidden * i: 2 * self.hidden * (i + 1)]
            gated = torch.tanh(pre[:, : self.hidden]) * torch.sigmoid(pre[:, self.hidden:])
            res_skip = res_skip_layer(gated)
            if i < self.n_layers - 1:
                x = (x + res_skip[:, : self.hidden]) * mask
                skip = skip + res_skip[:, self.hidden:]
            else:
                skip = skip + res_skip
        return skip * mask
