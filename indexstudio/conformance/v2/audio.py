"""Audio front end of IndexTTS-2: prompt loading, resampling, S2Mel mel, Kaldi fbank, CAMPPlus style."""
from __future__ import annotations

import torch

from indexstudio.audio.features import S2MelSpectrogramParams, centered_fbank, kaldi_fbank, s2mel_mel_spectrogram
from indexstudio.audio.prompt import V2_SAMPLE_RATE, load_prompt_v2
from indexstudio.audio.resample import resample
from indexstudio.conformance.registry import Case, case
from indexstudio.models.campplus import load_campplus, speaker_style
from indexstudio.models.folder import ModelFolder


@case("2", "a0_load_audio")
def load_audio(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    out = {}
    for call in c.args["calls"]:
        out[call["out"]] = load_prompt_v2(
            c.file(call["path"]),
            sample_rate=call["sr"] or V2_SAMPLE_RATE,
            max_seconds=call["max_audio_length_seconds"],
        )
    return out


@case("2", "a1_resample_22k_to_16k")
def resample_22k_to_16k(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    return {"audio_16k": resample(c.inputs["audio_22k"], c.args["orig_freq"], c.args["new_freq"])}


@case("2", "a2_mel_spectrogram")
def mel_spectrogram(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    params = S2MelSpectrogramParams.from_config(folder.config["s2mel"])
    return {"mel": s2mel_mel_spectrogram(c.inputs["y"], params)}


@case("2", "a3_kaldi_fbank")
def fbank(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    audio = c.inputs["audio_16k"]
    bins = c.args["num_mel_bins"]
    return {
        "fbank": kaldi_fbank(audio, num_mel_bins=bins, sample_frequency=c.args["sample_frequency"]),
        "fbank_centered": centered_fbank(audio, num_mel_bins=bins),
    }


@case("2", "a4_campplus_style")
def campplus_style(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    return {"style": load_campplus(folder)(c.inputs["feat"])}


@case("2.5", "a3_kaldi_fbank_campplus")
def fbank_and_style(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    audio = c.inputs["audio_16k"]
    return {
        "fbank_centered": centered_fbank(audio, num_mel_bins=c.args["num_mel_bins"]),
        "style": speaker_style(load_campplus(folder), audio),
    }
