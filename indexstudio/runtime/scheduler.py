"""Continuous batching: a waiting queue and a running set bounded by the cache's slots.

Every step is either a prefill of newly admitted sequences (whenever the
first waiting one finds its slots free - one per beam - ; together at most
`max_prefill_tokens` prompt positions, or one prompt) or one decode step of all
running sequences.  A sequence leaves as soon as it finishes and its slots go
to the next waiting one at the following step.  Before a decode step the
running sequences' slots are packed into [0, n) (row i of the batch is slot i).
"""
from __future__ import annotations

from collections import deque

from indexstudio.runtime.kv_cache import SlotCache
from indexstudio.runtime.sequence import Sequence, SequenceStatus


class Scheduler:
    def __init__(self, cache: SlotCache, max_prefill_tokens: int = 1024):
        self.cache, self.max_prefill_tokens = cache, max_prefill_tokens
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []

    def add(self, seq: Sequence) -> None:
        seq.status = SequenceStatus.WAITING
        self.waiting.append(seq)

    @property
    def is_idle(self) -> bool:
        return not self.waiting and not self.running

    @property
    def can_admit(self) -> bool:
        """The first waiting sequence finds its slots free."""
        return bool(self.waiting) and self.cache.num_free >= self.waiting[0].num_rows

    def schedule(self) -> tuple[list[Sequence], bool]:
        """(sequences, is_prefill): the newly admitted ones, else every running one."""
        admitted, tokens = [], 0
        while self.can_admit:
            tokens += self.waiting[0].prompt_len
            if admitted and tokens > self.max_prefill_tokens:
                break
            seq = self.waiting[0]
            seq.slots = self._allocate(seq)
            self.waiting.popleft()
            seq.status = SequenceStatus.RUNNING
            self.running.append(seq)
            admitted.append(seq)
        if admitted:
            return admitted, True
        self._pack()
        return self.running, False

    def _allocate(self, seq: Sequence) -> list[int]:
        """A slot per row of `seq`; all or none (an allocation that fails gives back those it took)."""
        slots: list[int] = []
        try:
            for _ in range(seq.num_rows):
                slots.append(self.cache.allocate(seq.input_ids))
        except BaseException:
            for slot in slots:
                self.cache.free(slot)
            raise
        return slots

    def finish(self, seq: Sequence) -> None:
        self.running.remove(seq)
        for slot in seq.slots:
            self.cache.free(slot)
        seq.slots = []

    def abort(self, seq: Sequence) -> None:
        """Take an unfinished sequence out of the queue or the running set (freeing its slots)."""
        if seq in self.waiting:
            self.waiting.remove(seq)
        elif seq in self.running:
            self.finish(seq)
        seq.status = SequenceStatus.FINISHED

    def _pack(self) -> None:
        """Move the highest running slots into lower free ones until slots [0, n) are the running ones."""
        owner = {slot: (seq, row) for seq in self.running for row, slot in enumerate(seq.slots)}
        while owner:
            hole, last = self.cache.lowest_free(), max(owner)
            if hole is None or hole > last:
                break
            seq, row = owner.pop(last)
            self.cache.move(last, hole, seq.cached_len)
            seq.slots[row] = hole
            owner[hole] = seq, row
