"""BigVGAN vocoders (IndexTTS-2 / 2.5 mel vocoder, IndexTTS-1.5 latent vocoder with ECAPA-TDNN)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from indexstudio.conformance.runner import run_folder
from indexstudio.models.bigvgan import kaiser_sinc_filter, load_bigvgan_v1_5, read_bigvgan_v2
from indexstudio.models.folder import ModelFolder, ModelFolderError

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"


@pytest.mark.parametrize(
    "version, expected",
    [
        ("indextts2", {"g1_bigvgan"}),
        ("indextts2_5", {"g1_bigvgan"}),
        ("indextts1_5", {"g1_bigvgan_with_speaker_encoder"}),
    ],
)
def test_golden_vocoder_cases(version: str, expected: set[str]) -> None:
    results = run_folder(GOLDEN / version, only=["g1"])
    assert {r.name for r in results} == expected
    failed = [f"{r.name}: {r.worst}" for r in results if not r.passed]
    assert not failed, failed


def test_v2_output_length_is_frames_times_hop() -> None:
    model = read_bigvgan_v2(GOLDEN / "indextts2" / "hf_cache" / "bigvgan")
    config = json.loads((GOLDEN / "indextts2" / "hf_cache" / "bigvgan" / "config.json").read_text())
    hop = 1
    for rate in config["upsample_rates"]:
        hop *= rate
    assert model.hop_length == hop == config["hop_size"]
    with torch.inference_mode():
        wav = model(torch.randn(1, config["num_mels"], 5))
    assert wav.shape == (1, 1, 5 * hop)
    assert wav.abs().max() <= 1.0


@pytest.mark.parametrize("version", ["indextts2", "indextts2_5"])
def test_padded_batch_equals_each_item_alone(version: str) -> None:
    model = read_bigvgan_v2(GOLDEN / version / "hf_cache" / "bigvgan")
    torch.manual_seed(0)
    frames = [9, 23, 16]
    mels = [torch.randn(1, model.cfg.in_channels, f) for f in frames]
    batch = torch.zeros(len(mels), model.cfg.in_channels, max(frames))
    for i, mel in enumerate(mels):
        batch[i, :, :frames[i]] = mel[0]
    hop = model.hop_length
    with torch.inference_mode():
        alone = [model(mel)[0, 0] for mel in mels]
        batched = model(batch, torch.tensor(frames))
        naive = model(batch)                          # the same batch with no per-item edges
    for i, wav in enumerate(alone):
        assert wav.shape == (frames[i] * hop,)
        torch.testing.assert_close(batched[i, 0, :frames[i] * hop], wav, rtol=0, atol=1e-5)
    # without the lengths, the zeros after a short item leak into its last samples
    assert (naive[0, 0, :frames[0] * hop] - alone[0]).abs().max() > 1e-3


def test_kaiser_filter_is_a_unit_gain_lowpass() -> None:
    taps = kaiser_sinc_filter(0.25, 0.3, 12).flatten()
    assert taps.shape == (12,)
    assert torch.allclose(taps.sum(), torch.tensor(1.0))
    assert torch.allclose(taps, taps.flip(0))                      # linear phase
    nyquist_gain = (taps * torch.tensor([(-1.0) ** n for n in range(12)])).sum().abs()
    assert nyquist_gain < 0.05


def test_missing_bigvgan_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="config.json"):
        read_bigvgan_v2(tmp_path)


def test_checkpoint_without_generator_key_is_rejected(tmp_path: Path) -> None:
    shutil.copy(GOLDEN / "indextts2" / "hf_cache" / "bigvgan" / "config.json", tmp_path / "config.json")
    torch.save({"model": {}}, tmp_path / "bigvgan_generator.pt")
    with pytest.raises(ModelFolderError, match="generator"):
        read_bigvgan_v2(tmp_path)


def test_config_that_disagrees_with_the_weights_is_rejected(tmp_path: Path) -> None:
    source = GOLDEN / "indextts2" / "hf_cache" / "bigvgan"
    config = json.loads((source / "config.json").read_text())
    config["upsample_initial_channel"] *= 2
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "bigvgan_generator.pt").symlink_to(source / "bigvgan_generator.pt")
    with pytest.raises(ModelFolderError, match="do not match"):
        read_bigvgan_v2(tmp_path)


def _v1_5_copy(tmp_path: Path, **bigvgan_overrides) -> ModelFolder:
    source = GOLDEN / "indextts1_5"
    config = yaml.safe_load((source / "config.yaml").read_text())
    config["bigvgan"].update(bigvgan_overrides)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / config["bigvgan_checkpoint"]).symlink_to(source / config["bigvgan_checkpoint"])
    return ModelFolder(tmp_path)


def test_v1_5_speaker_width_must_match_config(tmp_path: Path) -> None:
    folder = _v1_5_copy(tmp_path, speaker_embedding_dim=7)
    with pytest.raises(ModelFolderError, match="speaker_embedding_dim 7"):
        load_bigvgan_v1_5(folder)


def test_v1_5_speaker_encoder_rejects_a_mel_of_the_wrong_width(tmp_path: Path) -> None:
    model = load_bigvgan_v1_5(_v1_5_copy(tmp_path))
    bins = model.speaker_encoder.input_size
    with pytest.raises(ValueError, match=f"B, T, {bins}"):
        model.embed_speaker(torch.randn(1, 20, bins + 1))
    with torch.inference_mode():
        speaker = model.embed_speaker(torch.randn(2, 20, bins))
        wav = model(torch.randn(2, 3, model.cfg.in_channels), speaker)
    assert speaker.shape == (2, 1, model.speaker_encoder.embedding_dim)
    assert wav.shape == (2, 1, 3 * model.hop_length)
