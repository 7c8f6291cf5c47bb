"""Text front-end of IndexTTS-1.5: BPE segments, length buckets and the padded text batch."""
from __future__ import annotations

from typing import Any

import torch

from indexstudio.conformance.registry import Case, case
from indexstudio.models.folder import ModelFolder
from indexstudio.text.indextts import load_text_frontend


@case("1.5", "h1_text_tokenizer_and_buckets")
def text_tokenizer_and_buckets(folder: ModelFolder, c: Case) -> dict[str, Any]:
    frontend = load_text_frontend(folder)
    items = []
    for ref in c.json["items"]:
        tokens = frontend.tokenize(ref["text"])
        segments = {}
        for limit in c.args["split_segments_max"]:
            pieces = frontend.split_segments(tokens, limit)
            segments[str(limit)] = {"segments": pieces, "ids": [frontend.tokens_to_ids(p) for p in pieces]}
        items.append({"text": ref["text"], "normalized": frontend.normalize(ref["text"]), "tokens": tokens,
                      "ids": frontend.tokens_to_ids(tokens), "segments": segments})
    inputs = c.json["bucket_input_segments"]
    buckets = {
        str(size): [[{"idx": it["idx"], "len": it["len"]} for it in bucket]
                    for bucket in frontend.infer_fast_buckets(inputs, size)]
        for size in c.args["bucket_max_sizes"]
    }
    return {"json": {"items": items, "bucket_input_segments": inputs, "buckets": buckets}}


@case("1.5", "h2_pad_tokens_cat")
def pad_tokens_cat(folder: ModelFolder, c: Case) -> dict[str, torch.Tensor]:
    rows = [c.inputs[f"tokens_{i}"] for i in range(len(c.inputs))]
    return {"batch": load_text_frontend(folder).pad_batch(rows)}
