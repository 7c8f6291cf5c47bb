"""Folding of legacy weight-norm checkpoints into plain weights.

Official IndexTTS checkpoints made with `torch.nn.utils.weight_norm` store each
normalised weight as a pair (`weight_g` gain, `weight_v` direction).  Folding
them once at load time lets inference run ordinary layers.
"""
from __future__ import annotations

import torch

from indexstudio.models.folder import ModelFolderError


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every `<name>.weight_g` / `<name>.weight_v` pair by `<name>.weight = g * v / ||v||`
    (norm over all dims but 0), the weight the legacy weight_norm hook computes on each call."""
    folded = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            continue
        if key.endswith(".weight_v"):
            stem = key[: -len(".weight_v")]
            gain = state.get(stem + ".weight_g")
            if gain is None:
                raise ModelFolderError(f"weight-norm tensor {key} has no matching {stem}.weight_g")
            folded[stem + ".weight"] = torch._weight_norm(value, gain, 0)
        else:
            folded[key] = value
    return folded
