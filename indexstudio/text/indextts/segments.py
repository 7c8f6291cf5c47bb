"""Cutting a BPE piece sequence into GPT-sized segments, and batching segments (IndexTTS 1.5 / 2).

Works on sentencepiece pieces ("▁HEL", "LO", ","), so the same rules serve
every tokenizer whose pieces spell punctuation the same way.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import torch

log = logging.getLogger(__name__)

SENTENCE_END_PIECES = (".", "!", "?", "▁.", "▁?", "▁...")
_COMMAS = (",", "▁,")
_HYPHENS = ("-",)
_QUOTES = ("'", "▁'")


def _merge_neighbours(pieces: list[list[str]], max_tokens: int, quick_streaming_tokens: int) -> list[list[str]]:
    """Join a segment onto the previous one while both fit in `max_tokens`.

    For streaming, the first `quick_streaming_tokens` tokens are kept in short
    segments (joined only up to half the limit) so audio starts sooner.
    """
    merged: list[list[str]] = []
    consumed = 0
    for piece in pieces:
        consumed += len(piece)
        if not piece:
            continue
        joined = len(merged[-1]) + len(piece) if merged else None
        if joined is not None and (joined <= max_tokens / 2 or (joined <= max_tokens and consumed > quick_streaming_tokens)):
            merged[-1] = merged[-1] + piece
        else:
            merged.append(piece)
    return merged


def split_at_pieces(tokens: Sequence[str], boundaries: Sequence[str], max_tokens: int,
                    quick_streaming_tokens: int = 0) -> list[list[str]]:
    """Segments of at most `max_tokens` pieces, cut after `boundaries`, commas or hyphens.

    Mirrors the official splitter exactly, including two quirks: a comma
    (or, failing that, a hyphen) cuts wherever it falls, before neighbours
    are merged back; and a quote right after a sentence end is copied onto
    the end of that sentence while also starting the next one.
    """
    if not tokens:
        return []
    cut_at_commas = not any(c in boundaries for c in _COMMAS)
    cut_at_hyphens = "-" not in boundaries
    pieces: list[list[str]] = []
    current: list[str] = []
    for i, token in enumerate(tokens):
        current.append(token)
        if cut_at_commas and any(c in current for c in _COMMAS):
            pieces.extend(split_at_pieces(current, _COMMAS, max_tokens, quick_streaming_tokens))
        elif cut_at_hyphens and "-" in current:
            pieces.extend(split_at_pieces(current, _HYPHENS, max_tokens, quick_streaming_tokens))
        elif len(current) <= max_tokens:
            if token in boundaries and len(current) > 2:
                if i + 1 < len(tokens) and tokens[i + 1] in _QUOTES:
                    current.append(tokens[i + 1])
                pieces.append(current)
                current = []
            continue
        else:
            log.debug("%d text tokens without punctuation to cut at; cutting every %d tokens", len(current), max_tokens)
            pieces.extend(current[j:j + max_tokens] for j in range(0, len(current), max_tokens))
        current = []
    if current:
        pieces.append(current)
    return _merge_neighbours(pieces, max_tokens, quick_streaming_tokens)


def split_segments(tokens: Sequence[str], max_tokens: int = 120, quick_streaming_tokens: int = 0) -> list[list[str]]:
    """Sentence-level segments of a piece sequence (the IndexTTS 1.5 / 2 `split_segments`)."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    return split_at_pieces(tokens, SENTENCE_END_PIECES, max_tokens, quick_streaming_tokens)


def infer_fast_buckets(segments: Sequence[Sequence[Any]], bucket_max_size: int = 4) -> list[list[dict]]:
    """Group segments of similar length for batched generation (IndexTTS 1.5 `infer_fast`).

    Returns buckets of {"idx": position in `segments`, "sent": segment, "len": length}.
    With at most `bucket_max_size` segments everything is one bucket, in order.
    Otherwise segments are taken shortest first and a new bucket opens when a
    segment reaches 1.5x the bucket's median length or the bucket is full;
    lone segments then top up unfilled buckets, one each, and the rest are
    grouped together.  Empty segments are dropped.
    """
    if bucket_max_size < 1:
        raise ValueError(f"bucket_max_size must be at least 1, got {bucket_max_size}")
    items = [{"idx": i, "sent": s, "len": len(s)} for i, s in enumerate(segments)]
    if len(items) <= bucket_max_size:
        return [items]
    buckets: list[list[dict]] = []
    median = 0
    for item in sorted(items, key=lambda it: it["len"]):
        if item["len"] == 0:
            continue
        if not buckets or item["len"] >= int(median * 1.5) or len(buckets[-1]) >= bucket_max_size:
            buckets.append([item])
            median = item["len"]
        else:
            buckets[-1].append(item)
            median = buckets[-1][len(buckets[-1]) // 2]["len"]
    grouped = [b for b in buckets if len(b) > 1]
    loners = [b[0] for b in buckets if len(b) == 1]
    for bucket in grouped:
        if not loners:
            break
        if len(bucket) < bucket_max_size:
            bucket.append(loners.pop(0))
    grouped.extend(loners[i:i + bucket_max_size] for i in range(0, len(loners), bucket_max_size))
    return grouped


def pad_text_batch(rows: Sequence[torch.Tensor], pad_token: int) -> torch.Tensor:
    """Stack token rows ((N,) or (1, N)) into (B, max N), right-padded with `pad_token`.

    IndexTTS 1.5 and later pad with stop_text_token.
    """
    if not rows:
        raise ValueError("no token rows to batch")
    flat = []
    for i, row in enumerate(rows):
        if row.dim() == 2 and row.shape[0] == 1:
            row = row[0]
        if row.dim() != 1:
            raise ValueError(f"token row {i} must have shape (N,) or (1, N), got {tuple(row.shape)}")
        flat.append(row)
    return torch.nn.utils.rnn.pad_sequence(flat, batch_first=True, padding_value=pad_token)
