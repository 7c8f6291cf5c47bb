"""Text front-end of IndexTTS-2: normalisation, CJK spacing, BPE pieces / ids, segment splitting."""
from __future__ import annotations

import re
from typing import Any

from indexstudio.conformance.registry import Case, case
from indexstudio.models.folder import ModelFolder
from indexstudio.text.indextts import IndexTextFrontend, load_text_frontend, space_cjk_upper

# Row keys naming a segmentation: segments_max<limit>[_quick<streaming tokens>][_ids]
_SEGMENT_KEY = re.compile(r"segments_max(\d+)(?:_quick(\d+))?(_ids)?")


def describe_text(frontend: IndexTextFrontend, text: str, segment_keys: list[str]) -> dict[str, Any]:
    normalized = frontend.normalize(text)
    tokens = frontend.tokenize(text)
    ids = frontend.tokens_to_ids(tokens)
    row: dict[str, Any] = {
        "text": text,
        "normalized": normalized,
        "pre_tokenized": space_cjk_upper(normalized),
        "encode_skips_normalizer": len(text.strip()) == 1,
        "tokens": tokens,
        "ids": ids,
        "unk_count": ids.count(frontend.unk_id),
    }
    for key in segment_keys:
        limit, quick, as_ids = _SEGMENT_KEY.fullmatch(key).groups()
        segments = frontend.split_segments(tokens, int(limit), int(quick or 0))
        row[key] = [frontend.tokens_to_ids(s) for s in segments] if as_ids else segments
    return row


@case("2", "h1_text_tokenizer")
def text_tokenizer(folder: ModelFolder, c: Case) -> dict[str, Any]:
    frontend = load_text_frontend(folder)
    rows = []
    for ref in c.json["rows"]:
        rows.append(describe_text(frontend, ref["text"], [k for k in ref if _SEGMENT_KEY.fullmatch(k)]))
    return {"json": {"rows": rows}}
