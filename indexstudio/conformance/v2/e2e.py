"""End-to-end IndexTTS-2 cases: the whole `infer` of the engine, every stage traced."""
from __future__ import annotations

import dataclasses
from typing import Any

from indexstudio.conformance.recorder import Recorder
from indexstudio.conformance.registry import Case, case
from indexstudio.engines.indextts2 import IndexTTS2, IndexTTS2Options
from indexstudio.models.folder import ModelFolder

_GENERATION_KEYS = ("do_sample", "top_k", "top_p", "temperature", "num_beams", "repetition_penalty",
                    "length_penalty", "max_mel_tokens")


def official_options(args: dict) -> IndexTTS2Options:
    """The case's `infer` keyword arguments as our options (official infer: always sampling, no UI normalisation)."""
    kw, gen = args.get("kw", {}), args.get("generation_kwargs", {})
    options: dict[str, Any] = {"normalize_emo_vector": False, "do_sample": True}
    options.update({k: gen[k] for k in _GENERATION_KEYS if k in gen})
    for ours, theirs in (("emo_audio", "emo_audio_prompt"), ("emo_alpha", "emo_alpha"), ("emo_vector", "emo_vector"),
                         ("use_random", "use_random"), ("max_text_tokens_per_segment", "max_text_tokens_per_segment"),
                         ("interval_silence_ms", "interval_silence")):
        if theirs in kw:
            options[ours] = kw[theirs]
    return IndexTTS2Options.from_mapping(options)


@case("2", "i1_e2e_emo_audio", "i2_e2e_emo_vector")
def e2e(folder: ModelFolder, c: Case) -> dict[str, Any]:
    opts = official_options(c.args)
    if opts.emo_audio:
        opts = dataclasses.replace(opts, emo_audio=str(c.file(opts.emo_audio)))
    recorder = Recorder(c.inputs)
    model = folder.component("indextts2_stack", lambda: IndexTTS2(folder))
    model.infer(c.file(c.args["spk_audio_prompt"]), c.args["text"], opts, noise=recorder.noise, trace=recorder)
    return recorder.outputs
