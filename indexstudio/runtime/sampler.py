"""Next codes of the batch rows, each sequence with its own settings, seen ids and generator.

Single-beam rows with equal settings are processed together; the result of each
row is the one `decoding.generate` gets for that row alone: the repetition
penalty divides (positive) or multiplies (negative) the logit of every id the
row has seen - prompt ids included - once, as HF's processor does; then HF's
warpers (temperature, top-k, top-p) and, when sampling, one `torch.multinomial`
draw from the row's generator.

A beam-search sequence's rows go through `next_beams`: `generate`'s beam step
for a prompt alone (log-probabilities, the same processors, its running beam
scores, the 2 * beams best or drawn candidates from its own generator).
"""
from __future__ import annotations

import torch

from indexstudio.runtime.decoding import beam_candidates
from indexstudio.runtime.sequence import SamplingParams, Sequence


def _penalised(scores: torch.Tensor, params: SamplingParams, seen: torch.Tensor) -> torch.Tensor:
    """`ignore_stop` and the repetition penalty over the rows' seen ids."""
    if params.ignore_stop:
        scores = scores.index_fill(1, torch.tensor([params.stop_token], device=scores.device), float("-inf"))
    penalty = params.repetition_penalty
    if penalty != 1.0:
        scores = torch.where(seen, torch.where(scores < 0, scores * penalty, scores / penalty), scores)
    return scores


def sample(logits: torch.Tensor, seqs: list[Sequence], seen: torch.Tensor) -> torch.Tensor:
    """(B, V) float logits, B single-beam sequences and their (B, V) seen-ids masks -> (B,) next codes."""
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
        scores = params.warpers(None, _penalised(scores, params, hit))
        if params.do_sample:
            probs = torch.softmax(scores, dim=-1)
            tokens[index] = torch.cat([torch.multinomial(probs[j:j + 1], 1, generator=seqs[row].generator)[0]
                                       for j, row in enumerate(rows)])
        else:
            tokens[index] = scores.argmax(dim=-1)
    return tokens


def next_beams(logits: torch.Tensor, seq: Sequence, seen: torch.Tensor) -> list[int]:
    """(beams, V) logits of a beam-search sequence's rows and their seen-ids masks -> for each new beam, the
    beam it continues (`Sequence.advance_beams`)."""
    params, beams = seq.params, seq.beams
    scores = params.warpers(None, _penalised(torch.log_softmax(logits, dim=-1), params, seen))
    vocab = scores.shape[-1]
    scores = (scores + beams.scores.to(scores.device)[:, None]).view(1, -1)
    top_scores, top_tokens = beam_candidates(scores, params.decoding, seq.generator)
    return seq.advance_beams(top_scores[0], top_tokens[0], vocab)
