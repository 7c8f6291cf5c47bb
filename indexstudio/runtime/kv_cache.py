"""Slot-based key/value cache, allocated once: one slot per running sequence.

Per layer, keys and values are (num_slots, heads, max_len, head_dim); beside
them each slot keeps the set of token ids its sequence has seen (prompt ids and
generated codes), which the repetition penalty needs.  Sequences take the lowest
free slot and `move` lets the scheduler keep the running ones in slots
[0, n), so that a decode step reads the cache through plain slices.  Memory is
fixed by (num_slots, max_len): it does not grow with the number of sequences
decoded.
"""
from __future__ import annotations

import heapq

import torch

from indexstudio.models.gpt2 import GPT2Config


class SlotCache:
    def __init__(self, cfg: GPT2Config, num_slots: int, max_len: int, vocab: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):
        if num_slots < 1 or max_len < 1:
            raise ValueError(f"a slot cache needs num_slots >= 1 and max_len >= 1, got {num_slots} and {max_len}")
        self.num_slots, self.max_len = num_slots, max_len
        shape = (num_slots, cfg.heads, max_len, cfg.head_dim)
        # zeros, not empty: a decode step reads (masked) positions past a row's length, and 0 * NaN garbage is NaN
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(cfg.layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(cfg.layers)]
        self.seen = torch.zeros(num_slots, vocab, dtype=torch.bool, device=device)
        self._free = list(range(num_slots))

    @property
    def num_free(self) -> int:
        return len(self._free)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values, self.seen))

    def allocate(self, ids: torch.Tensor) -> int:
        """The lowest free slot, its seen-ids set reset to `ids` (the prompt's ids)."""
        if not self._free:
            raise RuntimeError("no free KV slot")
        slot = heapq.heappop(self._free)
        self.seen[slot] = False
        self.seen[slot, ids.to(self.seen.device)] = True
        return slot

    def free(self, slot: int) -> None:
        if slot in self._free or not 0 <= slot < self.num_slots:
            raise ValueError(f"slot {slot} is not allocated")
        heapq.heappush(self._free, slot)

    def lowest_free(self) -> int | None:
        return self._free[0] if self._free else None

    def move(self, src: int, dst: int, length: int) -> None:
        """Move an allocated slot's first `length` positions (and seen ids) to the free slot `dst`."""
        self._free.remove(dst)
        heapq.heapify(self._free)
        for t in (*self.keys, *self.values):
            t[dst, :, :length] = t[src, :, :length]
        self.seen[dst] = self.seen[src]
        self.free(src)
