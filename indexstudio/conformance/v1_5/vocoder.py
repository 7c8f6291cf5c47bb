"""IndexTTS-1.5 vocoder: GPT latents -> waveform, conditioned on the ECAPA-TDNN prompt embedding."""
from __future__ import annotations

import torch

from indexstudio.conformance.registry import Case, case
from indexstudio.models.bigvgan import load_bigvgan_v1_5
from indexstudio.models.folder import ModelFolder


@case("1.5", "g1_bigvgan_with_speaker_encoder")
def bigvgan_with_speaker_encoder(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    vocoder = load_bigvgan_v1_5(folder)
    speaker = vocoder.embed_speaker(c.inputs["mel_ref"])
    return {"speaker_embedding": speaker, "wav": vocoder(c.inputs["latent"], speaker)}
