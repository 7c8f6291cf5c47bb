"""MemoryBoundBatches: a batch that runs out of memory goes on in halves, and later calls keep the smaller size."""
import logging

import pytest
import torch

from indexstudio.runtime.memory import MemoryBoundBatches, is_out_of_memory


def stage_fitting(limit: int, calls: list[int]):
    """A batched stage (doubles its items) that runs out of memory above `limit` items, recording each call."""
    def stage(items):
        calls.append(len(items))
        if len(items) > limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory: {len(items)} items (injected)")
        return [2 * item for item in items]
    return stage


def test_a_batch_that_does_not_fit_goes_on_in_halves_and_stays_halved(caplog) -> None:
    batches, calls = MemoryBoundBatches("flow matching"), []
    with caplog.at_level(logging.WARNING):
        assert batches.run(stage_fitting(2, calls), list(range(7))) == [2 * i for i in range(7)]
    assert calls == [7, 3] + [1] * 7 and batches.size == 1
    assert "flow matching ran out of memory with 7 segments at a time; going on with 3" in caplog.text
    calls.clear()
    assert batches.run(stage_fitting(2, calls), [5, 6, 7]) == [10, 12, 14]
    assert calls == [1, 1, 1]                    # the smaller size holds for later calls: no new failures


def test_a_size_that_fits_is_used_as_given_and_other_errors_pass_through() -> None:
    batches, calls = MemoryBoundBatches("the vocoder"), []
    batches.size = 3
    assert batches.run(stage_fitting(3, calls), list(range(8))) == [2 * i for i in range(8)]
    assert calls == [3, 3, 2] and batches.size == 3
    with pytest.raises(torch.OutOfMemoryError):
        MemoryBoundBatches("the vocoder").run(stage_fitting(0, []), [1, 2])     # one item alone does not fit

    def broken(items):
        raise ValueError("not a memory problem")
    with pytest.raises(ValueError):
        MemoryBoundBatches("x").run(broken, [1, 2, 3])
    beams = MemoryBoundBatches("GPT decoding", "rows")
    oom = torch.OutOfMemoryError("CUDA out of memory (injected)")
    assert beams.give_way(oom, 12, least=3) and beams.size == 6 and beams.cap(18) == 6 and beams.cap(4) == 4
    assert beams.give_way(oom, 5, least=3) and beams.size == 3
    assert not beams.give_way(oom, 3, least=3)                          # a beam search's rows stay together
    wrapped = RuntimeError("a shared step failed")
    wrapped.__cause__ = oom
    assert beams.give_way(wrapped, 4, least=1) and not beams.give_way(ValueError("no"), 4)
    assert is_out_of_memory(RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory: you tried"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
