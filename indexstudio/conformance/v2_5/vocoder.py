"""BigVGAN v2 vocoder of IndexTTS-2.5 (same network as IndexTTS-2): mel -> waveform."""
from __future__ import annotations

import torch

from indexstudio.conformance.registry import Case, case
from indexstudio.models.bigvgan import load_bigvgan_v2
from indexstudio.models.folder import ModelFolder


@case("2.5", "g1_bigvgan")
def bigvgan(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    return {"wav": load_bigvgan_v2(folder)(c.inputs["mel"])}
