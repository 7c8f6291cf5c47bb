"""Conditional flow matching sampler: fixed-step Euler with classifier-free guidance.

The mel is generated as one sequence [prompt | target]: the prompt mel is
given to the estimator as `prompt_x` and its frames of the state x are held
at zero (before the first step and after every step), so the sampler only
fills in the target.  Guidance runs the conditional and the null branch
(prompt, style and condition zeroed) as one doubled batch and mixes them as
(1 + r) * v_cond - r * v_null.

Batching: B sequences padded to a common length go through together;
`x_lens` gives each one's total frames (prompt + target) and `prompt_lens`
each one's prompt frames.  With the estimator of `dit.py` every item's valid
frames come out as if it were sampled alone (see tests/models/test_s2mel.py).
"""
from __future__ import annotations

from typing import Protocol

import torch

from indexstudio.models.s2mel.length_regulator import length_mask


class VelocityEstimator(Protocol):
    def __call__(self, x: torch.Tensor, prompt_x: torch.Tensor, x_lens: torch.Tensor | None, t: torch.Tensor,
                 style: torch.Tensor, cond: torch.Tensor) -> torch.Tensor: ...


class AutocastEstimator(torch.nn.Module):
    """An estimator run under autocast to `dtype`, its velocity back in float32.  The context lives inside
    the module so that torch.compile traces the half-precision graph."""

    def __init__(self, estimator: torch.nn.Module, dtype: torch.dtype):
        super().__init__()
        self.estimator, self.dtype = estimator, dtype

    def forward(self, x: torch.Tensor, prompt_x: torch.Tensor, x_lens: torch.Tensor | None, t: torch.Tensor,
                style: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=self.dtype):
            return self.estimator(x, prompt_x, x_lens, t, style, cond).float()


@torch.inference_mode()
def sample_euler_cfg(
    estimator: VelocityEstimator,
    noise: torch.Tensor,
    cond: torch.Tensor,
    prompt: torch.Tensor,
    style: torch.Tensor,
    x_lens: torch.Tensor | None = None,
    prompt_lens: torch.Tensor | None = None,
    n_steps: int = 25,
    cfg_rate: float = 0.7,
) -> torch.Tensor:
    """Integrate dx/dt = v(x, t) from t=0 (noise) to t=1 (mel).

    noise:  (B, mel, T) starting point (the official code draws randn * temperature)
    cond:   (B, T, content_dim) length-regulated condition, prompt part first
    prompt: (B, mel, P) prompt mel; item b uses its first prompt_lens[b] frames (default P)
    style:  (B, style_dim) speaker style
    x_lens: (B,) valid frames per item (default T)
    Returns the (B, mel, T) mel with prompt frames (and frames past x_lens) zeroed.
    """
    batch, mel_channels, frames = noise.shape
    device = noise.device
    if cond.shape[:2] != (batch, frames) or prompt.shape[:2] != (batch, mel_channels) or style.shape[0] != batch:
        raise ValueError(f"sample_euler_cfg: inconsistent shapes noise {tuple(noise.shape)}, cond {tuple(cond.shape)}, "
                         f"prompt {tuple(prompt.shape)}, style {tuple(style.shape)}")
    if prompt.shape[-1] > frames:
        raise ValueError(f"prompt ({prompt.shape[-1]} frames) is longer than the sequence ({frames} frames)")
    if prompt_lens is None:
        prompt_lens = torch.full((batch,), prompt.shape[-1], dtype=torch.long, device=device)
    if x_lens is None:
        x_lens = torch.full((batch,), frames, dtype=torch.long, device=device)
    x_lens = x_lens.to(device).expand(batch)
    # decided once here, not per step: without padding the estimator runs unmasked and sync-free
    estimator_lens = x_lens if bool((x_lens < frames).any()) else None
    in_prompt = length_mask(prompt_lens.to(device), frames).unsqueeze(1)          # (B, 1, T)
    zero = torch.zeros((), dtype=noise.dtype, device=device)

    prompt_x = torch.zeros_like(noise)
    prompt_x[..., : prompt.shape[-1]] = prompt
    prompt_x = torch.where(in_prompt, prompt_x, zero)
    x = torch.where(in_prompt, zero, noise)

    if cfg_rate > 0:
        # the null branch: same x and t, no prompt, no style, no condition
        prompt_x = torch.cat([prompt_x, torch.zeros_like(prompt_x)])
        style = torch.cat([style, torch.zeros_like(style)])
        cond = torch.cat([cond, torch.zeros_like(cond)])
        estimator_lens = None if estimator_lens is None else estimator_lens.repeat(2)
    copies = 2 if cfg_rate > 0 else 1

    t_span = torch.linspace(0, 1, n_steps + 1, device=device)
    t = t_span[0]
    for step in range(1, n_steps + 1):
        dt = t_span[step] - t_span[step - 1]
        velocity = estimator(x.repeat(copies, 1, 1), prompt_x, estimator_lens, t.expand(copies * batch), style, cond)
        if cfg_rate > 0:
            v_cond, v_null = velocity.chunk(2)
            velocity = (1.0 + cfg_rate) * v_cond - cfg_rate * v_null
        x = x + dt * velocity
        t = t + dt     # time advances by accumulation, as in the official loop
        x = torch.where(in_prompt, zero, x)
    return torch.where(length_mask(x_lens, frames).unsqueeze(1), x, zero)
