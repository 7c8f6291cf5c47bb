"""Next code of every batch row with that row's own settings, seen ids and generator.

Rows with equal settings are processed together; the result of each row is the
one `decoding.generate` gets for that row alone: the repetition penalty divides
(positive) or multiplies (negative) the logit of every id the row has seen -
prompt ids included - once, as HF's processor does; then HF's warpers
(temperature, top-k, top-p) and, when sampling, one `torch.multinomial` draw
from the row's generator.
"""
from __future__ import annotations

import torch

from indexstudio.runtime.sequence import SamplingParams, Sequence


def sample(logits: torch.Tensor, seqs: list[Sequence], seen: torch.Tensor) -> torch.Tensor:
    """(B, V) float logits, B sequences and their (B, V) seen-ids masks -> (B,) next codes."""
    groups: dict[SamplingParams, list[int]] = {}
    for i, seq in enumerate(seqs):
        groups.setdefault(seq.params, []).append(i)
    tokens = torch.empty(len(seqs), dtype=torch.long, device=logits.device)
    for params, rows in groups.items():
        if len(rows) == len(seqs):
            index, scores, hit = slice(None), logits, seen
        else:
            index = torch.tensor(rows, device=logits.device)
            scores, hit = logits[index], seen[index]
        if params.ignore_stop:
            scores = scores.index_fill(1, torch.tensor([params.stop_token], device=scores.device), float("-inf"))
        penalty = params.repetition_penalty
        if penalty != 1.0:
            scores = torch.where(hit, torch.where(scores < 0, scores * penalty, scores / penalty), scores)
        scores = params.warpers(None, scores)
        if params.do_sample:
            probs = torch.softmax(scores, dim=-1)
            tokens[index] = torch.cat([torch.multinomial(probs[j:j + 1], 1, generator=seqs[row].generator)[0]
                                       for j, row in enumerate(rows)])
        else:
            tokens[index] = scores.argmax(dim=-1)
    return tokens
