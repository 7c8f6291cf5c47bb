"""Post-processing of generated mel codes, shared by IndexTTS 1.5 / 2 / 2.5."""
from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence

SILENT_TOKEN = 52
MAX_CONSECUTIVE_SILENT = 30
KEPT_SILENT_RUN = 10


def _valid_length(row: torch.Tensor, stop_token: int) -> int:
    hits = (row == stop_token).nonzero()
    return int(hits[0, 0]) if len(hits) else row.shape[0]


def trim_at_stop(codes: torch.Tensor, stop_token: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lengths up to each row's first stop token, and the codes cut to the longest of them."""
    lengths = [_valid_length(row, stop_token) for row in codes]
    return codes[:, :max(lengths)], torch.tensor(lengths, dtype=torch.long, device=codes.device)


def remove_long_silence(codes: torch.Tensor, stop_token: int, silent_token: int = SILENT_TOKEN,
                        max_consecutive: int = MAX_CONSECUTIVE_SILENT) -> tuple[torch.Tensor, torch.Tensor]:
    """Shorten silence in (B, T) codes as the official `remove_long_silence` does.

    A row is rewritten only when it holds more than `max_consecutive` silent tokens in
    total (counted over the whole row, also past the stop token); then, up to its
    first stop token, every run of silent tokens is cut to its first 10.  If any row
    was rewritten, rows are re-padded with the stop token; in all cases the result
    is cut to the longest row length.  Returns (codes, lengths).
    """
    rows, lengths, rewritten = [], [], False
    for row in codes:
        length = _valid_length(row, stop_token)
        if int((row == silent_token).sum()) > max_consecutive:
            keep, run = [], 0
            for k, tok in enumerate(row[:length].tolist()):
                if tok != silent_token:
                    keep.append(k)
                    run = 0
                elif run < KEPT_SILENT_RUN:
                    keep.append(k)
                    run += 1
            row = row[keep]
            length = len(keep)
            rewritten = True
        else:
            row = row[:length]
        rows.append(row)
        lengths.append(length)
    if rewritten:
        codes = pad_sequence(rows, batch_first=True, padding_value=stop_token)
    longest = max(lengths)
    if longest < codes.shape[1]:
        codes = codes[:, :longest]
    return codes, torch.tensor(lengths, dtype=torch.long, device=codes.device)
