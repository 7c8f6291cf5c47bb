"""Batched stages that give way when the device runs out of memory.

The flow matching and the vocoder run several segments as one padded batch,
and every segment comes out as if run alone: the batch size changes speed and
memory, never the audio.  So when a batch does not fit (a long segment on a
small GPU), `MemoryBoundBatches` runs it again in halves and keeps the smaller
size for the rest of the job, instead of failing a book part way.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence, TypeVar

import torch

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeError other backends raise when an allocation fails."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    message = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message)


def release_cached_memory() -> None:
    """Give the caching allocators' free blocks back, so that a smaller batch finds room."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        torch.xpu.empty_cache()
    if torch.backends.mps.is_available():
        torch.mps.empty_cache()


class MemoryBoundBatches:
    """A stage's batch size that gives way to the memory there is: at most `size` items at a time (None:
    all at once); a batch that runs out of memory is run again in halves, and the size stays halved for
    later calls.  Only for stages whose items come out as if run alone."""

    def __init__(self, what: str, unit: str = "segments"):
        self.what, self.unit = what, unit
        self.size: int | None = None

    def cap(self, size: int) -> int:
        """`size`, or less when this stage ran out of memory before."""
        return size if self.size is None else min(size, self.size)

    def give_way(self, exc: BaseException, size: int, least: int = 1) -> bool:
        """After `exc` with `size` items at a time: True when it was running out of memory and the size
        could shrink (it is halved, not below `least`, and the allocators' cache emptied); False: the
        caller re-raises."""
        if size <= least or not (is_out_of_memory(exc) or is_out_of_memory(exc.__cause__)):
            return False
        release_cached_memory()
        self.size = max(size // 2, least)
        log.warning("%s ran out of memory with %d %s at a time; going on with %d",
                    self.what, size, self.unit, self.size)
        return True

    def run(self, stage: Callable[[Sequence[Item]], list[Result]], items: Sequence[Item]) -> list[Result]:
        """stage(items), in batches that fit."""
        results: list[Result] = []
        first = 0
        while first < len(items):
            size = self.cap(len(items) - first)
            try:
                results.extend(stage(items[first:first + size]))
            except Exception as exc:
                if not self.give_way(exc, size):
                    raise
                continue
            first += size
        return results
