"""Length regulator: semantic features at token rate -> S2Mel condition at mel-frame rate.

Continuous variant of the official `InterpolateRegulator`: a linear input
projection, nearest-neighbour stretching to the target frame count, a few
(conv3, GroupNorm(1), Mish) blocks and a 1x1 conv; frames past each target
length are zeroed.  IndexTTS-2 feeds it the codec embedding of the GPT codes
plus the projected GPT latent (target) and the quantised prompt features
(prompt); 2.5 feeds it the codec decoder output and the raw w2v-BERT features.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# IndexTTS-2: mel frames per GPT code (22050 Hz / 256 hop vs. the code rate)
MEL_FRAMES_PER_CODE = 1.72


def length_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """(B,) lengths -> (B, frames) bool, True on each item's valid frames."""
    return torch.arange(frames, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def v2_target_lengths(code_lens: torch.Tensor) -> torch.Tensor:
    """IndexTTS-2 mel length for each code sequence: (code_lens * 1.72).long(), evaluated in float32 torch."""
    return (code_lens * MEL_FRAMES_PER_CODE).long()


def v2_5_target_length(semantic_frames: int, duration_factor: float = 1.0) -> int:
    """IndexTTS-2.5 mel length: int(frames * 1.72 * duration_factor) in Python floats
    (frames = codec decoder output frames, twice the code count)."""
    return int(semantic_frames * MEL_FRAMES_PER_CODE * duration_factor)


class LengthRegulator(nn.Module):
    def __init__(self, in_channels: int, channels: int, n_blocks: int, groups: int = 1):
        super().__init__()
        self.content_in_proj = nn.Linear(in_channels, channels)
        self.stretch = n_blocks > 0
        layers: list[nn.Module] = []
        for _ in range(n_blocks):
            layers += [nn.Conv1d(channels, channels, 3, padding=1), nn.GroupNorm(groups, channels), nn.Mish()]
        layers.append(nn.Conv1d(channels, channels, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor, ylens: torch.Tensor) -> torch.Tensor:
        """features (B, T_in, in_channels), ylens (B,) target frames -> (B, ylens.max(), channels).

        Like the official module, a batch is stretched to the longest target as
        a whole (shorter items are not stretched to their own length), so call
        it once per sequence when the targets differ.
        """
        h = self.content_in_proj(features).transpose(1, 2)
        frames = int(ylens.max())
        if self.stretch:
            h = F.interpolate(h, size=frames, mode="nearest")
        out = self.model(h).transpose(1, 2)
        return out * length_mask(ylens, frames)[:, : out.shape[1], None]
