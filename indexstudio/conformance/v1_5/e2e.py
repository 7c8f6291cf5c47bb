"""End-to-end IndexTTS-1.5 cases: `infer` and bucketed `infer_fast` of the engine, every stage traced."""
from __future__ import annotations

from typing import Any

from indexstudio.conformance.recorder import Recorder
from indexstudio.conformance.registry import Case, case
from indexstudio.engines.indextts1_5 import IndexTTS15, IndexTTS15Options
from indexstudio.models.folder import ModelFolder


def official_options(args: dict) -> IndexTTS15Options:
    """The case's keyword arguments as our options (the official infer always samples)."""
    options: dict[str, Any] = {"do_sample": True, **args.get("generation_kwargs", {})}
    if "max_text_tokens_per_segment" in args.get("kw", {}):
        options["max_text_tokens_per_segment"] = args["kw"]["max_text_tokens_per_segment"]
    return IndexTTS15Options.from_mapping(options)


def _stack(folder: ModelFolder) -> IndexTTS15:
    return folder.component("indextts1_5_stack", lambda: IndexTTS15(folder))


@case("1.5", "i1_e2e_infer")
def e2e_infer(folder: ModelFolder, c: Case) -> dict[str, Any]:
    recorder = Recorder(c.inputs)
    _stack(folder).infer(c.file(c.args["audio_prompt"]), c.args["text"], official_options(c.args), trace=recorder)
    return recorder.outputs


@case("1.5", "i2_e2e_infer_fast_bucketed")
def e2e_infer_fast(folder: ModelFolder, c: Case) -> dict[str, Any]:
    recorder = Recorder(c.inputs)
    _stack(folder).infer_fast(c.file(c.args["audio_prompt"]), c.args["text"], official_options(c.args),
                              bucket_size=int(c.args["kw"]["segments_bucket_max_size"]), trace=recorder)
    return recorder.outputs
