"""Semantic stages of IndexTTS-2: SeamlessM4T features, w2v-BERT layer 17, RepCodec codes and embeddings."""
from __future__ import annotations

import torch

from indexstudio.conformance.registry import Case, case
from indexstudio.models.folder import ModelFolder
from indexstudio.models.semantic_codec import load_semantic_codec
from indexstudio.models.w2vbert import load_semantic_encoder


@case("2", "b1_seamless_features")
def seamless_features(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    encoder = load_semantic_encoder(folder)
    out = {}
    for lang in ("en", "zh"):
        out[f"input_features_{lang}"], out[f"attention_mask_{lang}"] = encoder.features(c.inputs[f"audio_{lang}_16k"])
    return out


@case("2", "b2_w2vbert_get_emb")
def w2vbert_get_emb(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    encoder = load_semantic_encoder(folder)
    en = (c.inputs["input_features_en"], c.inputs["attention_mask_en"])
    return {
        "hidden_state_17_en": encoder.hidden_state(*en),
        "spk_cond_emb": encoder(*en),
        "emo_cond_emb": encoder(c.inputs["input_features_zh"], c.inputs["attention_mask_zh"]),
    }


@case("2", "b3_w2vbert_get_emb_padded_batch")
def w2vbert_padded_batch(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    return {"emb": load_semantic_encoder(folder)(c.inputs["input_features"], c.inputs["attention_mask"])}


@case("2", "c1_semantic_codec_quantize")
def codec_quantize(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    codec = load_semantic_codec(folder)
    out = {"encoder_out_en": codec.encode(c.inputs["x_en"])}
    for lang in ("en", "zh"):
        out[f"codes_{lang}"], out[f"quantized_{lang}"] = codec.quantize(c.inputs[f"x_{lang}"])
    return out


@case("2", "c2_semantic_codec_vq2emb")
def codec_vq2emb(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    # infer_v2 calls quantizer.vq2emb(codes.unsqueeze(1)): with its batch of one, the
    # (1, 1, T) tensor is (levels=1, batch=1, T), which our vq2emb reads the same way.
    codec = load_semantic_codec(folder)
    return {f"emb_{name}": codec.vq2emb(c.inputs[f"codes_{name}"].unsqueeze(1)) for name in ("en", "random")}
