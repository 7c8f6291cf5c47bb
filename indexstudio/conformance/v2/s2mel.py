"""S2Mel of IndexTTS-2: GPT-latent projection, length rule, length regulator, DiT estimator, CFM sampling."""
from __future__ import annotations

import torch

from indexstudio.conformance.registry import Case, case
from indexstudio.models.folder import ModelFolder
from indexstudio.models.s2mel import load_s2mel, sample_euler_cfg, v2_target_lengths
from indexstudio.models.semantic_codec import load_semantic_codec


@case("2", "f1_s2mel_gpt_layer_and_regulator")
@torch.inference_mode()
def gpt_layer_and_regulator(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    s2mel = load_s2mel(folder)
    codec = load_semantic_codec(folder)
    latent_proj = s2mel.project_gpt_latent(c.inputs["latent"])
    # (B, T) codes -> (B, D, T); the official codes.unsqueeze(1) form agrees for its batch of one
    vq_emb = codec.vq2emb(c.inputs["codes"]).transpose(1, 2)
    s_infer = vq_emb + latent_proj
    target_lengths = v2_target_lengths(c.inputs["code_lens"])
    cond = s2mel.length_regulator(s_infer, target_lengths)
    prompt_condition = s2mel.length_regulator(c.inputs["S_ref"], c.inputs["ref_mel_frames"])
    return {
        "latent_proj": latent_proj,
        "vq_emb": vq_emb,
        "S_infer": s_infer,
        "target_lengths": target_lengths,
        "cond": cond,
        "prompt_condition": prompt_condition,
        "cat_condition": torch.cat([prompt_condition, cond], dim=1),
    }


@case("2", "f2_target_length_rule")
def target_length_rule(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    return {"target_lengths": v2_target_lengths(c.inputs["code_lens"])}


@case("2", "f3_cfm_estimator_single_call")
@torch.inference_mode()
def estimator_single_call(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    x = c.inputs
    dphi_dt = load_s2mel(folder).estimator(x["x"], x["prompt_x"], x["x_lens"], x["t"], x["style"], x["cond"])
    return {"dphi_dt": dphi_dt}


@case("2", "f4_cfm_inference")
def cfm_inference(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    """Also serves IndexTTS-2.5's f3_cfm_inference (same sampler; that case stores x_lens)."""
    x = c.inputs
    mel = sample_euler_cfg(
        load_s2mel(folder).estimator,
        noise=x["noise"] * float(c.args.get("temperature", 1.0)),
        cond=x["mu"],
        prompt=x["prompt"],
        style=x["style"],
        x_lens=x.get("x_lens"),
        n_steps=int(c.args["n_timesteps"]),
        cfg_rate=float(c.args["inference_cfg_rate"]),
    )
    return {"mel_full": mel, "vc_target": mel[:, :, x["prompt"].shape[-1]:]}
