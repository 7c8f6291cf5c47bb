"""Audio front end (prompt loading, resampling, mel / fbank features) and CAMPPlus."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from indexstudio.audio.features import kaldi_fbank
from indexstudio.audio.prompt import AudioError, load_prompt_v1_5, load_prompt_v2
from indexstudio.audio.resample import resample
from indexstudio.conformance.runner import run_folder
from indexstudio.models.campplus import read_campplus
from indexstudio.models.folder import ModelFolderError

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"


@pytest.mark.parametrize(
    "version, expected",
    [
        ("indextts2", {"a0_load_audio", "a1_resample_22k_to_16k", "a2_mel_spectrogram", "a3_kaldi_fbank", "a4_campplus_style"}),
        ("indextts2_5", {"a0_load_audio", "a1_resample_22k_to_16k", "a2_mel_spectrogram", "a3_kaldi_fbank_campplus"}),
        ("indextts1_5", {"a1_prompt_resample_and_mel"}),
    ],
)
def test_golden_audio_cases(version: str, expected: set[str]) -> None:
    results = run_folder(GOLDEN / version, only=["a"])
    assert {r.name for r in results} == expected
    failed = [f"{r.name}: {r.worst}" for r in results if not r.passed]
    assert not failed, failed


def test_resample_reproduces_a_band_limited_sine() -> None:
    rate_in, rate_out, hz = 48000, 16000, 440.0
    n = 4800
    wav = torch.sin(2 * math.pi * hz * torch.arange(n, dtype=torch.float64) / rate_in)
    out = resample(wav[None], rate_in, rate_out)[0]
    assert out.shape[-1] == math.ceil(n * rate_out / rate_in)
    want = torch.sin(2 * math.pi * hz * torch.arange(out.shape[-1], dtype=torch.float64) / rate_out)
    interior = slice(100, -100)   # away from the zero-padded edges
    assert (out[interior] - want[interior]).abs().max() < 1e-3


def test_resample_same_rate_is_identity_and_rejects_integers() -> None:
    wav = torch.randn(2, 100)
    assert resample(wav, 16000, 16000) is wav
    with pytest.raises(TypeError):
        resample(torch.zeros(10, dtype=torch.int16), 22050, 16000)


def test_kaldi_fbank_too_short_gives_no_frames() -> None:
    assert kaldi_fbank(torch.zeros(1, 399), num_mel_bins=80).shape == (0, 80)
    assert kaldi_fbank(torch.randn(1, 400 + 160 * 3), num_mel_bins=80).shape == (4, 80)


def test_long_prompt_is_cut_with_one_warning(tmp_path: Path, caplog) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, (np.random.default_rng(0).standard_normal(16000 * 16) * 0.1).astype(np.float32), 16000, subtype="PCM_16")
    for _ in range(2):          # the speaker and the emotion stage read the same file: the user hears of it once
        audio = load_prompt_v2(path, sample_rate=16000)
    assert audio.shape == (1, 15 * 16000)
    assert [r.getMessage() for r in caplog.records] == [f"reference audio {path} is 16.0 s long; only the first 15 s are used"]
    audio = load_prompt_v1_5(path, max_seconds=10)
    assert audio.shape == (1, 10 * 24000)
    assert "only the first 10 s" in caplog.records[-1].getMessage()


def test_bad_audio_raises_audio_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match="nope.wav"):
        load_prompt_v2(missing)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x01garbage" * 10)
    with pytest.raises(AudioError, match="corrupt.wav"):
        load_prompt_v2(corrupt)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="empty.wav"):
        load_prompt_v1_5(empty)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000 * 5, dtype=np.float32), 16000, subtype="PCM_16")
    for load in (load_prompt_v2, load_prompt_v1_5):
        with pytest.raises(AudioError, match=r"silent.wav is 5.00 s of silence"):
            load(silent)


def test_a_very_short_prompt_is_warned_about(tmp_path: Path, caplog) -> None:
    short = tmp_path / "short.wav"
    sf.write(short, 0.1 * np.sin(np.arange(3200) / 5.0).astype(np.float32), 16000, subtype="PCM_16")
    assert load_prompt_v2(short).shape[-1] > 0
    assert "short.wav is 0.20 s long; a voice is cloned best from 3-15 s" in caplog.text


def test_campplus_rejects_a_foreign_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "campplus.bin"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(ModelFolderError, match="not a CAMPPlus state dict"):
        read_campplus(path)
    good = torch.load(GOLDEN / "indextts2" / "hf_cache" / "campplus_cn_common.bin", weights_only=True)
    del good["xvector.block2.tdnnd3.linear1.weight"]
    torch.save(good, path)
    with pytest.raises(ModelFolderError, match="do not match"):
        read_campplus(path)
