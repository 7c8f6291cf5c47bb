"""Slot-based key/value cache: one slot per running sequence.

Per layer, keys and values are one (num_slots, 2, heads, capacity, head_dim) tensor; beside
them each slot keeps the set of token ids its sequence has seen (prompt ids and
generated codes), which the repetition penalty needs.  A beam-search sequence
holds one slot per beam, and `copy` moves beams between them.  Sequences take
the lowest free slot and `move` lets the scheduler keep the running ones in
slots [0, n), so that a decode step reads the cache through plain slices.

The keys and values are a `models.gpt2.KVCache` with one row per slot: its
capacity starts at one block of positions and grows by whole blocks (never
past `max_len`) when a sequence gets longer than it: a slot sized
for `max_mel_tokens` would hold ~6.5 GB of float32 for 16 full-size
IndexTTS-2 segments, most of it never used, as typical segments stop far
earlier.  Memory is bounded by (num_slots, max_len) and does not grow with the
number of sequences decoded.

Shared prompt prefixes (the conditioning rows every segment of one voice
starts with) are kept aside, at most MAX_PREFIXES of them, so that their
keys/values are computed once and copied into each slot that needs them.
"""
from __future__ import annotations

import heapq

import torch

from indexstudio.models.gpt2 import CACHE_BLOCK, GPT2Config, KVCache
from indexstudio.runtime.device import device_tensor

MAX_PREFIXES = 4    # shared prompt prefixes kept (the oldest goes first)


def row_span(rows: list[int]) -> slice | None:
    """`rows` as a slice when they are consecutive and ascending (a decode step's rows are slots [0, n)),
    else None."""
    if rows and rows[-1] - rows[0] == len(rows) - 1 and rows == list(range(rows[0], rows[-1] + 1)):
        return slice(rows[0], rows[-1] + 1)
    return None


def take_rows(t: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """t[rows]: a view when the rows are consecutive (no index tensor to build and copy to the device)."""
    span = row_span(rows)
    return t[span] if span is not None else t[device_tensor(rows, t.device)]


class SlotCache:
    def __init__(self, cfg: GPT2Config, num_slots: int, max_len: int, vocab: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu", block: int = CACHE_BLOCK):
        if num_slots < 1 or max_len < 1 or block < 1:
            raise ValueError(f"a slot cache needs num_slots, max_len and block >= 1, got {num_slots}, {max_len}, {block}")
        self.num_slots, self.device = num_slots, device
        self.kv = KVCache.allocate(cfg, num_slots, max_len, dtype, device, block)
        self.kv.reserve(1)
        self.seen = torch.zeros(num_slots, vocab, dtype=torch.bool, device=device)
        self._free = list(range(num_slots))
        self._prefixes: list[tuple[torch.Tensor, list[torch.Tensor]]] = []    # (prompt rows, per-layer keys/values)

    @property
    def layers(self) -> list[torch.Tensor]:
        """Per layer (num_slots, 2, heads, capacity, head_dim): keys at [:, 0], values at [:, 1]."""
        return self.kv.layers

    @property
    def capacity(self) -> int:
        return self.kv.capacity

    @property
    def max_len(self) -> int:
        return self.kv.max_len

    @property
    def version(self) -> int:
        """Changes whenever a cache tensor is replaced (`models.gpt2.KVCache.version`)."""
        return self.kv.version

    def reserve(self, length: int) -> bool:
        """Room for positions [0, length) in every slot; True when the capacity grew (new tensors)."""
        return self.kv.reserve(length)

    def _prefix(self, embeds: torch.Tensor) -> list[torch.Tensor] | None:
        for rows, tensors in self._prefixes:
            if rows.shape == embeds.shape and torch.equal(rows, embeds):
                return tensors
        return None

    def has_prefix(self, embeds: torch.Tensor) -> bool:
        return self._prefix(embeds) is not None

    def keep_prefix(self, slot: int, embeds: torch.Tensor) -> None:
        """Remember the keys/values of slot positions [0, len(embeds)), computed from the prompt rows `embeds`."""
        if self.has_prefix(embeds):
            return
        n = embeds.shape[0]
        self._prefixes.append((embeds.clone(), [layer[slot, :, :, :n].clone() for layer in self.layers]))
        del self._prefixes[:-MAX_PREFIXES]

    def clear_prefixes(self) -> None:
        self._prefixes.clear()

    def restore_prefix(self, slots: list[int], embeds: torch.Tensor) -> bool:
        """Copy a kept prefix of these prompt rows into every one of `slots`; False when none is kept."""
        tensors = self._prefix(embeds)
        if tensors is None:
            return False
        n = embeds.shape[0]
        index = device_tensor(slots, self.device)
        for layer, kept in zip(self.layers, tensors):
            layer[index, :, :, :n] = kept
        return True

    @property
    def num_free(self) -> int:
        return len(self._free)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.layers, self.seen))

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

    def mark_seen(self, slots: list[int], codes: torch.Tensor | list[int]) -> None:
        """Slot slots[i] has now seen code codes[i] (for the repetition penalty)."""
        codes = torch.as_tensor(codes, device=self.device)
        span = row_span(slots)
        if span is not None:
            self.seen[span].scatter_(1, codes.unsqueeze(1), True)
        else:
            self.seen[device_tensor(slots, self.device), codes] = True

    def lowest_free(self) -> int | None:
        return self._free[0] if self._free else None

    def move(self, src: int, dst: int, length: int) -> None:
        """Move an allocated slot's first `length` positions (and seen ids) to the free slot `dst` (copied before
        the slots change hands, so a copy that fails leaves both where they were)."""
        self.kv.copy_rows(src, dst, length)
        self.seen[dst] = self.seen[src]
        self._free.remove(dst)
        heapq.heapify(self._free)
        self.free(src)

    def copy(self, src: list[int], dst: list[int], length: int, start: int = 0) -> None:
        """Allocated slots `dst` become copies of slots `src` (positions [start, length) - the slots already
        agree on those before `start` - and seen ids), all read before any is written: beam search continues
        its beams from other beams' slots."""
        if src != dst:
            src_index, dst_index = device_tensor([src, dst], self.device)      # one copy to the device
            self.kv.copy_rows(src_index, dst_index, length, start)
            self.seen[dst_index] = self.seen[src_index]
