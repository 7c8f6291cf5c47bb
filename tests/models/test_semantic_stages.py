"""w2v-BERT semantic features and the RepCodec semantic codec."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from indexstudio.conformance.runner import run_folder
from indexstudio.models.folder import ModelFolder, ModelFolderError
from indexstudio.models.semantic_codec import load_semantic_codec, read_semantic_codec
from indexstudio.models.w2vbert import SEMANTIC_LAYER, load_semantic_encoder, read_semantic_encoder

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
V2 = GOLDEN / "indextts2"


@pytest.fixture(scope="module")
def folder() -> ModelFolder:
    return ModelFolder(V2)


@pytest.fixture(scope="module")
def prompts() -> dict[str, torch.Tensor]:
    case = load_file(str(V2 / "cases" / "b1_seamless_features.safetensors"))
    return {lang: case[f"in.audio_{lang}_16k"] for lang in ("en", "zh")}


@pytest.mark.parametrize(
    "version, prefixes, expected",
    [
        ("indextts2", ["b", "c"], {"b1_seamless_features", "b2_w2vbert_get_emb", "b3_w2vbert_get_emb_padded_batch",
                                   "c1_semantic_codec_quantize", "c2_semantic_codec_vq2emb"}),
        ("indextts2_5", ["b"], {"b1_seamless_features_w2vbert_get_emb"}),
    ],
)
def test_golden_semantic_cases(version: str, prefixes: list[str], expected: set[str]) -> None:
    results = run_folder(GOLDEN / version, only=prefixes)
    assert {r.name for r in results} == expected
    failed = [f"{r.name}: {r.worst}" for r in results if not r.passed]
    assert not failed, failed


def test_encoder_keeps_only_the_layers_it_reads(folder: ModelFolder) -> None:
    encoder = load_semantic_encoder(folder)
    assert len(encoder.model.encoder.layers) == SEMANTIC_LAYER
    assert load_semantic_encoder(folder) is encoder


def test_padded_batch_matches_single_prompts(folder: ModelFolder, prompts: dict[str, torch.Tensor]) -> None:
    encoder = load_semantic_encoder(folder)
    with torch.inference_mode():
        batch, mask = encoder.embed([prompts["en"], prompts["zh"][0]])
        for row, lang in enumerate(("en", "zh")):
            single, single_mask = encoder.embed(prompts[lang])
            frames = single.shape[1]
            assert int(mask[row].sum()) == int(single_mask.sum()) == frames
            torch.testing.assert_close(batch[row, :frames], single[0], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.zeros(2, 16000, 1), "(N,) or (B, N)"),
        ([torch.zeros(2, 16000)], "mono"),
        ([torch.zeros(16000, dtype=torch.int16)], "float"),
        ([torch.zeros(0)], "empty"),
        ([], "no waveforms"),
    ],
)
def test_bad_waveforms_are_named(folder: ModelFolder, bad, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_semantic_encoder(folder).features(bad)


def test_stats_of_the_wrong_width_are_rejected(folder: ModelFolder, tmp_path: Path) -> None:
    width = load_semantic_encoder(folder).width
    torch.save({"mean": torch.zeros(width + 1), "var": torch.ones(width + 1)}, tmp_path / "stats.pt")
    with pytest.raises(ModelFolderError, match="do not match the w2v-BERT width"):
        read_semantic_encoder(folder.path("w2v_bert"), tmp_path / "stats.pt")


def test_vq2emb_is_batch_correct(folder: ModelFolder) -> None:
    codec = load_semantic_codec(folder)
    codes = torch.randint(0, codec.cfg.codebook_size, (3, 11))
    with torch.inference_mode():
        batch = codec.vq2emb(codes)
        assert batch.shape == (3, codec.cfg.hidden_size, 11)
        for row in range(3):
            torch.testing.assert_close(batch[row], codec.vq2emb(codes[row : row + 1])[0], atol=1e-6, rtol=1e-5)
        with pytest.raises(ValueError, match="levels"):
            codec.vq2emb(codes.unsqueeze(0).repeat(codec.cfg.num_quantizers + 1, 1, 1))


def test_codec_rejects_wrong_config_and_input(folder: ModelFolder) -> None:
    section = dict(folder.config["semantic_codec"])
    with pytest.raises(ModelFolderError, match="do not match"):
        read_semantic_codec(folder.path("semantic_codec"), {**section, "codebook_dim": section["codebook_dim"] + 1})
    with pytest.raises(ModelFolderError, match="lacks"):
        read_semantic_codec(folder.path("semantic_codec"), {k: v for k, v in section.items() if k != "vocos_dim"})
    with pytest.raises(ValueError, match="features must be"):
        load_semantic_codec(folder).quantize(torch.zeros(1, 10, section["hidden_size"] + 1))
