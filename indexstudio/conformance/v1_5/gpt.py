"""UnifiedVoice (GPT) stages of IndexTTS-1.5: mel conditioning, code generation, teacher-forced latents."""
from __future__ import annotations

import torch

from indexstudio.conformance.registry import Case, case
from indexstudio.models.codes import remove_long_silence
from indexstudio.models.folder import ModelFolder
from indexstudio.models.unified_voice_v1_5 import load_unified_voice_v1_5
from indexstudio.runtime.decoding import DecodingConfig, generate


def _decoding(kw: dict, num_beams: int, stop_token: int) -> DecodingConfig:
    return DecodingConfig(
        max_new_tokens=kw["max_generate_length"], stop_token=stop_token, do_sample=kw["do_sample"],
        num_beams=num_beams, num_return_sequences=kw["num_return_sequences"],
        length_penalty=kw["length_penalty"], repetition_penalty=kw["repetition_penalty"],
    )


@case("1.5", "d1_gpt_get_conditioning")
def get_conditioning(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    gpt = load_unified_voice_v1_5(folder)
    with torch.inference_mode():
        return {
            "conds": gpt.get_conditioning(c.inputs["mel_en"], c.inputs["cond_mel_lengths"]),
            "batch_conds": gpt.get_conditioning(c.inputs["batch_mel"], c.inputs["batch_lengths"]),
        }


@case("1.5", "d2_gpt_inference_speech")
def inference_speech(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    gpt = load_unified_voice_v1_5(folder)
    stop = gpt.cfg.stop_mel_token
    kw = c.args["generation"]
    out: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        conds = gpt.get_conditioning(c.inputs["cond_mel"], c.inputs["cond_mel_lengths"])
        prompt = gpt.prepare_gpt_inputs(conds, c.inputs["text_tokens"])
        for beams in c.args["num_beams"]:
            raw = generate(gpt, prompt, _decoding(kw, beams, stop))
            out[f"codes_raw_beams{beams}"] = raw
            out[f"codes_beams{beams}"], out[f"code_lens_beams{beams}"] = remove_long_silence(raw, stop)
        batch_prompt = gpt.prepare_gpt_inputs(conds, c.inputs["batch_text_tokens"])
        out["codes_raw_batch"] = generate(gpt, batch_prompt, _decoding(kw, kw["num_beams"], stop))
    return out


@case("1.5", "d3_gpt_forward_latent")
def forward_latent(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    gpt = load_unified_voice_v1_5(folder)
    with torch.inference_mode():
        conds = gpt.get_conditioning(c.inputs["cond_mel"], c.inputs["cond_mel_lengths"])
        return {"latent": gpt(conds, c.inputs["text_tokens"], c.inputs["codes"], c.inputs["code_lens"])}
