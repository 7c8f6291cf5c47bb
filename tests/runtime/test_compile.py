"""`device.compile_for` on a CPU: the weights are frozen into the graph, its products run on pre-packed weights."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import profile

from indexstudio.runtime.device import compile_for, compile_unavailable

CPU = torch.device("cpu")


def test_cpu_compile_freezes_the_weights_into_packed_products() -> None:
    """Without freezing inductor leaves a linear layer a plain `aten::addmm` (what torch.compile's
    `options={"freezing": True}` got in torch 2.13): 0.85x the eager step on an AMD EPYC."""
    if compile_unavailable(CPU):
        pytest.skip(compile_unavailable(CPU))
    linear = nn.Linear(64, 96).eval()
    step = compile_for(lambda x: F.gelu(linear(x)), CPU)
    with torch.inference_mode():
        x = torch.randn(3, 64)
        step(x)
        with profile() as prof:
            got = step(x)
        expected = F.gelu(linear(x))
    ops = {event.key for event in prof.key_averages()}
    assert "aten::addmm" not in ops and ops & {"mkldnn::_linear_pointwise", "mkl::_mkl_linear"}, sorted(ops)
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch._inductor.config.freezing          # switched on around the calls only


class _Runner:
    def __init__(self, linear: nn.Linear):
        self.linear = linear

    def step(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) * 2


def test_frozen_weights_stay_with_their_model() -> None:
    """Runners of two models of one shape share the step's code (as two decode engines share
    `ModelRunner.step`): each is computed with its own frozen weights, not the first one's."""
    if compile_unavailable(CPU):
        pytest.skip(compile_unavailable(CPU))
    first, second = _Runner(nn.Linear(32, 48).eval()), _Runner(nn.Linear(32, 48).eval())
    steps = compile_for(_Runner.step, CPU), compile_for(_Runner.step, CPU)
    with torch.inference_mode():
        x = torch.randn(3, 32)
        for step in steps:
            for runner in (first, second):
                assert torch.allclose(step(runner, x), runner.step(x), atol=1e-5)
