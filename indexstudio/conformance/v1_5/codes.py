"""Mel-code post-processing of IndexTTS-1.5 (same function as 2.x)."""
from __future__ import annotations

import torch

from indexstudio.conformance.registry import Case, case
from indexstudio.conformance.v2.gpt import remove_long_silence_case
from indexstudio.models.folder import ModelFolder


@case("1.5", "e1_remove_long_silence")
def remove_long_silence_v1_5(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    return remove_long_silence_case(c)
