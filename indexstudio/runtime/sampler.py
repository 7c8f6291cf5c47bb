"""Next codes of the batch rows, each sequence with its own settings, seen ids and generator.

Single-beam rows with equal settings are processed together; the result of each
row is the one `decoding.generate` gets for that row alone: the repetition
penalty divides (positive) or multiplies (negative) the logit of every id the
row has seen - prompt ids included - once, as HF's processor does (the stop
token is barred before the row has `min_new_tokens` codes); then HF's
warpers (temperature, top-k, top-p) and, when sampling, the `torch.multinomial`
draw of the row's generator (`multinomial_rows`: only the random draw is per row).

Beam-search sequences go through `next_beams`: for each, `generate`'s beam
step for its prompt alone (log-probabilities, the same processors, its running
beam scores, the 2 * beams best or drawn candidates from its own generator).
"""
from __future__ import annotations

import itertools

import torch

from indexstudio.runtime.decoding import bar_stop, beam_candidates, multinomial_rows
from indexstudio.runtime.device import device_tensor
from indexstudio.runtime.kv_cache import row_span, take_rows
from indexstudio.runtime.sequence import SamplingParams, Sequence


def _by_settings(seqs: list[Sequence]) -> dict[SamplingParams, list[int]]:
    """Indices of the sequences of each settings, in order."""
    groups: dict[SamplingParams, list[int]] = {}
    for i, seq in enumerate(seqs):
        groups.setdefault(seq.params, []).append(i)
    return groups


def _penalised(scores: torch.Tensor, params: SamplingParams, seen: torch.Tensor, generated: list[int]) -> torch.Tensor:
    """The stop token barred (`ignore_stop`; rows with fewer than `min_new_tokens` codes, `generated` of
    them), then the repetition penalty over the rows' seen ids."""
    short = [row for row, made in enumerate(generated) if made < params.min_new_tokens]
    if params.ignore_stop or len(short) == len(generated):
        scores = bar_stop(scores, params.stop_token)
    elif short:
        index = device_tensor(short, scores.device)
        scores = scores.index_copy(0, index, bar_stop(scores[index], params.stop_token))
    penalty = params.repetition_penalty
    if penalty != 1.0:
        scores = torch.where(seen, torch.where(scores < 0, scores * penalty, scores / penalty), scores)
    return scores


def sample(logits: torch.Tensor, seqs: list[Sequence], seen: torch.Tensor) -> torch.Tensor:
    """(B, V) float logits, B single-beam sequences and their (B, V) seen-ids masks -> (B,) next codes."""
    tokens = torch.empty(len(seqs), dtype=torch.long, device=logits.device)
    for params, rows in _by_settings(seqs).items():
        index = row_span(rows) or device_tensor(rows, logits.device)
        scores, hit = logits[index], seen[index]
        scores = params.warpers(None, _penalised(scores, params, hit, [seqs[row].generated for row in rows]))
        if params.do_sample:
            generators = [seqs[row].generator for row in rows]
            tokens[index] = multinomial_rows(torch.softmax(scores, dim=-1), 1, generators)[:, 0]
        else:
            tokens[index] = scores.argmax(dim=-1)
    return tokens


def next_beams(logits: torch.Tensor, seqs: list[Sequence], seen: torch.Tensor) -> list[list[int]]:
    """The rows of beam-search sequences, each's `num_beams` in turn: (rows, V) logits and seen-ids masks ->
    for each sequence and each of its new beams, the beam it continues (`Sequence.advance_beams`).

    Sequences with equal settings go through the processors and the candidate choice together, and their
    candidates come to the host in one copy; a sampling sequence draws from its own generator.
    """
    first = [0, *itertools.accumulate(seq.num_rows for seq in seqs)]
    sources: list[list[int]] = [[] for _ in seqs]
    for params, members in _by_settings(seqs).items():
        rows = [r for i in members for r in range(first[i], first[i + 1])]
        generated = [seqs[i].generated for i in members for _ in range(params.num_beams)]
        scores = params.warpers(None, _penalised(torch.log_softmax(take_rows(logits, rows), dim=-1), params,
                                                 take_rows(seen, rows), generated))
        vocab, n = scores.shape[-1], len(members)
        running = device_tensor([seqs[i].beams.scores for i in members], scores.device, torch.float32)
        scores = (scores.view(n, params.num_beams, vocab) + running[:, :, None]).view(n, -1)
        generators = [seqs[i].generator for i in members] if params.do_sample else None
        top_scores, top_tokens = beam_candidates(scores, params.decoding, generators)
        top_scores, top_tokens = top_scores.tolist(), top_tokens.tolist()
        for j, i in enumerate(members):
            sources[i] = seqs[i].advance_beams(top_scores[j], top_tokens[j], vocab)
    return sources
