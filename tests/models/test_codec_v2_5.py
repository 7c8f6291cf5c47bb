"""IndexTTS-2.5 EnhancedCodec (half-rate RepCodec) and the 2.5 S2Mel stages built on it."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from indexstudio.conformance.runner import run_folder
from indexstudio.models.folder import ModelFolder, ModelFolderError
from indexstudio.models.semantic_codec import (
    EnhancedCodec, SemanticCodecConfig, load_enhanced_codec, read_enhanced_codec, read_semantic_codec,
)

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
V2_5 = GOLDEN / "indextts2_5"


@pytest.fixture(scope="module")
def folder() -> ModelFolder:
    return ModelFolder(V2_5)


def test_golden_codec_and_s2mel_cases() -> None:
    results = run_folder(V2_5, only=["c1", "c2", "f1", "f2", "f3"])
    assert {r.name for r in results} == {
        "c1_codec_quantize", "c2_codec_decode", "f1_target_length_rule",
        "f2_codec_decode_and_length_regulator", "f3_cfm_inference",
    }
    failed = [f"{r.name}: {r.worst}" for r in results if not r.passed]
    assert not failed, failed


def test_frame_rates(folder: ModelFolder) -> None:
    codec = load_enhanced_codec(folder)
    width = codec.cfg.hidden_size
    with torch.inference_mode():
        for frames in (1, 2, 7, 10):
            codes, quantized = codec.quantize(torch.randn(2, frames, width))
            assert codes.shape == (2, (frames + 1) // 2) and quantized.shape == (2, (frames + 1) // 2, width)
            assert codec.decode(codes).shape == (2, 2 * codes.shape[1], width)


def test_padded_batch_decode_matches_items_alone(folder: ModelFolder) -> None:
    codec = load_enhanced_codec(folder)
    gen = torch.Generator().manual_seed(0)
    lengths = [9, 3, 14]
    items = [torch.randint(0, codec.cfg.codebook_size, (1, n), generator=gen) for n in lengths]
    batch = torch.full((len(items), max(lengths)), 5)                 # padding holds valid but foreign codes
    for b, item in enumerate(items):
        batch[b, : item.shape[1]] = item[0]
    with torch.inference_mode():
        out = codec.decode(batch, torch.tensor(lengths))
        for b, item in enumerate(items):
            alone = codec.decode(item)[0]
            torch.testing.assert_close(out[b, : alone.shape[0]], alone, atol=1e-5, rtol=1e-4)
            assert out[b, alone.shape[0]:].abs().sum().item() == 0.0
        # without lengths the padded items differ near their end: the masking above is needed
        assert not torch.allclose(codec.decode(batch)[1, : 2 * lengths[1]], codec.decode(items[1])[0], atol=1e-3)
        with pytest.raises(ValueError, match="code_lens must be"):
            codec.decode(batch, torch.tensor(lengths[:2]))


def test_config_defaults_and_rate_checks(folder: ModelFolder) -> None:
    section = dict(folder.config["semantic_codec"])
    without_scale = {k: v for k, v in section.items() if k != "downsample_scale"}
    assert SemanticCodecConfig.from_config(without_scale, default_downsample_scale=2).downsample_scale == 2
    assert SemanticCodecConfig.from_config(without_scale).downsample_scale == 1
    assert isinstance(read_enhanced_codec(folder.path("codec"), without_scale), EnhancedCodec)
    with pytest.raises(ModelFolderError, match="needs > 1"):
        read_enhanced_codec(folder.path("codec"), {**section, "downsample_scale": 1})
    with pytest.raises(ModelFolderError, match="2.5 codec, not RepCodec"):
        read_semantic_codec(folder.path("codec"), section)
    with pytest.raises(ModelFolderError, match="do not match"):
        read_enhanced_codec(folder.path("codec"), {**section, "codebook_dim": section["codebook_dim"] + 1})


def test_bad_folder_and_checkpoint_are_named(folder: ModelFolder, tmp_path: Path) -> None:
    shutil.copy(V2_5 / "config.yaml", tmp_path / "config.yaml")
    with pytest.raises(ModelFolderError, match="EnhancedCodec checkpoint"):
        load_enhanced_codec(ModelFolder(tmp_path))
    section = folder.config["semantic_codec"]
    torch.save({"net": {}}, tmp_path / "codec.pth")
    with pytest.raises(ModelFolderError, match="not a codec checkpoint"):
        read_enhanced_codec(tmp_path / "codec.pth", section)
    (tmp_path / "codec.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFolderError, match="cannot read the codec checkpoint"):
        read_enhanced_codec(tmp_path / "codec.pth", section)
