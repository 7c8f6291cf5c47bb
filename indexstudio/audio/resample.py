"""Band-limited sinc resampling, numerically equal to torchaudio's default resampler.

The official IndexTTS code resamples with `torchaudio.transforms.Resample(a, b)`
(Hann-windowed sinc, 6 zero crossings, rolloff 0.99).  The models were fed
audio prepared that way, so we reproduce that filter exactly: the rate ratio is
reduced by its gcd, giving `new` polyphase filters of a few dozen taps that are
applied with one strided conv1d.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

ZERO_CROSSINGS = 6
ROLLOFF = 0.99


@lru_cache(maxsize=32)
def _polyphase_kernel(orig: int, new: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, int]:
    """Filters (new, 1, taps) for the gcd-reduced rates, and the one-sided support in input samples.

    Output phase p (time p/new in input-period units) takes input sample i with
    weight sinc(cutoff * (i/orig - p/new)) * hann, cutoff = rolloff * min(orig, new).
    """
    cutoff = min(orig, new) * ROLLOFF
    support = math.ceil(ZERO_CROSSINGS * orig / cutoff)
    input_times = torch.arange(-support, support + orig, dtype=torch.float64) / orig
    # torchaudio divides the integer phase offsets in float32 before mixing in float64;
    # reproducing that rounding makes the result bit-identical to its Resample transform
    output_times = (torch.arange(0, -new, -1, dtype=torch.float32) / new).double()
    x = (output_times[:, None] + input_times[None, :]) * cutoff
    x = x.clamp(-ZERO_CROSSINGS, ZERO_CROSSINGS)
    hann = torch.cos(x * (math.pi / (2 * ZERO_CROSSINGS))) ** 2
    phase = x * math.pi
    safe = torch.where(phase == 0, torch.ones_like(phase), phase)
    sinc = torch.where(phase == 0, torch.ones_like(phase), torch.sin(safe) / safe)
    kernel = sinc * hann * (cutoff / orig)
    return kernel[:, None, :].to(dtype=dtype, device=device), support


def resample(wav: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Resample the last axis of float `wav` (any leading shape) from `orig_sr` to `new_sr` Hz.

    Same rates return the input unchanged; the output has ceil(N * new / orig) samples
    (the ratio rounded to float32 first, as torchaudio does).
    """
    if int(orig_sr) != orig_sr or int(new_sr) != new_sr or orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive integers, got {orig_sr} -> {new_sr}")
    if not wav.is_floating_point():
        raise TypeError(f"resample expects a floating-point waveform, got {wav.dtype}")
    orig_sr, new_sr = int(orig_sr), int(new_sr)
    if orig_sr == new_sr:
        return wav
    g = math.gcd(orig_sr, new_sr)
    orig, new = orig_sr // g, new_sr // g
    kernel, support = _polyphase_kernel(orig, new, wav.dtype, wav.device)

    lead, length = wav.shape[:-1], wav.shape[-1]
    flat = wav.reshape(-1, 1, length)
    padded = F.pad(flat, (support, support + orig))
    phases = F.conv1d(padded, kernel, stride=orig)            # (B, new, blocks)
    out = phases.transpose(1, 2).reshape(flat.shape[0], -1)   # interleave the phases
    # torchaudio rounds the exact length through a float32 tensor before ceil; keep that
    out_len = math.ceil(torch.tensor(new * length / orig, dtype=torch.float32).item())
    return out[:, :out_len].reshape(*lead, -1)
