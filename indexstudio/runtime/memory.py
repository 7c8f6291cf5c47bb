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
    """Runs a stage over items in batches of at most `size` (None: all at once); a batch that runs out of
    memory is run again in halves, and `size` stays halved for later calls.  Only for stages whose items
    come out as if run alone.  A single item that does not fit raises."""

    def __init__(self, what: str, size: int | None = None):
        self.what, self.size = what, size

    def run(self, stage: Callable[[Sequence[Item]], list[Result]], items: Sequence[Item]) -> list[Result]:
        results: list[Result] = []
        first = 0
        while first < len(items):
            size = len(items) - first if self.size is None else min(self.size, len(items) - first)
            try:
                results.extend(stage(items[first:first + size]))
            except Exception as exc:
                if size == 1 or not is_out_of_memory(exc):
                    raise
                release_cached_memory()
                self.size = size // 2
                log.warning("%s ran out of memory with %d segments at a time; going on with %d",
                            self.what, size, self.size)
                continue
            first += size
        return results
