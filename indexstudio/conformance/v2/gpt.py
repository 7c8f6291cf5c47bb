"""UnifiedVoice (GPT) stages of IndexTTS-2: conditioning, emotion vectors, prompt, decoding, latents, silence fix."""
from __future__ import annotations

import torch

from indexstudio.conformance.registry import Case, case
from indexstudio.models.codes import remove_long_silence, trim_at_stop
from indexstudio.models.emotion import (load_emotion_matrices, mix_emotion_vector, normalize_emo_vec,
                                        scale_emo_vector)
from indexstudio.models.folder import ModelFolder
from indexstudio.models.unified_voice import load_unified_voice_v2
from indexstudio.runtime.decoding import DecodingConfig, generate


def _width(feats: torch.Tensor) -> torch.Tensor:
    """The length IndexTTS-2 passes to its conditioning encoders: the feature width, not the frame count."""
    return torch.tensor([feats.shape[-1]])


@case("2", "d1_gpt_get_conditioning")
def get_conditioning(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    gpt = load_unified_voice_v2(folder)
    x, lengths = c.inputs["x_batch"], c.inputs["lengths_batch"]
    with torch.inference_mode():
        return {
            "cond_latent_prompt": gpt.get_conditioning(c.inputs["spk_cond_emb"], c.inputs["cond_mel_lengths_prompt"]),
            "cond_latent_batch": gpt.get_conditioning(x, lengths),
            "emo_cond_batch": gpt.get_emo_conditioning(x, lengths),
        }


@case("2", "d2_gpt_emovec")
def emovec(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    gpt = load_unified_voice_v2(folder)
    spk, emo = c.inputs["spk_cond_emb"], c.inputs["emo_cond_emb"]
    with torch.inference_mode():
        return {
            "emovec_spk": gpt.get_emovec(spk, _width(spk)),
            "emovec_emo": gpt.get_emovec(emo, _width(emo)),
            "merged": gpt.merge_emovec(spk, emo, _width(spk), _width(emo), alpha=c.args["alpha"]),
        }


@case("2", "d3_emotion_vector_mixing")
def emotion_vector_mixing(folder: ModelFolder, c: Case) -> dict:
    gpt = load_unified_voice_v2(folder)
    matrices = load_emotion_matrices(folder)
    spk, weights = c.inputs["spk_cond_emb"], c.inputs["weight_vector"]
    rows = matrices.nearest_rows(c.inputs["style"])
    with torch.inference_mode():
        matrix_vec = matrices.weighted_vector(weights, rows)
        own = gpt.merge_emovec(spk, spk, _width(spk), _width(spk), alpha=1.0)
        final = mix_emotion_vector(matrix_vec, weights, own)
    doc = {
        "normalize_emo_vec": [
            {**item, "out": normalize_emo_vec(item["emo_vector"], item["apply_bias"])}
            for item in c.json["normalize_emo_vec"]
        ],
        "emo_alpha_scaling": [
            {**item, "scaled": scale_emo_vector(item["emo_vector"], item["emo_alpha"])}
            for item in c.json["emo_alpha_scaling"]
        ],
    }
    return {
        "selected_rows": torch.tensor(rows, dtype=torch.int64),
        "emovec_mat": matrix_vec,
        "merged_same_prompt": own,
        "emovec_final": final,
        "json": doc,
    }


@case("2", "d4_gpt_prepare_inputs")
def prepare_inputs(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    gpt = load_unified_voice_v2(folder)
    with torch.inference_mode():
        conds = gpt.conditioning_prefix(c.inputs["speech_conditioning_latent"], c.inputs["emo_vec"])
        prompt = gpt.prepare_gpt_inputs(conds, c.inputs["text_tokens"])
    return {
        "conds_latent": conds,
        "speed_emb_rows_0_1": gpt.speed_emb.weight[:2].detach(),
        "fake_input_ids": prompt.input_ids,
        "attention_mask": prompt.attention_mask,
        "inputs_embeds": prompt.embeds[:, :-1],   # without the start_mel row, as the official code stores it
    }


@case("2", "d5_gpt_inference_speech")
def inference_speech(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    gpt = load_unified_voice_v2(folder)
    spk = c.inputs["spk_cond_emb"]
    out: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        latent = gpt.get_conditioning(spk, _width(spk))
        prompt = gpt.prepare_gpt_inputs(gpt.conditioning_prefix(latent, c.inputs["emo_vec"]), c.inputs["text_tokens"])
        out["speech_conditioning_latent"] = latent
        for beams in (1, 3):
            kw = c.args[f"kw_beams{beams}"]
            cfg = DecodingConfig(
                max_new_tokens=kw["max_generate_length"], stop_token=gpt.cfg.stop_mel_token,
                do_sample=kw["do_sample"], num_beams=kw["num_beams"], num_return_sequences=kw["num_return_sequences"],
                length_penalty=kw["length_penalty"], repetition_penalty=kw["repetition_penalty"],
            )
            raw = generate(gpt, prompt, cfg)
            codes, lens = trim_at_stop(raw, gpt.cfg.stop_mel_token)
            out[f"codes_raw_beams{beams}"], out[f"codes_beams{beams}"], out[f"code_lens_beams{beams}"] = raw, codes, lens
    return out


@case("2", "d6_gpt_forward_latent")
def forward_latent(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    gpt = load_unified_voice_v2(folder)
    text = c.inputs["text_tokens"]
    out = {}
    with torch.inference_mode():
        for beams in (1, 3):
            codes = c.inputs[f"codes_beams{beams}"]
            out[f"latent_beams{beams}"] = gpt(
                c.inputs["speech_conditioning_latent"], text, torch.tensor([text.shape[-1]]),
                codes, torch.tensor([codes.shape[-1]]), c.inputs["emo_vec"],
            )
    return out


def remove_long_silence_case(c: Case) -> dict[str, torch.Tensor]:
    """Shared by every version: each `in.codes.<name>` -> `codes.<name>`, `code_lens.<name>`."""
    out = {}
    for key, codes in c.inputs.items():
        name = key.split(".", 1)[1]
        out[f"codes.{name}"], out[f"code_lens.{name}"] = remove_long_silence(
            codes, stop_token=c.args["stop_mel_token"], silent_token=c.args["silent_token"],
            max_consecutive=c.args["max_consecutive"],
        )
    return out


@case("2", "e1_remove_long_silence")
def remove_long_silence_v2(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    return remove_long_silence_case(c)
