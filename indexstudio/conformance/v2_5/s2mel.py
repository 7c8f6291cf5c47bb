"""S2Mel of IndexTTS-2.5: length rule with duration factor, codec decode + length regulator, CFM sampling."""
from __future__ import annotations

import torch

from indexstudio.conformance.registry import Case, case
from indexstudio.conformance.v2.s2mel import cfm_inference
from indexstudio.models.folder import ModelFolder
from indexstudio.models.s2mel import load_s2mel, v2_5_target_length
from indexstudio.models.semantic_codec import load_enhanced_codec

# same sampler and case layout as IndexTTS-2's f4 (this one stores x_lens)
case("2.5", "f3_cfm_inference")(cfm_inference)


def _suffix(duration_factor: float) -> str:
    """Output-name suffix of a duration factor: none for 1.0 in f2, '_df<factor>' otherwise."""
    return "" if duration_factor == 1.0 else f"_df{duration_factor}"


@case("2.5", "f1_target_length_rule")
def target_length_rule(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    first, last = c.args["n_range"]
    return {
        f"target_lengths_df{factor}": torch.tensor([v2_5_target_length(n, float(factor)) for n in range(first, last + 1)])
        for factor in c.args["duration_factors"]   # stored as strings: the names keep their spelling
    }


@case("2.5", "f2_codec_decode_and_length_regulator")
@torch.inference_mode()
def decode_and_regulate(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    regulator = load_s2mel(folder).length_regulator
    s_infer = load_enhanced_codec(folder).decode(c.inputs["codes"])
    out = {
        "S_infer": s_infer,
        "prompt_condition": regulator(c.inputs["spk_cond_emb"], c.inputs["ref_mel_len"]),
    }
    for factor in c.args["duration_factors"]:
        target = torch.tensor([v2_5_target_length(s_infer.shape[1], float(factor))])
        out["target_lengths" + _suffix(factor)] = target
        out["cond" + _suffix(factor)] = regulator(s_infer, target)
    return out
