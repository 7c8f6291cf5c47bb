"""Audio front end of IndexTTS-1.5: prompt loading at 24 kHz and the 100-bin log mel."""
from __future__ import annotations

from pathlib import Path

import torch

from indexstudio.audio.features import log_mel_100
from indexstudio.audio.prompt import load_prompt_v1_5
from indexstudio.conformance.registry import Case, case
from indexstudio.models.folder import ModelFolder


@case("1.5", "a1_prompt_resample_and_mel")
def prompt_resample_and_mel(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    out = {}
    for rel in c.args["prompts"]:
        tag = Path(rel).stem.split("_")[1]   # prompt_<tag>_<rate>.wav -> outputs audio_<tag>_24k, mel_<tag>
        audio = load_prompt_v1_5(c.file(rel))
        out[f"audio_{tag}_24k"] = audio
        out[f"mel_{tag}"] = log_mel_100(audio)
    return out
