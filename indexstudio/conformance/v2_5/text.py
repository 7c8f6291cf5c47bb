"""Text front-end of IndexTTS-2.5: per-language normalisation, annotations, Japanese spacing, segments, BPE ids."""
from __future__ import annotations

from typing import Any

from indexstudio.conformance.registry import Case, case
from indexstudio.models.folder import ModelFolder
from indexstudio.text.indextts25 import IndexTTS25TextFrontend, load_text_frontend_v2_5

# How the golden record names the normaliser each of our routes stands for.
NORMALIZER_LABELS = {
    "wetext": "TextNormalizer (WeTextProcessing)",
    "nemo": "nemo_tn.normalize_text (NeMo Normalizer, input_case='cased')",
    "nemo-passthrough": "nemo_tn.normalize_text (no NeMo grammar for this language / NeMo absent -> input unchanged)",
    "none": "none",
}


def describe_text(frontend: IndexTTS25TextFrontend, text: str, lang: str, max_tokens: int,
                  normalize: bool) -> dict[str, Any]:
    """The record of one text's way through the front-end, in the golden schema."""
    st = frontend.stages(text, lang, normalize)
    segments = frontend.split_segments(st.final, lang, max_tokens)
    return {
        "input": text,
        "lang": lang,
        "max_text_tokens_per_segment": max_tokens,
        "text_normalization": normalize,
        "lang_prefix": st.prefix,
        "after_char_map": st.after_char_map,
        "normalizer": NORMALIZER_LABELS[st.normalizer],
        "after_normalization": st.after_normalization,
        "after_case": st.after_case,
        "after_annotations": st.after_annotations,
        "after_ja_g2p": st.after_japanese,
        "final_text": st.final,
        "segments": segments,
        "segment_token_ids": [frontend.segment_ids(s, lang) for s in segments],
        "lang_token": frontend.language_id(lang),
    }


@case("2.5", "h1_text_frontend")
def text_frontend(folder: ModelFolder, c: Case) -> dict[str, Any]:
    frontend = load_text_frontend_v2_5(folder)
    ref = c.json
    steps = [describe_text(frontend, s["input"], s["lang"], s["max_text_tokens_per_segment"],
                           s["text_normalization"]) for s in ref["steps"]]
    return {"json": {
        "steps": steps,
        "lang_to_token": {lang: frontend.language_id(lang) for lang in ref["lang_to_token"]},
        "n_vocab": frontend.n_vocab,
        "text_pos_capacity": frontend.text_capacity,
        "special_tokens_sample": {name: frontend.special_token_id(name) for name in ref["special_tokens_sample"]},
        "split_text_by_punctuation": [
            {**{k: p[k] for k in ("text", "max_chars")},
             "out": frontend.split_by_punctuation(p["text"], p["max_chars"])}
            for p in ref["split_text_by_punctuation"]],
    }}
