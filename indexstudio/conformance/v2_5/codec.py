"""EnhancedCodec of IndexTTS-2.5: half-rate quantisation of w2v-BERT features and decoding of codes."""
from __future__ import annotations

import torch

from indexstudio.conformance.registry import Case, case
from indexstudio.models.folder import ModelFolder
from indexstudio.models.semantic_codec import load_enhanced_codec


@case("2.5", "c1_codec_quantize")
@torch.inference_mode()
def codec_quantize(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    codec = load_enhanced_codec(folder)
    out = {}
    for name in ("en", "odd_len"):
        out[f"codes_{name}"], out[f"quantized_{name}"] = codec.quantize(c.inputs[f"x_{name}"])
    return out


@case("2.5", "c2_codec_decode")
@torch.inference_mode()
def codec_decode(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    codec = load_enhanced_codec(folder)
    return {f"S_{name}": codec.decode(c.inputs[f"codes_{name}"]) for name in ("en", "random")}
