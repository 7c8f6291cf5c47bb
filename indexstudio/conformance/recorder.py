"""Capture an end-to-end run's intermediate tensors under the golden data's names.

Engines report each stage as `trace(step, **tensors)`; the recorder stores
them as `<step>#<k>.<field>` (k counts the calls of that step), and hands out
recorded CFM noise in call order so sampling starts from the reference noise.

Where the official code runs a step twice for one result (IndexTTS-2.5 loads
the speaker audio and computes its w2v-BERT features twice), the case's
`call_order` is given: each trace then takes the number of the next call of
that step in the official order, after the previous trace's place, so the
repeats we skip keep their numbers.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch


class Recorder:
    def __init__(self, inputs: dict[str, torch.Tensor] | None = None, noise_step: str = "cfm_inference",
                 call_order: list[str] | None = None):
        self.outputs: dict[str, Any] = {}
        self._calls: dict[str, int] = defaultdict(int)
        self._order = [entry.rpartition("#") for entry in call_order or []]
        self._place = 0
        self._inputs = inputs or {}
        self._noise_step = noise_step
        self._noise_calls = 0

    def __call__(self, step: str, **tensors: Any) -> None:
        k = self._number(step)
        for field, value in tensors.items():
            key = f"{step}.{field}" if step == "final" else f"{step}#{k}.{field}"
            self.outputs[key] = value.detach().cpu() if isinstance(value, torch.Tensor) else value

    def _number(self, step: str) -> int:
        if self._order:
            for place in range(self._place, len(self._order)):
                name, _, number = self._order[place]
                if name == step:
                    self._place = place + 1
                    return int(number)
            raise KeyError(f"step {step!r} is not in the case's call order after place {self._place}")
        k = self._calls[step]
        self._calls[step] += 1
        return k

    def noise(self, shape: tuple[int, ...]) -> torch.Tensor:
        """The recorded noise of the next sampler call; its shape must be the one asked for."""
        key = f"{self._noise_step}#{self._noise_calls}.noise"
        self._noise_calls += 1
        if key not in self._inputs:
            raise KeyError(f"the case has no recorded noise {key}")
        noise = self._inputs[key]
        if tuple(noise.shape) != tuple(shape):
            raise ValueError(f"{key}: recorded noise has shape {tuple(noise.shape)}, the run asks for {tuple(shape)}")
        return noise
