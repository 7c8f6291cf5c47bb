"""Semantic features of IndexTTS-2.5: SeamlessM4T features and standardised w2v-BERT layer 17 (shared with 2)."""
from __future__ import annotations

import torch

from indexstudio.conformance.registry import Case, case
from indexstudio.models.folder import ModelFolder
from indexstudio.models.w2vbert import load_semantic_encoder


@case("2.5", "b1_seamless_features_w2vbert_get_emb")
def features_and_emb(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    encoder = load_semantic_encoder(folder)
    out = {}
    for lang in ("en", "zh"):
        out[f"input_features_{lang}"], out[f"attention_mask_{lang}"] = encoder.features(c.inputs[f"audio_{lang}_16k"])
    # the reference embeds its own stored features (see the case notes); ours equal them
    out["spk_cond_emb"] = encoder(out["input_features_en"], out["attention_mask_en"])
    out["emo_cond_emb"] = encoder(out["input_features_zh"], out["attention_mask_zh"])
    return out
