"""UnifiedVoice (GPT) stages of IndexTTS-2.5: CAMPPlus speaker latent, emotion merge, language prompt, decoding."""
from __future__ import annotations

import torch

from indexstudio.conformance.registry import Case, case
from indexstudio.conformance.v2.gpt import _width
from indexstudio.models.codes import trim_at_stop
from indexstudio.models.folder import ModelFolder
from indexstudio.models.unified_voice import load_unified_voice_v2
from indexstudio.runtime.decoding import DecodingConfig, generate

LANGUAGES = ("en", "ja", "es", "ar")   # greedy extras of d3, each with its own tokens and language id


@case("2.5", "d1_gpt_speaker_and_emotion_conditioning")
def speaker_and_emotion(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    gpt = load_unified_voice_v2(folder)
    spk, emo = c.inputs["spk_cond_emb"], c.inputs["emo_cond_emb"]
    with torch.inference_mode():
        return {
            "spk_latent": gpt.speaker_latent_from_style(c.inputs["style"]).squeeze(1),
            "emovec_spk": gpt.get_emovec(spk, _width(spk)),
            "emovec_emo": gpt.get_emovec(emo, _width(emo)),
            "merged": gpt.merge_emovec(spk, emo, _width(spk), _width(emo), alpha=c.args["alpha"]),
        }


@case("2.5", "d2_gpt_prepare_inputs_lang")
def prepare_inputs_lang(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    gpt = load_unified_voice_v2(folder)
    conds = c.inputs["conds_latent"]
    with torch.inference_mode():
        single = gpt.prepare_gpt_inputs(conds, c.inputs["text_tokens_zh"], c.inputs["langs_zh"])
        no_lang = gpt.prepare_gpt_inputs(conds, c.inputs["text_tokens_zh"])
        batch = gpt.prepare_gpt_inputs(conds, c.inputs["batch_text_tokens"], c.inputs["batch_langs"])
    # the official code stores the embeddings without the start_mel row
    return {
        "fake_input_ids": single.input_ids, "attention_mask": single.attention_mask,
        "inputs_embeds": single.embeds[:, :-1], "inputs_embeds_no_lang": no_lang.embeds[:, :-1],
        "batch_fake_input_ids": batch.input_ids, "batch_attention_mask": batch.attention_mask,
        "batch_inputs_embeds": batch.embeds[:, :-1],
    }


@case("2.5", "d3_gpt_inference_speech")
def inference_speech(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    gpt = load_unified_voice_v2(folder)
    kw = c.args["generation"]
    stop = gpt.cfg.stop_mel_token

    def decode(lang: str, beams: int) -> torch.Tensor:
        conds = gpt.conditioning_prefix(latent, c.inputs["emo_vec"])
        prompt = gpt.prepare_gpt_inputs(conds, c.inputs[f"text_tokens_{lang}"], c.inputs[f"langs_{lang}"])
        cfg = DecodingConfig(max_new_tokens=kw["max_generate_length"], stop_token=stop, do_sample=kw["do_sample"],
                             num_beams=beams, num_return_sequences=kw["num_return_sequences"],
                             length_penalty=kw["length_penalty"], repetition_penalty=kw["repetition_penalty"])
        return generate(gpt, prompt, cfg)

    out: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        latent = gpt.speaker_latent_from_style(c.inputs["campplus_embedding"])
        out["speech_conditioning_latent"] = latent
        for beams in c.args["num_beams"]:
            raw = decode("zh", beams)
            codes, lens = trim_at_stop(raw, stop)
            out[f"codes_raw_beams{beams}"], out[f"codes_beams{beams}"], out[f"code_lens_beams{beams}"] = raw, codes, lens
        for lang in LANGUAGES:
            out[f"codes_raw_{lang}_beams1"] = decode(lang, 1)
    return out
